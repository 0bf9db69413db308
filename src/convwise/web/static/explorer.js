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
  $("#shape-hint").textContent = d.ndim === 2 ? "(channels × height × width)" : "(channels × length)";
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
  document.addEventListener("keydown", (event) => {  // arrow keys step the window when no control has focus
    if (event.target.closest && event.target.closest("input, select, textarea")) return;
    if (event.key === "ArrowRight") setStep(S.step + 1);
    else if (event.key === "ArrowLeft") setStep(S.step - 1);
  });
  const tab = applyQuery(location.search);
  setTab(tab === "network" ? "network" : "operation");
  update();
}

document.addEventListener("DOMContentLoaded", init);
