/* convwise explorer: the operation view. Every number comes from the JSON API (/api/explain). */
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));
const SVGNS = "http://www.w3.org/2000/svg";

const OP = {
  conv1d: ["conv", 1], conv2d: ["conv", 2], conv_transpose1d: ["conv_transpose", 1],
  conv_transpose2d: ["conv_transpose", 2], max_pool1d: ["max_pool", 1], max_pool2d: ["max_pool", 2],
  avg_pool1d: ["avg_pool", 1], avg_pool2d: ["avg_pool", 2],
};
const PAIRS = ["input_size", "kernel_size", "stride", "padding", "dilation", "output_padding"];

const S = {
  data: null, serial: 0, mode: "forward", tview: "zeros", step: 0, timer: null,
  hover: null, selected: null, outCh: 0, inCh: 0, inverse: null,
};

// ------------------------------------------------------------------ numbers and text

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "";
  if (v === -Infinity) return "−∞";
  if (Number.isInteger(v)) return v < 0 ? "−" + (-v) : String(v);
  const s = v.toFixed(2).replace(/0+$/, "").replace(/\.$/, "");
  return s.startsWith("-") ? "−" + s.slice(1) : s;
}
const par = (v) => (v < 0 ? "(" + fmt(v) + ")" : fmt(v));
const big = (n) => n.toLocaleString("en-US");
const at = (arr, idx) => idx.reduce((a, i) => a[i], arr);
const key = (idx) => idx.join(",");
const el = (tag, attrs = {}, text) => {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
};

// ------------------------------------------------------------------ controls <-> request <-> URL

function kindOf(op) { return OP[op][0]; }
function ndimOf(op) { return OP[op][1]; }

function readPair(name, ndim) {
  const values = [];
  for (let d = 0; d < ndim; d++) {
    const raw = $(`#${name}-${d}`).value.trim();
    values.push(raw === "" ? null : Number(raw));
  }
  return values;
}

function readRequest() {
  const op = $("#op").value;
  const kind = kindOf(op), ndim = ndimOf(op);
  const req = { op, input_size: readPair("input_size", ndim), kernel_size: readPair("kernel_size", ndim) };
  const stride = readPair("stride", ndim);
  req.stride = stride.every((v) => v === null) && kind.endsWith("pool") ? null : stride;
  const mode = $("#padding-mode").value;
  req.padding = mode === "number" ? readPair("padding", ndim) : mode;
  req.dilation = kind === "avg_pool" ? 1 : readPair("dilation", ndim);
  req.in_channels = Number($("#in_channels").value);
  if (kind.startsWith("conv")) {
    req.out_channels = Number($("#out_channels").value);
    req.groups = Number($("#groups").value);
  }
  if (kind === "conv_transpose") req.output_padding = readPair("output_padding", ndim);
  if (kind.endsWith("pool")) req.ceil_mode = $("#ceil_mode").checked;
  if (kind === "avg_pool") req.count_include_pad = $("#count_include_pad").checked;
  return req;
}

function show(v) {
  if (Array.isArray(v)) return v.every((x) => x === v[0]) ? String(v[0]) : v.join("x");
  return String(v);
}

function toQuery(req) {
  const q = new URLSearchParams();
  q.set("op", req.op);
  q.set("input_size", req.input_size.join("x"));
  q.set("kernel_size", show(req.kernel_size));
  const defaults = { stride: "1", padding: "0", dilation: "1", groups: "1", output_padding: "0", in_channels: "1",
                     out_channels: String(req.in_channels), ceil_mode: "false", count_include_pad: "true" };
  for (const name of ["in_channels", "out_channels", "stride", "padding", "dilation", "groups", "output_padding",
                      "ceil_mode", "count_include_pad"]) {
    if (req[name] === undefined || req[name] === null) continue;
    const text = show(req[name]);
    if (text !== defaults[name]) q.set(name, text);
  }
  if (S.mode !== "forward") q.set("view", S.mode);
  const current = new URLSearchParams(location.search);
  for (const name of ["tab", "model"]) if (current.has(name)) q.set(name, current.get(name));
  if (S.tview !== "zeros" && kindOf(req.op) === "conv_transpose") q.set("transposed_view", S.tview);
  return q.toString();
}

function setPair(name, text) {
  const parts = String(text).split(/[x×,]/).map((s) => s.trim());
  $(`#${name}-0`).value = parts[0];
  $(`#${name}-1`).value = parts.length > 1 ? parts[1] : parts[0];
}

function applyQuery(search) {
  const q = new URLSearchParams(search);
  if (q.has("op") && OP[q.get("op")]) $("#op").value = q.get("op");
  for (const name of ["input_size", "kernel_size", "stride", "dilation", "output_padding"]) {
    if (q.has(name)) setPair(name, q.get(name));
  }
  if (!q.has("stride") && kindOf($("#op").value).endsWith("pool")) { setPair("stride", ""); }
  if (q.has("padding")) {
    const p = q.get("padding");
    if (p === "same" || p === "valid") $("#padding-mode").value = p;
    else { $("#padding-mode").value = "number"; setPair("padding", p); }
  }
  if (q.has("in_channels")) $("#in_channels").value = q.get("in_channels");
  $("#out_channels").value = q.has("out_channels") ? q.get("out_channels") : $("#in_channels").value;
  syncGroups();
  if (q.has("groups")) { $("#groups").max = Math.max(Number($("#groups").max), Number(q.get("groups"))); $("#groups").value = q.get("groups"); }
  if (q.has("ceil_mode")) $("#ceil_mode").checked = q.get("ceil_mode") === "true";
  if (q.has("count_include_pad")) $("#count_include_pad").checked = q.get("count_include_pad") !== "false";
  if (q.get("view") === "backward") S.mode = "backward";
  if (q.get("transposed_view") === "stamp") S.tview = "stamp";
  return q.get("tab");
}

function syncGroups() {
  const slider = $("#groups");
  const cin = Math.max(1, Number($("#in_channels").value) || 1);
  slider.max = String(Math.min(cin, 64));
  if (Number(slider.value) > cin) slider.value = String(cin);
  $("#groups-shown").textContent = slider.value;
  const g = Number(slider.value);
  $("#groups-hint").textContent = g === 1 ? "(every output reads every input channel)"
    : g === cin ? "(depthwise: one input channel each)" : `(${g} groups)`;
}

function syncVisibility() {
  const op = $("#op").value;
  document.body.dataset.kind = kindOf(op);
  document.body.dataset.ndim = String(ndimOf(op));
  $(".dims-hint").textContent = ndimOf(op) === 1 ? "L" : "H × W";
  if (kindOf(op) !== "conv" && $("#padding-mode").value !== "number") $("#padding-mode").value = "number";
  $$("#padding-0, #padding-1").forEach((n) => { n.disabled = $("#padding-mode").value !== "number"; });
  if (!kindOf(op).startsWith("conv") && S.mode === "backward") S.mode = "forward";
}

// ------------------------------------------------------------------ talking to the API

async function post(path, body) {
  const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                       body: JSON.stringify(body) });
  let data = null;
  try { data = await response.json(); } catch (e) { data = { detail: `the server answered ${response.status}` }; }
  return { ok: response.ok, status: response.status, data };
}

function clearErrors() {
  $$("#controls .error").forEach((n) => { n.textContent = ""; });
  $$("#controls .field").forEach((n) => n.classList.remove("invalid"));
}

function showError(message, field) {
  clearErrors();
  const target = field && $(`#controls .error[data-error-for="${field}"]`);
  const slot = target && target.closest(".field").offsetParent !== null ? target : $("#general-error");
  slot.textContent = message;
  if (target) target.closest(".field").classList.add("invalid");
  $("#result").classList.add("stale");
}

let pending = null;
function update() {
  syncVisibility();
  syncGroups();
  clearTimeout(pending);
  pending = setTimeout(refresh, 80);
}

async function refresh() {
  const req = readRequest();
  history.replaceState(null, "", "?" + toQuery(req));
  const serial = ++S.serial;
  const { ok, data } = await post("/api/explain", req);
  if (serial !== S.serial) return;
  if (!ok) { showError(data.detail || "invalid request", data.field); return; }
  clearErrors();
  $("#result").classList.remove("stale");
  S.data = data;
  S.request = req;
  S.selected = null;
  S.hover = null;
  S.outCh = Math.min(S.outCh, data.out_channels - 1);
  buildInverse();
  fillChannels();
  render(true);
}

function buildInverse() {
  S.inverse = new Map();
  const t = S.data.trace;
  if (!t) return;
  t.steps.forEach((step, s) => {
    step.taps.forEach((tap) => {
      if (!tap.source) return;
      const k = key(tap.source);
      if (!S.inverse.has(k)) S.inverse.set(k, []);
      S.inverse.get(k).push({ step: s, tap });
    });
  });
}

function fillChannels() {
  const d = S.data;
  if (!d.channels) return;
  const outSel = $("#out-channel"), inSel = $("#in-channel");
  outSel.replaceChildren(...Array.from({ length: d.out_channels }, (_, c) => el("option", { value: c }, String(c))));
  outSel.value = String(S.outCh);
  const group = d.channels[S.outCh];
  if (!group.includes(S.inCh)) S.inCh = group[0];
  inSel.replaceChildren(...group.map((c) => el("option", { value: c }, String(c))));
  inSel.value = String(S.inCh);
  $$(".chan").forEach((n) => { n.hidden = d.in_channels === 1 && d.out_channels === 1; });
}

// ------------------------------------------------------------------ headline, formula, stats, code

function renderText() {
  const d = S.data;
  const shapeText = (s) => s.join(" × ");
  $("#shapes").replaceChildren(
    el("span", { class: "in-label" }, "input " + shapeText(d.input_shape.slice(1))), " → ",
    el("span", { class: "out-label", id: "output-size" }, "output " + shapeText(d.output_shape.slice(1))));
  $("#formula").replaceChildren(...d.formula.map((line, i) => el("div", { class: "formula-line" },
    (d.ndim === 2 ? ["H: ", "W: "][i] : "L: ") + line)));
  const rf = d.receptive_field;
  const items = [["parameters", big(d.params)], [d.kind.endsWith("pool") ? "window reads" : "MACs", big(d.macs)], ["output positions", big(d.steps)],
                 ["receptive field", rf ? rf.size.join(" × ") + " (jump " + rf.jump.join(" × ") + ")" : "— (transposed)"],
                 ["weight", d.weight_shape ? d.weight_shape.join(" × ") : "none"]];
  $("#stats").replaceChildren(...items.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const notes = [];
  if (d.uncovered) {
    const names = d.ndim === 2 ? ["rows", "columns"] : ["cells"];
    const listed = d.uncovered.cells || d.uncovered.trailing;
    listed.forEach((cells, i) => {
      if (!cells.length) return;
      const trailing = d.uncovered.trailing[i];
      const shown = cells.length > 12 ? cells.slice(0, 12).join(", ") + `, … (${cells.length} in all)` : cells.join(", ");
      notes.push(`Input ${names[i]} ${shown} ${cells.length === 1 ? "is" : "are"} never read by any window` +
        (trailing.length ? ` (${trailing.length} at the end: the last window stops short)` : "") + ".");
    });
  }
  if (d.kind === "conv_transpose") {
    notes.push(`Transposed convolution = insert stride − 1 = ${show(d.stride.map((s) => s - 1))} zero(s) between neighbouring input cells ` +
      `(${d.input_size.join("×")} → ${d.stretched_size.join("×")}), pad by dilation·(k−1) − padding, then an ordinary ` +
      `stride-1 convolution with the flipped kernel. output_padding may be ${d.output_padding_range.map((r) => r[0] + "…" + r[1]).join(" × ")}.`);
  }
  $("#notes").replaceChildren(...notes.map((n) => el("div", { class: "note uncovered" }, n)));
  $("#not-drawn").textContent = d.not_drawn || "";
  $("#not-drawn").hidden = !d.not_drawn;
  $("#code-convwise").textContent = d.code.convwise;
  $("#code-pytorch").textContent = d.code.pytorch;
}

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
  $("#detail").replaceChildren(el("div", { class: "detail-title" },
    `input x[${idx.join(", ")}] = ${fmt(x)} stamps the kernel (scaled by ${fmt(x)}) onto ${uses.length} output cells`),
    ...terms.map((l) => el("div", { class: "product" }, l)));
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

// ------------------------------------------------------------------ player

function syncStep() {
  const n = stepCount();
  $("#step").max = String(Math.max(0, n - 1));
  $("#step").value = String(S.step);
  $("#step-label").textContent = n ? `step ${S.step + 1} / ${n}` : "";
}

function setStep(s) {
  const n = stepCount();
  if (!n) return;
  S.step = ((s % n) + n) % n;
  S.selected = null;
  syncStep();
  renderMarks();
}

function play() {
  if (S.timer) { clearInterval(S.timer); S.timer = null; $("#play").textContent = "▶ play"; return; }
  $("#play").textContent = "⏸ pause";
  S.timer = setInterval(() => setStep(S.step + 1), 700);
}

function render(fresh) {
  if (fresh && S.step >= stepCount()) S.step = 0;
  $$("#mode-seg button").forEach((b) => b.classList.toggle("on", b.dataset.mode === S.mode));
  $$("#tview-seg button").forEach((b) => b.classList.toggle("on", b.dataset.tview === S.tview));
  renderText();
  renderGrids();
  renderChannels();
  syncStep();
  renderMarks();
  $("#player").hidden = !S.data.trace || S.mode === "backward";
  for (const id of ["#modes", "#detail", "#channels-panel"]) $(id).hidden = !S.data.trace;
}

// ------------------------------------------------------------------ solver and GIF

async function solve() {
  const req = readRequest();
  const ndim = ndimOf(req.op);
  const body = { op: req.op, input_size: req.input_size, output_size: readPair("want", ndim), kernel_size: req.kernel_size };
  if (kindOf(req.op) !== "avg_pool") body.dilation = req.dilation;
  $("#solve-error").textContent = "";
  const { ok, data } = await post("/api/solve", body);
  const box = $("#solutions");
  if (!ok) { $("#solve-error").textContent = data.detail; box.replaceChildren(); return; }
  const same = ndim === 2 && JSON.stringify(data.settings[0]) === JSON.stringify(data.settings[1]);
  const dims = same ? [[0, 1]] : data.settings.map((_, i) => [i]);
  const names = ndim === 1 ? ["L"] : ["H", "W"];
  box.replaceChildren(...dims.map((which) => {
    const list = data.settings[which[0]];
    const div = el("div", { class: "solution-dim" });
    div.append(el("div", { class: "hint" }, (same ? "H and W" : names[which[0]]) + ": " +
      (list.length ? `${list.length} setting(s)` : `none with stride ≤ ${data.limits.stride}, padding ≤ ${data.limits.padding}`)));
    list.forEach((s) => {
      let label = `stride ${s.stride}, padding ${s.padding}`;
      if (kindOf(req.op) === "conv_transpose") label += `, output_padding ${s.output_padding}`;
      if (s.ceil_mode) label += ", ceil_mode";
      const button = el("button", { type: "button", class: "solution" }, label);
      button.addEventListener("click", () => applySetting(s, which));
      div.append(button);
    });
    return div;
  }));
}

function applySetting(s, which) {
  $("#padding-mode").value = "number";
  for (const d of which) {
    $(`#stride-${d}`).value = s.stride;
    $(`#padding-${d}`).value = s.padding;
    $(`#output_padding-${d}`).value = s.output_padding;
    if (ndimOf($("#op").value) === 1) { $(`#stride-1`).value = s.stride; $(`#padding-1`).value = s.padding; $(`#output_padding-1`).value = s.output_padding; }
  }
  $("#ceil_mode").checked = s.ceil_mode;
  update();
}

async function downloadGif() {
  const response = await fetch("/api/gif", { method: "POST", headers: { "Content-Type": "application/json" },
                                             body: JSON.stringify(readRequest()) });
  if (!response.ok) { const data = await response.json(); showError(data.detail, data.field); return; }
  const url = URL.createObjectURL(await response.blob());
  const a = el("a", { href: url, download: $("#op").value + ".gif" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

// ------------------------------------------------------------------ wiring

function setTab(name) {
  $("#view-operation").hidden = name !== "operation";
  $("#view-network").hidden = name !== "network";
  $$("nav .tab").forEach((b) => b.classList.toggle("on", b.dataset.view === name));
  if (name === "network" && window.convwiseNetwork) window.convwiseNetwork.show();
}

function init() {
  $$("#controls input, #controls select").forEach((n) => {
    if (n.closest("#solver")) return;
    n.addEventListener("input", update);
    n.addEventListener("change", update);
  });
  $("#op").addEventListener("change", () => {
    const kind = kindOf($("#op").value);
    if (kind.endsWith("pool")) { setPair("stride", ""); setPair("padding", "0"); }
    else if (!$("#stride-0").value) setPair("stride", "1");
    update();
  });
  $("#in_channels").addEventListener("input", () => { syncGroups(); });
  $$("#mode-seg button").forEach((b) => b.addEventListener("click", () => {
    S.mode = b.dataset.mode; S.selected = null;
    history.replaceState(null, "", "?" + toQuery(readRequest()));
    render(false);
  }));
  $$("#tview-seg button").forEach((b) => b.addEventListener("click", () => {
    S.tview = b.dataset.tview; S.step = 0; S.selected = null;
    history.replaceState(null, "", "?" + toQuery(readRequest()));
    render(true);
  }));
  $("#out-channel").addEventListener("change", () => { S.outCh = Number($("#out-channel").value); fillChannels(); render(false); });
  $("#in-channel").addEventListener("change", () => { S.inCh = Number($("#in-channel").value); render(false); });
  $("#first").addEventListener("click", () => setStep(0));
  $("#prev").addEventListener("click", () => setStep(S.step - 1));
  $("#next").addEventListener("click", () => setStep(S.step + 1));
  $("#play").addEventListener("click", play);
  $("#step").addEventListener("input", () => setStep(Number($("#step").value)));
  $("#solve").addEventListener("click", solve);
  $("#gif").addEventListener("click", downloadGif);
  $$("[data-copy]").forEach((b) => b.addEventListener("click", () => {
    navigator.clipboard && navigator.clipboard.writeText($("#" + b.dataset.copy).textContent);
    b.textContent = "copied"; setTimeout(() => { b.textContent = "copy"; }, 1200);
  }));
  $$("nav .tab").forEach((b) => b.addEventListener("click", () => {
    setTab(b.dataset.view);
    const q = new URLSearchParams(location.search);
    if (b.dataset.view === "network") q.set("tab", "network"); else q.delete("tab");
    history.replaceState(null, "", "?" + q.toString());
  }));
  const tab = applyQuery(location.search);
  setTab(tab === "network" ? "network" : "operation");
  update();
}

document.addEventListener("DOMContentLoaded", init);
