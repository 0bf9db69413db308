/* convwise explorer: the network view. Summaries, receptive fields and feature maps come from the API. */
"use strict";

(function () {
  const $ = (sel) => document.querySelector(sel);
  const N = { models: null, current: null, summary: null, posted: null, pad: null, picked: null };
  const SPATIAL = new Set(["conv", "conv_transpose", "max_pool", "avg_pool", "adaptive_avg_pool", "adaptive_max_pool"]);

  async function post(path, body) {
    const response = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                         body: JSON.stringify(body) });
    let data;
    try { data = await response.json(); } catch (e) { data = { detail: `the server answered ${response.status}` }; }
    return { ok: response.ok, data };
  }
  const big = (n) => n.toLocaleString("en-US");
  const node = (tag, attrs = {}, text) => {
    const n = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  };

  function source() {
    return N.posted ? { layers: N.posted.layers, input_shape: N.posted.input_shape } : { model: N.current };
  }

  async function show() {
    if (!N.models) {
      const response = await fetch("/api/models");
      N.models = await response.json();
      const select = $("#net-model");
      select.replaceChildren(...N.models.map((m) => node("option", { value: m.name },
        `${m.name} — ${m.description} (${m.input_shape.join("×")})` + (m.trained ? " ✓ trained" : ""))));
      const wanted = new URLSearchParams(location.search).get("model");
      select.value = N.models.some((m) => m.name === wanted) ? wanted : N.models[0].name;
      select.addEventListener("change", () => { N.posted = null; load(select.value); });
      $("#net-file").addEventListener("change", readFile);
      $("#pad-clear").addEventListener("click", () => { N.pad.fill(0); drawPad(); predict(); });
      setupPad();
    }
    load($("#net-model").value);
  }

  async function readFile(event) {
    const file = event.target.files[0];
    if (!file) return;
    $("#net-error").textContent = "";
    let data;
    try { data = JSON.parse(await file.text()); } catch (e) { $("#net-error").textContent = `${file.name} is not valid JSON: ${e.message}`; return; }
    const layers = Array.isArray(data) ? data : data.layers;
    const shape = Array.isArray(data) ? null : data.input_shape;
    if (!Array.isArray(layers) || !shape) {
      $("#net-error").textContent = `${file.name}: expected {"input_shape": [C, H, W], "layers": [...]}`;
      return;
    }
    N.posted = { layers, input_shape: shape, name: file.name };
    load(null);
  }

  async function load(name) {
    N.current = name;
    if (name) {
      const q = new URLSearchParams(location.search);
      q.set("tab", "network"); q.set("model", name);
      history.replaceState(null, "", "?" + q.toString());
    }
    const { ok, data } = await post("/api/network", source());
    if (!ok) { $("#net-error").textContent = data.detail; return; }
    $("#net-error").textContent = "";
    N.summary = data;
    N.picked = null;
    renderTable();
    renderMaps();
    $("#rf-info").textContent = "";
    const trained = !N.posted && N.models.find((m) => m.name === name && m.trained);
    $("#net-digit").hidden = !trained;
    if (trained) predict();
  }

  function renderTable() {
    const s = N.summary;
    const table = node("table", { class: "summary" });
    const head = node("tr");
    for (const h of ["#", "layer", "output shape", "params", "MACs", "receptive field", "jump"]) head.append(node("th", {}, h));
    table.append(head);
    const input = node("tr");
    for (const v of ["", "input", s.input_shape.join(" × "), "", "", "1", "1"]) input.append(node("td", {}, v));
    table.append(input);
    s.layers.forEach((l) => {
      const tr = node("tr");
      for (const v of [l.index, l.name, l.output_shape.join(" × "), l.params ? big(l.params) : "", l.macs ? big(l.macs) : "",
                       l.rf_size ? l.rf_size.join(" × ") : "–", l.rf_jump ? l.rf_jump.join(" × ") : "–"]) tr.append(node("td", {}, String(v)));
      table.append(tr);
    });
    const total = node("tr", { class: "total" });
    for (const v of ["", "total", "", big(s.total_params), big(s.total_macs), "", ""]) total.append(node("td", {}, v));
    table.append(total);
    $("#net-summary").replaceChildren(table);
  }

  function scaleFor(h, w) { return Math.max(1, Math.min(16, Math.floor(168 / Math.max(h, w)))); }

  function mapCanvas(id, title, h, w, onClick) {
    const scale = scaleFor(h, w);
    const wrap = node("div", { class: "map" });
    const canvas = node("canvas", { width: w * scale, height: h * scale, id, "data-rows": h, "data-cols": w, "data-scale": scale });
    wrap.append(node("div", { class: "panel-title" }, title), canvas);
    if (onClick) {
      canvas.addEventListener("click", (event) => {
        const box = canvas.getBoundingClientRect();
        const c = Math.min(w - 1, Math.floor((event.clientX - box.left) / box.width * w));
        const r = Math.min(h - 1, Math.floor((event.clientY - box.top) / box.height * h));
        onClick(r, c);
      });
    }
    return wrap;
  }

  function paint(canvas, marks) {
    const ctx = canvas.getContext("2d");
    const h = Number(canvas.dataset.rows), w = Number(canvas.dataset.cols), s = Number(canvas.dataset.scale);
    ctx.fillStyle = "#dbe9f3";
    ctx.fillRect(0, 0, w * s, h * s);
    if (s >= 6 && Math.max(h, w) <= 64) {
      ctx.strokeStyle = "#9fb7c9";
      ctx.lineWidth = 1;
      for (let i = 0; i <= w; i++) { ctx.beginPath(); ctx.moveTo(i * s + 0.5, 0); ctx.lineTo(i * s + 0.5, h * s); ctx.stroke(); }
      for (let i = 0; i <= h; i++) { ctx.beginPath(); ctx.moveTo(0, i * s + 0.5); ctx.lineTo(w * s, i * s + 0.5); ctx.stroke(); }
    }
    for (const m of marks || []) {
      ctx.fillStyle = m.color;
      ctx.globalAlpha = m.alpha || 1;
      ctx.fillRect(m.c0 * s, m.r0 * s, (m.c1 - m.c0 + 1) * s, (m.r1 - m.r0 + 1) * s);
      ctx.globalAlpha = 1;
      ctx.strokeStyle = "#7a3b00";
      ctx.strokeRect(m.c0 * s + 0.5, m.r0 * s + 0.5, (m.c1 - m.c0 + 1) * s - 1, (m.r1 - m.r0 + 1) * s - 1);
    }
  }

  function renderMaps() {
    const s = N.summary, box = $("#net-maps");
    const maps = [];
    if (s.input_shape.length === 3) {
      const [c, h, w] = s.input_shape;
      maps.push(mapCanvas("map-input", `input ${c}×${h}×${w}`, h, w, null));
    }
    s.layers.forEach((l) => {
      if (!(SPATIAL.has(l.type) || (s.onnx && l.rf_size)) || l.output_shape.length !== 3) return;
      const [c, h, w] = l.output_shape;
      maps.push(mapCanvas(`map-${l.index}`, `${l.index}: ${l.name} ${c}×${h}×${w}`, h, w, (r, col) => pick(l.index, r, col)));
    });
    box.replaceChildren(...maps);
    box.querySelectorAll("canvas").forEach((c) => paint(c, []));
  }

  async function pick(layer, r, c) {
    const { ok, data } = await post("/api/network/field", { ...source(), layer, unit: [r, c] });
    if (!ok) { $("#rf-info").textContent = data.detail; return; }
    N.picked = data;
    document.querySelectorAll("#net-maps canvas").forEach((cv) => paint(cv, []));
    for (const [index, [[a0, a1], [b0, b1]]] of Object.entries(data.maps)) {  // the window on earlier layers
      const canvas = $(`#map-${index}`);
      if (canvas) paint(canvas, [{ r0: a0, r1: a1, c0: b0, c1: b1, color: "#fdae6b", alpha: 0.8 }]);
    }
    paint($(`#map-${layer}`), [{ r0: r, r1: r, c0: c, c1: c, color: "#f28e2b" }]);
    const [[r0, r1], [c0, c1]] = data.clipped;
    paint($("#map-input"), [{ r0, r1, c0, c1, color: "#f28e2b", alpha: 0.75 }]);
    const [[wr0, wr1], [wc0, wc1]] = data.window;
    const cut = (wr0 !== r0 || wr1 !== r1 || wc0 !== c0 || wc1 !== c1) ? ` (the full ${data.size.join("×")} window reaches rows ${wr0}–${wr1}, columns ${wc0}–${wc1}, partly into the padding)` : "";
    $("#rf-info").textContent = `Layer ${layer}, unit (${r}, ${c}) sees input rows ${r0}–${r1}, columns ${c0}–${c1}: a receptive field of ${data.size.join(" × ")}${cut}.`;
  }

  // ---------------------------------------------------------------- the digit pad (trained models)

  function setupPad() {
    N.pad = new Float32Array(64);
    const canvas = $("#pad");
    let down = false;
    const paintAt = (event) => {
      const box = canvas.getBoundingClientRect();
      const x = (event.clientX - box.left) / box.width * 8, y = (event.clientY - box.top) / box.height * 8;
      for (let r = 0; r < 8; r++) {
        for (let c = 0; c < 8; c++) {
          const d = Math.hypot(r + 0.5 - y, c + 0.5 - x);
          N.pad[r * 8 + c] = Math.min(1, Math.max(N.pad[r * 8 + c], 1.2 - d));
        }
      }
      drawPad();
    };
    canvas.addEventListener("pointerdown", (e) => { down = true; canvas.setPointerCapture(e.pointerId); paintAt(e); });
    canvas.addEventListener("pointermove", (e) => { if (down) paintAt(e); });
    canvas.addEventListener("pointerup", () => { down = false; predict(); });
    drawPad();
  }

  function drawPad() {
    const canvas = $("#pad"), ctx = canvas.getContext("2d"), s = canvas.width / 8;
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) {
        const v = Math.round(255 * (1 - N.pad[r * 8 + c]));
        ctx.fillStyle = `rgb(${v},${v},${v})`;
        ctx.fillRect(c * s, r * s, s, s);
      }
    }
    ctx.strokeStyle = "#bbb";
    for (let i = 0; i <= 8; i++) { ctx.beginPath(); ctx.moveTo(i * s, 0); ctx.lineTo(i * s, 8 * s); ctx.moveTo(0, i * s); ctx.lineTo(8 * s, i * s); ctx.stroke(); }
  }

  async function predict() {
    const image = Array.from({ length: 8 }, (_, r) => Array.from(N.pad.slice(r * 8, r * 8 + 8)));
    const { ok, data } = await post("/api/network/forward", { model: N.current, image });
    if (!ok) { $("#net-error").textContent = data.detail; return; }
    $("#prediction").textContent = `prediction: ${data.prediction}`;
    const bars = data.probabilities.map((p, i) => {
      const row = node("div", { class: "bar-row" });
      const bar = node("span", { class: "bar" + (i === data.prediction ? " top" : "") });
      bar.style.width = `${Math.round(p * 160)}px`;
      row.append(node("span", { class: "bar-label" }, String(i)), bar, node("span", { class: "bar-value" }, (p * 100).toFixed(1) + "%"));
      return row;
    });
    $("#probabilities").replaceChildren(...bars);
    const features = data.layers.filter((l) => l.values && l.shape.length === 3).map((l) => {
      const wrap = node("div", { class: "feature-layer" });
      wrap.append(node("div", { class: "panel-title" }, `${l.index}: ${l.name} ${l.shape.join("×")}`));
      const flat = l.values.flat(2);
      const lo = Math.min(...flat), hi = Math.max(...flat);
      l.values.forEach((channel) => {
        const h = channel.length, w = channel[0].length, s = Math.max(4, Math.floor(48 / Math.max(h, w)));
        const cv = node("canvas", { width: w * s, height: h * s, class: "feature" });
        const ctx = cv.getContext("2d");
        channel.forEach((row, r) => row.forEach((v, c) => {
          const t = hi > lo ? (v - lo) / (hi - lo) : 0;
          const g = Math.round(255 * (1 - t));
          ctx.fillStyle = `rgb(${g},${g},${Math.min(255, g + 40)})`;
          ctx.fillRect(c * s, r * s, s, s);
        }));
        wrap.append(cv);
      });
      return wrap;
    });
    $("#features").replaceChildren(...features);
  }

  window.convwiseNetwork = { show };
})();
