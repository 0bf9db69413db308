/* convwise explorer: drawing the operation view (grids, windows, products, gradients).
   Loaded after explorer.js, whose state S and helpers ($, el, fmt, at, key, ...) it uses;
   every value drawn comes from the /api/explain answer in S.data. */
"use strict";

// ------------------------------------------------------------------ grids

function cellSize(rows, cols) {
  return Math.max(10, Math.min(40, Math.floor(360 / Math.max(rows, cols, 1))));
}

function gridSvg(name, rows, cols, cell, fill) {
  const svg = el("svg:svg", { width: cols * cell + 2, height: rows * cell + 2, class: "grid", "data-grid": name });
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const g = el("svg:g", { "data-cell": r + "," + c });
      const rect = el("svg:rect", { x: c * cell + 1, y: r * cell + 1, width: cell, height: cell });
      g.appendChild(rect);
      const { cls, text } = fill(r, c);
      g.setAttribute("class", "cell " + cls);
      if (text !== "" && cell >= 20) {
        g.appendChild(el("svg:text", { x: c * cell + 1 + cell / 2, y: r * cell + 1 + cell / 2 + 4,
                                      "font-size": Math.min(13, cell * 0.42) }, text));
      }
      svg.appendChild(g);
    }
  }
  return svg;
}

const rc = (idx, ndim) => (ndim === 2 ? idx : [0, idx[0]]);      // an index as (row, col)
const dims = (size, ndim) => (ndim === 2 ? size : [1, size[0]]);  // a size as (rows, cols)
const fromRc = (r, c, ndim) => (ndim === 2 ? [r, c] : [c]);

function panel(title, svg, id) {
  const div = el("div", { class: "panel", id });
  div.append(el("div", { class: "panel-title" }, title), svg);
  return div;
}

function weightIndex(co, ci) {
  const d = S.data;
  if (d.kind === "conv_transpose") return [ci, co % (d.out_channels / d.groups)];
  return [co, ci % (d.in_channels / d.groups)];
}

function stampView() { return S.data.kind === "conv_transpose" && S.tview === "stamp"; }

function renderGrids() {
  const d = S.data, t = d.trace, v = d.values;
  const box = $("#drawing");
  if (!t) { box.replaceChildren(); return; }
  const nd = d.ndim, backward = S.mode === "backward";
  const [gr, gc] = dims(t.grid_size, nd);
  const ci = S.inCh, co = S.outCh;
  const panels = [];
  if (stampView()) {
    const [ir, ic] = dims(d.input_size, nd), [outR, outC] = dims(d.output_size, nd);
    const cell = cellSize(Math.max(ir, outR), Math.max(ic, outC));
    panels.push(panel(`input ${d.input_size.join("×")} (channel ${ci})`,
      gridSvg("input", ir, ic, cell, (r, c) => ({ cls: "input", text: fmt(at(v.input[ci], fromRc(r, c, nd))) })), "panel-input"));
  } else {
    const cell = cellSize(gr, gc);
    const padded = d.input_size.map((n, i) => n + d.padding[i][0] + d.padding[i][1]);
    const title = d.kind === "conv_transpose" ? `input ${d.input_size.join("×")}, zeros inserted and padded: ${t.grid_size.join("×")}`
      : `input ${d.input_size.join("×")}` + (padded.join() !== d.input_size.join() ? `, padded: ${padded.join("×")}` : "") +
        (padded.join() !== t.grid_size.join() ? ", + the overhang of the last window" : "");
    panels.push(panel(title + ` (channel ${ci})`, gridSvg("input", gr, gc, cell, (r, c) => {
      const flat = r * gc + c;
      const kind = d.grid.kinds[flat], src = d.grid.sources[flat];
      let text = "";
      if (kind === "input") text = fmt(at(v.input[ci], src));
      else if (kind === "zero" || (kind === "padding" && d.kind !== "max_pool")) text = "0";
      return { cls: kind, text };
    }), "panel-input"));
  }
  if (v.weight) {
    const [kr, kc] = dims(d.kernel_size, nd);
    const kcell = Math.max(24, Math.min(40, cellSize(kr, kc)));
    const [a, b] = weightIndex(co, ci);
    const title = (backward ? "kernel taps — click one for its weight gradient" : "kernel") +
      (d.in_channels > 1 || d.out_channels > 1 ? ` w[${a}, ${b}]` : "") + (d.kind === "conv_transpose" && !stampView() ? " (flipped)" : "");
    panels.push(panel(title, gridSvg("kernel", kr, kc, kcell, (r, c) => {
      let idx = fromRc(r, c, nd);
      if (d.kind === "conv_transpose" && !stampView()) idx = idx.map((x, i) => d.kernel_size[i] - 1 - x);
      return { cls: "weight", text: fmt(at(v.weight[a][b], idx)) };
    }), "panel-kernel"));
  }
  const [or_, oc] = dims(d.output_size, nd);
  const ocell = cellSize(Math.max(or_, gr), Math.max(oc, gc));
  const outValues = backward ? v.grad_output : v.output;
  panels.push(panel((backward ? "output gradient dL/dy" : "output") + ` ${d.output_size.join("×")} (channel ${co})`,
    gridSvg("output", or_, oc, Math.min(ocell, 40), (r, c) => ({ cls: "output", text: fmt(at(outValues[co], fromRc(r, c, nd))) })),
    "panel-output"));
  box.replaceChildren(...panels);
  if (d.kind !== "conv_transpose" || !stampView()) drawFootprintLegend(box);
  wireHover();
}

function drawFootprintLegend(box) {
  const legend = el("div", { class: "legend" });
  for (const [cls, text] of [["input", "input"], ["padding", "padding"], ["zero", "inserted zero"],
                             ["tap", "kernel tap"], ["gap", "dilation gap (skipped)"], ["outside", "past the input (ceil_mode's last window)"],
                             ["current", "output being computed"]]) {
    if (cls === "zero" && S.data.kind !== "conv_transpose") continue;
    if (cls === "outside" && !S.data.grid.kinds.includes("outside")) continue;
    if (cls === "gap" && S.data.dilation.every((x) => x === 1)) continue;
    legend.append(el("span", { class: "swatch " + cls }), text + " ");
  }
  box.append(legend);
}

// ------------------------------------------------------------------ highlighting

function cellNode(grid, idx) {
  const [r, c] = rc(idx, S.data.ndim);
  return $(`#drawing svg[data-grid="${grid}"] g[data-cell="${r},${c}"]`);
}

function clearMarks() {
  $$("#drawing g.cell").forEach((g) => g.classList.remove("tap", "tap-pad", "current", "feeds", "gap", "done", "picked"));
  $$("#drawing .window").forEach((n) => n.remove());
}

function outlineWindow(step) {
  const d = S.data, t = d.trace;
  const svg = $('#drawing svg[data-grid="input"]');
  if (!svg) return;
  const taps = t.steps[step].taps;
  const first = rc(taps[0].grid, d.ndim), last = rc(taps[taps.length - 1].grid, d.ndim);
  const cell = Number(svg.querySelector("rect").getAttribute("width"));
  const rect = el("svg:rect", { x: first[1] * cell + 1, y: first[0] * cell + 1, width: (last[1] - first[1] + 1) * cell,
                                height: (last[0] - first[0] + 1) * cell, class: "window" });
  svg.appendChild(rect);
  // dilation gaps: cells inside the window that are not taps
  if (d.dilation.some((x) => x > 1)) {
    const taken = new Set(taps.map((tp) => key(rc(tp.grid, d.ndim))));
    for (let r = first[0]; r <= last[0]; r++) {
      for (let c = first[1]; c <= last[1]; c++) {
        if (!taken.has(r + "," + c)) {
          const g = svg.querySelector(`g[data-cell="${r},${c}"]`);
          if (g) g.classList.add("gap");
        }
      }
    }
  }
}

function markStep(step, progress) {
  const d = S.data, t = d.trace;
  t.steps[step].taps.forEach((tap) => {
    const g = cellNode("input", tap.grid);
    if (g) g.classList.add(tap.kind === "input" ? "tap" : "tap-pad");
  });
  outlineWindow(step);
  const out = cellNode("output", t.steps[step].output);
  if (out) out.classList.add("current");
  if (!progress) return;  // hovering shows one window; playing also shows the outputs done so far
  for (let s = 0; s < step; s++) { const g = cellNode("output", t.steps[s].output); if (g) g.classList.add("done"); }
}

function stepCount() {
  const d = S.data;
  if (!d || !d.trace) return 0;
  return stampView() ? d.values.input[0].flat(3).length : d.trace.steps.length;
}

function inputIndexOfStamp(n) {
  const d = S.data;
  if (d.ndim === 1) return [n];
  return [Math.floor(n / d.input_size[1]), n % d.input_size[1]];
}

function renderMarks() {
  const d = S.data;
  if (!d || !d.trace) { $("#detail").replaceChildren(); return; }
  clearMarks();
  const focus = S.hover || S.selected;
  if (S.mode === "backward") { renderBackward(focus); return; }
  if (stampView()) {
    const idx = focus && focus.grid === "input" ? focus.index : inputIndexOfStamp(S.step);
    stampMarks(idx);
    return;
  }
  if (focus && focus.grid === "input") {
    const g = cellNode("input", focus.grid === "input" ? focus.cell : null);
    if (g) g.classList.add("picked");
    const src = d.grid.sources[focus.flat];
    const uses = src ? S.inverse.get(key(src)) || [] : [];
    uses.forEach(({ step }) => { const o = cellNode("output", d.trace.steps[step].output); if (o) o.classList.add("feeds"); });
    $("#detail").replaceChildren(el("div", {}, src
      ? `Input cell x[${src.join(", ")}] feeds ${uses.length} output${uses.length === 1 ? "" : "s"}: ` +
        uses.map(({ step, tap }) => `y[${d.trace.steps[step].output.join(", ")}] (tap ${tap.weight.join(",")})`).join(", ")
      : `This is a ${d.grid.kinds[focus.flat]} cell: it holds no input value` +
        (d.grid.kinds[focus.flat] === "padding" && d.kind === "max_pool" ? " (max pooling pads with −∞)." : " (it counts as 0).")));
    return;
  }
  const hovering = focus && focus.grid === "output";
  const step = hovering ? focus.step : S.step;
  markStep(step, !hovering);
  $("#detail").replaceChildren(...products(step));
}

function products(step) {
  const d = S.data, t = d.trace, v = d.values;
  const out = t.steps[step].output, co = S.outCh;
  const y = at(v.output[co], out);
  const lines = [];
  if (d.kind.endsWith("pool")) {
    const vals = t.steps[step].taps.filter((tp) => tp.kind === "input").map((tp) => at(v.input[co], tp.source));
    if (d.kind === "max_pool") {
      lines.push(`y[${out.join(", ")}] = max(${vals.map(fmt).join(", ")}) = ${fmt(y)}`);
    } else {
      const counted = t.steps[step].taps.filter((tp) => tp.kind === "input" || (tp.kind === "padding" && t.count_include_pad)).length;
      lines.push(`y[${out.join(", ")}] = (${vals.map(par).join(" + ")}) / ${counted} = ${fmt(y)}`);
    }
  } else {
    const sums = [];
    for (const ci of d.channels[co]) {
      const [a, b] = weightIndex(co, ci);
      let sum = 0;
      const terms = [];
      t.steps[step].taps.forEach((tp) => {
        if (!tp.source) return;
        const x = at(v.input[ci], tp.source), w = at(v.weight[a][b], tp.weight);
        sum += x * w;
        terms.push(`${par(x)}·${par(w)}`);
      });
      sums.push(sum);
      if (ci === S.inCh || d.channels[co].length <= 4) {
        lines.push(`channel ${ci}: ${terms.length ? terms.join(" + ") : "(only padding)"} = ${fmt(sum)}`);
      }
    }
    const total = sums.reduce((a, b) => a + b, 0);
    lines.push(`y[${co}, ${out.join(", ")}] = ${sums.length > 1 ? sums.map(par).join(" + ") + " = " : ""}${fmt(total)}` +
      `   (convwise computed ${fmt(y)})`);
  }
  return [el("div", { class: "detail-title" }, `output position ${out.join(", ")}: the products and their sum`),
          ...lines.map((l) => el("div", { class: "product" }, l))];
}

function stampMarks(idx) {
  const d = S.data, v = d.values, co = S.outCh, ci = S.inCh;
  const g = cellNode("input", idx);
  if (g) g.classList.add("current");
  const uses = S.inverse.get(key(idx)) || [];
  const [a, b] = weightIndex(co, ci);
  const x = at(v.input[ci], idx);
  const terms = [];
  uses.forEach(({ step, tap }) => {
    const o = cellNode("output", d.trace.steps[step].output);
    if (o) o.classList.add("feeds");
    terms.push(`y[${d.trace.steps[step].output.join(", ")}] += ${par(x)}·${par(at(v.weight[a][b], tap.weight))}`);
  });
  const upto = d.ndim === 2 ? idx[0] * d.input_size[1] + idx[1] : idx[0];
  const total = runningStamps(upto);
  $("#detail").replaceChildren(el("div", { class: "detail-title" },
    `input x[${ci}, ${idx.join(", ")}] = ${fmt(x)} stamps the kernel (scaled by ${fmt(x)}) onto ${uses.length} output cells`),
    ...terms.map((l) => el("div", { class: "product" }, l)),
    el("div", { class: "hint" }, `The output shows the running sum after ${upto + 1} of ${total} input positions` +
      (d.channels[co].length > 1 ? " (every input channel of the group stamps at each position)" : "") +
      "; after the last one it is exactly what convwise computed."));
}

function runningStamps(upto) {
  // the output after the input cells 0..upto (row-major) have stamped their kernels
  const d = S.data, v = d.values, co = S.outCh, nd = d.ndim;
  const total = stepCount();
  const sums = new Map();
  for (let n = 0; n <= upto && n < total; n++) {
    const idx = inputIndexOfStamp(n);
    for (const ci of d.channels[co]) {
      const [a, b] = weightIndex(co, ci);
      const x = at(v.input[ci], idx);
      for (const { step, tap } of S.inverse.get(key(idx)) || []) {
        const k = key(d.trace.steps[step].output);
        sums.set(k, (sums.get(k) || 0) + x * at(v.weight[a][b], tap.weight));
      }
    }
  }
  $$('#drawing svg[data-grid="output"] g.cell').forEach((g) => {
    const [r, c] = g.dataset.cell.split(",").map(Number);
    const k = key(fromRc(r, c, nd));
    const text = g.querySelector("text");
    if (text) text.textContent = sums.has(k) ? fmt(sums.get(k)) : "";
    g.classList.toggle("done", sums.has(k));
  });
  return total;
}

function renderBackward(focus) {
  const d = S.data, t = d.trace, v = d.values, co = S.outCh, ci = S.inCh;
  if (!focus) {
    $("#detail").replaceChildren(el("div", { class: "detail-title" },
      "Backward: click (or hover) an input cell to see which output gradients flow into its gradient " +
      "(the input gradient is a transposed convolution), or a kernel tap to see the products that make its weight gradient."));
    return;
  }
  if (focus.grid === "kernel") {
    let tapIdx = focus.index;
    if (d.kind === "conv_transpose" && !stampView()) tapIdx = tapIdx.map((x, i) => d.kernel_size[i] - 1 - x);
    const g = cellNode("kernel", focus.index);
    if (g) g.classList.add("picked");
    const [a, b] = weightIndex(co, ci);
    const terms = [];
    let sum = 0;
    t.steps.forEach((step) => {
      const tap = step.taps.find((tp) => key(tp.weight) === key(tapIdx));
      if (!tap || !tap.source) return;
      const x = at(v.input[ci], tap.source), dy = at(v.grad_output[co], step.output);
      sum += x * dy;
      terms.push(`x[${tap.source.join(",")}]·dy[${step.output.join(",")}] = ${par(x)}·${par(dy)}`);
      const gi = cellNode("input", tap.grid); if (gi) gi.classList.add("tap");
      const go = cellNode("output", step.output); if (go) go.classList.add("feeds");
    });
    const gw = at(v.grad_weight[a][b], tapIdx);
    $("#detail").replaceChildren(el("div", { class: "detail-title" },
      `dL/dw[${a}, ${b}, ${tapIdx.join(", ")}] = Σ input · output gradient over every window position ` +
      `= ${fmt(sum)}   (convwise computed ${fmt(gw)})`), ...terms.map((l) => el("div", { class: "product" }, l)));
    return;
  }
  if (focus.grid === "input") {
    const src = stampView() ? focus.index : d.grid.sources[focus.flat];
    const gi = cellNode("input", stampView() ? focus.index : focus.cell);
    if (gi) gi.classList.add("picked");
    if (!src) { $("#detail").replaceChildren(el("div", {}, "Padding and inserted zeros have no gradient: pick a real input cell.")); return; }
    const uses = S.inverse.get(key(src)) || [];
    let total = 0;
    const lines = [];
    for (let o = 0; o < d.out_channels; o++) {
      if (!d.channels[o].includes(ci)) continue;
      const [a, b] = weightIndex(o, ci);
      let sum = 0;
      const terms = [];
      uses.forEach(({ step, tap }) => {
        const dy = at(v.grad_output[o], t.steps[step].output), w = at(v.weight[a][b], tap.weight);
        sum += dy * w;
        terms.push(`dy[${t.steps[step].output.join(",")}]·w[${tap.weight.join(",")}] = ${par(dy)}·${par(w)}`);
        if (o === co) { const g = cellNode("output", t.steps[step].output); if (g) g.classList.add("feeds"); }
      });
      total += sum;
      if (o === co || d.out_channels <= 4) lines.push(`from output channel ${o}: ${terms.join(" + ") || "nothing"} = ${fmt(sum)}`);
    }
    const gx = at(v.grad_input[ci], src);
    $("#detail").replaceChildren(el("div", { class: "detail-title" },
      `dL/dx[${ci}, ${src.join(", ")}] = Σ output gradient · weight over the ${uses.length} windows that read it ` +
      `= ${fmt(total)}   (convwise computed ${fmt(gx)})`), ...lines.map((l) => el("div", { class: "product" }, l)));
    return;
  }
  const g = cellNode("output", focus.index || t.steps[focus.step].output);
  if (g) g.classList.add("current");
  $("#detail").replaceChildren(el("div", {}, "Click an input cell or a kernel tap."));
}

function wireHover() {
  const d = S.data, nd = d.ndim;
  const outIndex = new Map(d.trace.steps.map((s, i) => [key(s.output), i]));
  $$("#drawing g.cell").forEach((g) => {
    const grid = g.closest("svg").dataset.grid;
    const [r, c] = g.dataset.cell.split(",").map(Number);
    const index = fromRc(r, c, nd);
    let focus;
    if (grid === "output") focus = { grid, index, step: outIndex.get(key(index)) };
    else if (grid === "input") {
      const cols = stampView() ? (nd === 2 ? d.input_size[1] : d.input_size[0]) : dims(d.trace.grid_size, nd)[1];
      focus = { grid, index, cell: index, flat: r * cols + c };
    } else focus = { grid, index };
    g.addEventListener("mouseenter", () => { S.hover = focus; renderMarks(); });
    g.addEventListener("mouseleave", () => { S.hover = null; renderMarks(); });
    g.addEventListener("click", () => {
      S.selected = focus;
      if (grid === "output" && focus.step !== undefined && !stampView()) { S.step = focus.step; syncStep(); }
      renderMarks();
    });
  });
}

// ------------------------------------------------------------------ channels panel (groups)

function renderChannels() {
  const d = S.data, box = $("#channels-panel");
  if (!d.channels || !d.kind.startsWith("conv") || (d.in_channels === 1 && d.out_channels === 1)) { box.replaceChildren(); return; }
  const h = 22, rows = Math.max(d.in_channels, d.out_channels);
  const svg = el("svg:svg", { width: 320, height: rows * h + 28, class: "channels" });
  svg.append(el("svg:text", { x: 10, y: 14 }, "input channels"), el("svg:text", { x: 210, y: 14 }, "output channels"));
  const y = (i) => 28 + i * h + h / 2;
  d.channels.forEach((ins, o) => {
    const group = Math.floor(o / (d.out_channels / d.groups));
    ins.forEach((i) => svg.append(el("svg:line", { x1: 90, y1: y(i), x2: 210, y2: y(o), class: `g${group % 8}` +
      (o === S.outCh ? " on" : "") })));
  });
  for (let i = 0; i < d.in_channels; i++) svg.append(el("svg:rect", { x: 40, y: y(i) - 8, width: 50, height: 16, class: "chan-box" }), el("svg:text", { x: 58, y: y(i) + 4 }, "in " + i));
  for (let o = 0; o < d.out_channels; o++) svg.append(el("svg:rect", { x: 210, y: y(o) - 8, width: 56, height: 16, class: "chan-box" + (o === S.outCh ? " on" : "") }), el("svg:text", { x: 222, y: y(o) + 4 }, "out " + o));
  box.replaceChildren(el("div", { class: "panel-title" },
    `groups = ${d.groups}: each output channel reads ${d.in_channels / d.groups} input channel(s) of its group`), svg);
}

