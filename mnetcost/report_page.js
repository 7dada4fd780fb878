// mnetcost report: the glue between the page's controls and its plots. It decodes the numbers mnetcost computed
// (gzip + base64, embedded in the page), and on every move of a slider or the convention selector it SELECTS that
// position's numbers and hands them to the plots' data sources. It computes no count: every number shown is one
// mnetcost computed; the only arithmetic here formats numbers for reading.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const meta = JSON.parse($("mnetcost-meta").textContent);
  let data = null;

  const UNITS = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
  function exact(n) { return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function human(n, unit) {  // mnetcost.render.human: one decimal and a unit
    for (const [scale, suffix] of UNITS) {
      if (Math.abs(n) >= scale) return (n / scale).toFixed(1) + " " + suffix + (unit || "");
    }
    return String(n) + (unit ? " " + unit : "");
  }
  function nearest(values, v) {
    let best = 0;
    for (let i = 1; i < values.length; i++) if (Math.abs(values[i] - v) < Math.abs(values[best] - v)) best = i;
    return best;
  }
  function text(id, value) { const el = $(id); if (el) el.textContent = value; }
  function model(name) { return Bokeh.documents[0].get_model_by_name(name); }
  function setData(name, columns) { const m = model(name); if (m) m.data = columns; }
  function column(rows, i) { return rows.map((row) => row[i]); }
  function repeat(value, n) { return Array.from({ length: n }, () => value); }

  async function decode() {
    if (typeof DecompressionStream === "undefined") {
      throw new Error("this browser cannot read the embedded numbers (it lacks DecompressionStream: Chrome 80+, " +
                      "Firefox 113+, Safari 16.4+)");
    }
    const raw = atob($("mnetcost-numbers").textContent.trim());
    const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return JSON.parse(await new Response(stream).text());
  }

  function position() {
    const ai = nearest(meta.alphas, Number($("alpha").value));
    const ri = nearest(meta.resolutions, Number($("resolution").value));
    return { ai, ri, conv: meta.conventions[Number($("convention").value)] };
  }

  function layers(d, ai, ri) {
    // the layers that exist at this width (an expansion as wide as its input has none, say), in network order
    const L = d.layers, present = d.present[ai], shown = [];
    for (let i = 0; i < present.length; i++) if (present[i]) shown.push(i);
    const pick = (values) => shown.map((i) => values[i]);
    const shape = (h, w, c, i) => h[ri][i] + "×" + w[ri][i] + "×" + c[ai][i];
    const bounds = shown.map((i) => (d.memory_bound ? (d.memory_bound[ai][ri][i] ? "memory" : "compute") : ""));
    const cols = {
      x: shown.map((_, k) => k), name: pick(L.name), op: pick(L.op), label: shown.map((i) => meta.labels[L.op[i]]),
      block: pick(L.block), color: shown.map((i) => meta.colors[L.op[i]]),
      shape_in: shown.map((i) => shape(d.h_in, d.w_in, d.c_in, i)),
      shape_out: shown.map((i) => shape(d.h_out, d.w_out, d.c_out, i)),
      macs: pick(d.macs[ai][ri]), params: pick(d.params[ai]), activations: pick(d.activations[ai][ri]),
      live_bytes: pick(d.live_bytes[ai][ri]), seconds: d.seconds ? pick(d.seconds[ai][ri]) : repeat(0, shown.length),
      bound: bounds, bound_color: bounds.map((b) => meta.bound_colors[b] || "#999"),
    };
    setData("layers", cols);
    const range = model("layer-range"); range.start = -1; range.end = shown.length;
    const p = d.peak_layer[ai][ri], x = Math.max(shown.indexOf(p), 0);
    const where = p < 0 ? "the input" : "the output of " + L.name[p];
    setData("peak", { x: [x], y: [cols.live_bytes[x]], text: ["peak (" + meta.schedule + "): " + where] });
    return [where, shown.length];
  }

  function totals(d, ai, ri, conv, [where, count]) {
    const t = d.totals, law = d.law;
    text("macs-exact", exact(t.macs[ai][ri])); text("macs-human", human(t.macs[ai][ri]));
    text("macs-law", human(law.macs[ai][ri]));
    text("params-exact", exact(t.params[ai])); text("params-human", human(t.params[ai]));
    text("params-law", human(law.params[ai]));
    text("activations-exact", exact(t.activations[ai][ri])); text("activations-human", human(t.activations[ai][ri]));
    text("peak-exact", exact(t.peak_bytes[ai][ri]) + " B"); text("peak-human", human(t.peak_bytes[ai][ri], "B"));
    text("peak-label", "peak memory (" + meta.schedule + " schedule, " + meta.dtype + ")");
    if (t.latency_us) {
      text("latency-exact", exact(Math.round(t.latency_us[ai][ri])) + " µs");
      text("latency-human", t.memory_bound_layers[ai][ri] + " of " + count + " layers memory-bound");
    }
    const a = meta.alphas[ai], r = meta.resolutions[ri];
    text("config-line", meta.model + " at α " + a + ", " + r + " px (ρ " + meta.rho[ri] + "), convention " + conv +
         ", " + d.classes + " classes");
    text("convention-note", "Convention " + conv + ": " + meta.notes[conv]);
    const at = meta.law[conv];
    text("law-note", "Dashed: the α²ρ² law, " + exact(at.macs) + " MACs and " + exact(at.params) +
         " parameters at α 1, " + at.resolution + " px, scaled by α²ρ² (MACs) and α² (parameters). Where the " +
         "exact curve leaves it: channel rounding, layers α does not scale (the stem's input, fixed heads), and " +
         "the classifier, whose MACs do not grow with ρ².");
    text("memory-note", "Peak memory under the " + meta.schedule + " schedule: " + exact(t.peak_bytes[ai][ri]) +
         " bytes (" + meta.dtype + "), at " + where + " (▼). The bars: what a layer-by-layer executor holds while " +
         "each layer runs (its inputs, its output and every tensor a later layer still needs); the tallest is the " +
         "peak of that (layerwise) schedule.");
    $("alpha").setAttribute("aria-valuetext", "alpha " + a);
    $("resolution").setAttribute("aria-valuetext", r + " pixels, rho " + meta.rho[ri]);
    text("alpha-value", String(a)); text("resolution-value", r + " px");
  }

  function curves(d, ai, ri) {
    const t = d.totals, law = d.law, nA = meta.alphas.length, nR = meta.resolutions.length;
    setData("by-alpha", { alpha: meta.alphas, macs: column(t.macs, ri), macs_law: column(law.macs, ri),
                          params: t.params, params_law: law.params });
    setData("by-resolution", { resolution: meta.resolutions, macs: t.macs[ai], macs_law: law.macs[ai],
                               params: repeat(t.params[ai], nR), params_law: repeat(law.params[ai], nR) });
    setData("selected-alpha", { alpha: [meta.alphas[ai]], macs: [t.macs[ai][ri]], params: [t.params[ai]] });
    setData("selected-resolution", { resolution: [meta.resolutions[ri]], macs: [t.macs[ai][ri]],
                                     params: [t.params[ai]] });
    return nA;
  }

  function shares(d, ai, ri) {
    const o = d.by_op, b = d.by_block;
    setData("by-op", { op: o.names, label: o.names.map((op) => meta.labels[op]), color: o.names.map((op) => meta.colors[op]),
                       macs: o.macs[ai][ri], params: o.params[ai], macs_share: o.macs_share[ai][ri],
                       params_share: o.params_share[ai] });
    setData("by-block", { x: b.names.map((_, i) => i), block: b.names, macs: b.macs[ai][ri], params: b.params[ai],
                          macs_share: b.macs_share[ai][ri], params_share: b.params_share[ai] });
  }

  function update() {
    const { ai, ri, conv } = position();
    const d = data[conv];
    const where = layers(d, ai, ri);
    totals(d, ai, ri, conv, where);
    curves(d, ai, ri);
    shares(d, ai, ri);
    document.body.dataset.position = meta.alphas[ai] + "," + meta.resolutions[ri] + "," + conv;
  }

  function whenBokeh(then) {
    if (window.Bokeh && Bokeh.documents && Bokeh.documents.length && model("layers")) then();
    else setTimeout(() => whenBokeh(then), 25);
  }

  decode().then((numbers) => {
    data = numbers;
    whenBokeh(() => {
      update();
      for (const id of ["alpha", "resolution"]) $(id).addEventListener("input", update);
      for (const id of ["alpha", "resolution", "convention"]) $(id).addEventListener("change", update);
      text("status", "");
      document.body.dataset.ready = "1";
    });
  }).catch((e) => { text("status", "This page could not load its numbers: " + e.message); });
})();
