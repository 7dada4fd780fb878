"""The interactive report as one self-contained HTML page, drawn with bokeh (imported here only, on first use):
BokehJS inlined (no network request when the page is opened), the library's numbers (``interactive.payload``)
embedded gzip-compressed, and a small glue script (``report_page.js``) that reads the sliders and the
convention selector and swaps the plots' data for the numbers of that position. Nothing is counted in the page.

Text from a user's table (its name, title, layer and block names) reaches the page only as escaped HTML, inside
JSON with ``<``, ``>`` and ``&`` escaped (so ``</script>`` or ``<!--`` in a name cannot end a script), or inside
the compressed numbers; the glue script writes text with ``textContent`` only."""

from __future__ import annotations

import base64
import gzip
import json
from html import escape
from pathlib import Path

from .errors import EnvironmentProblem

NEEDS = "bokeh>=3.4"
INSTALL = "pip install 'mnetcost[report]'"
# op colours: Okabe & Ito's colour-blind-safe set first, for the ops every MobileNet has
OP_COLORS = {"conv": "#0072B2", "dw": "#E69F00", "pw": "#009E73", "se": "#CC79A7", "fc": "#56B4E9",
             "attn": "#D55E00", "pool": "#7F7F7F", "add": "#B8B8B8", "mul": "#8C6D31", "concat": "#5E5E5E",
             "upsample": "#C9B800", "gridpool": "#3F3F3F", "norm": "#AA4499", "scale": "#44AA99"}
MORE_COLORS = ("#332288", "#88CCEE", "#117733", "#DDCC77", "#882255", "#999933")
BOUND_COLORS = {"compute": "#0072B2", "memory": "#D55E00"}


def require():
    """bokeh, or an EnvironmentProblem naming the extra to install (checked before any counting)."""
    try:
        import bokeh
    except ImportError:
        raise EnvironmentProblem(f"the report needs bokeh ({NEEDS}): {INSTALL}") from None
    major, minor = (int(x) for x in bokeh.__version__.split(".")[:2])
    if (major, minor) < (3, 4):
        raise EnvironmentProblem(f"the report needs {NEEDS}, found bokeh {bokeh.__version__}: {INSTALL}")
    return bokeh


def script_json(value) -> str:
    """JSON safe inside a ``<script>`` element: no ``<``, ``>`` or ``&`` (so no ``</script>`` and no ``<!--``), and
    no line separators JavaScript once rejected."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                         ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return text


def op_colors(ops) -> dict:
    extra = iter(MORE_COLORS * (1 + len(ops) // len(MORE_COLORS)))
    return {op: OP_COLORS.get(op) or next(extra) for op in ops}


def _meta(p: dict) -> dict:
    from .ops import BUILTIN

    ops = list(dict.fromkeys(op for d in p["data"].values() for op in d["layers"]["op"]))
    labels = {op: BUILTIN[op].label if op in BUILTIN else op for op in ops}
    keys = ("model", "title", "family", "source", "resolution", "alphas", "resolutions", "alpha0", "res0",
            "conventions", "schedule", "dtype", "device")
    return {**{k: p[k] for k in keys}, "rho": [round(r / p["resolution"], 4) for r in p["resolutions"]],
            "colors": op_colors(ops), "labels": labels, "bound_colors": BOUND_COLORS,
            "notes": {c: d["note"] for c, d in p["data"].items()},
            "law": {c: d["law"]["at"] for c, d in p["data"].items()}}


def numbers(p: dict) -> str:
    """The per-convention numbers, gzip-compressed and base64-encoded (about an eighth of their JSON)."""
    raw = json.dumps(p["data"], separators=(",", ":")).encode("utf-8")
    return base64.b64encode(gzip.compress(raw, 9, mtime=0)).decode("ascii")


def human_ticks():
    """Axis ticks in mnetcost's units (k, M, G, T: ``render.human``'s), not numbro's lower-case m for millions."""
    from bokeh.models import CustomJSTickFormatter

    return CustomJSTickFormatter(code="""
        const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : Math.abs(tick);
        for (const [s, u] of [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]]) {
            if (Math.abs(tick) >= s || (tick === 0 && step >= s)) {
                const digits = Math.min(3, Math.max(0, Math.ceil(-Math.log10(step / s) - 1e-9)));
                return (tick / s).toFixed(digits) + " " + u;
            }
        }
        return String(tick);""")


def source(columns, tag: str, /, **first):
    """A data source for the glue script to fill, holding one placeholder row (so each plot sets its ranges)."""
    from bokeh.models import ColumnDataSource

    return ColumnDataSource({k: [first.get(k, 0)] for k in columns}, name=tag)


def _layer_plot(title: str, column: str, source, x_range, tooltips, name: str, color="color", unit=""):
    from bokeh.models import HoverTool
    from bokeh.plotting import figure

    p = figure(title=title, height=210, sizing_mode="stretch_width", x_range=x_range, tools="xpan,xwheel_zoom,reset",
               toolbar_location="right", name=name)
    p.vbar(x="x", top=column, width=0.85, color=color, source=source, name=f"{name}-bars")
    p.add_tools(HoverTool(tooltips=tooltips + [(title, f"@{column}{{0,0}}{unit}")], name=f"{name}-hover"))
    p.yaxis.formatter = human_ticks()
    p.xaxis.axis_label = "layer (in network order; hover a bar for its name and shapes)"
    p.xgrid.visible = False
    return p


LAYER_TIPS = [("layer", "@name"), ("op", "@label"), ("block", "@block"), ("input", "@shape_in"),
              ("output", "@shape_out")]
LAYER_COLUMNS = ("x", "name", "op", "label", "block", "color", "shape_in", "shape_out", "macs", "params",
                 "activations", "live_bytes", "seconds", "bound", "bound_color")


def _layer_plots(meta: dict) -> dict:
    from bokeh.models import Range1d

    text = {k: "" for k in ("name", "op", "label", "block", "shape_in", "shape_out", "bound")}
    src = source(LAYER_COLUMNS, "layers", **text, color="#ffffff", bound_color="#ffffff")
    x_range = Range1d(-1, 10, name="layer-range")
    plots = {"macs": _layer_plot("MACs", "macs", src, x_range, LAYER_TIPS, "layer-macs"),
             "params": _layer_plot("parameters", "params", src, x_range, LAYER_TIPS, "layer-params"),
             "activations": _layer_plot("output activations (elements)", "activations", src, x_range, LAYER_TIPS,
                                        "layer-activations")}
    mem = _layer_plot(f"bytes held while the layer runs (layerwise, {meta['dtype']})", "live_bytes", src, x_range,
                      LAYER_TIPS, "layer-memory", unit=" B")
    peak = source(("x", "y", "text"), "peak", text="")
    mem.scatter(x="x", y="y", source=peak, marker="inverted_triangle", size=13, color="#D55E00", name="peak-mark")
    mem.text(x="x", y="y", text="text", source=peak, text_font_size="12px", x_offset=10, y_offset=-4,
             text_baseline="bottom", text_font_style="bold", background_fill_color="white",
             background_fill_alpha=0.85, name="peak-label")
    plots["memory"] = mem
    if meta["device"] is not None:
        plots["time"] = _layer_plot(f"roofline time on {meta['device']['name']} (µs)", "seconds", src, x_range,
                                    LAYER_TIPS + [("bound", "@bound")], "layer-time", color="bound_color")
    return plots


def _curve(title: str, x: str, y: str, source, sel, x_label: str, name: str):
    from bokeh.models import HoverTool
    from bokeh.plotting import figure

    p = figure(title=title, height=230, sizing_mode="stretch_width", tools="", toolbar_location=None, name=name)
    exact = p.line(x=x, y=y, source=source, line_width=2.5, color="#0072B2", legend_label="exact (mnetcost)")
    p.line(x=x, y=f"{y}_law", source=source, line_width=2, line_dash="dashed", color="#D55E00",
           legend_label="α²ρ² law from α 1, ρ 1")
    p.scatter(x=x, y=y, source=sel, size=10, color="#0072B2", name=f"{name}-selected")
    p.add_tools(HoverTool(renderers=[exact], tooltips=[(x_label, f"@{x}"), ("exact", f"@{y}{{0,0}}"),
                                                       ("law", f"@{y}_law{{0,0}}")], mode="vline"))
    p.yaxis.formatter = human_ticks()
    p.xaxis.axis_label = x_label
    p.y_range.start = 0  # from zero: a flat line reads as flat
    p.legend.location = "top_left"
    p.legend.label_text_font_size = "11px"
    p.legend.background_fill_alpha = 0.7
    return p


def _curves() -> dict:
    by_alpha = source(("alpha", "macs", "macs_law", "params", "params_law"), "by-alpha")
    by_res = source(("resolution", "macs", "macs_law", "params", "params_law"), "by-resolution")
    sel_a = source(("alpha", "macs", "params"), "selected-alpha")
    sel_r = source(("resolution", "macs", "params"), "selected-resolution")
    return {"macs_alpha": _curve("MACs against α (at the selected resolution)", "alpha", "macs", by_alpha, sel_a,
                                 "α", "curve-macs-alpha"),
            "macs_res": _curve("MACs against resolution (at the selected α)", "resolution", "macs", by_res, sel_r,
                               "resolution (px)", "curve-macs-resolution"),
            "params_alpha": _curve("parameters against α", "alpha", "params", by_alpha, sel_a, "α",
                                   "curve-params-alpha"),
            "params_res": _curve("parameters against resolution (flat: ρ changes no weight)", "resolution", "params",
                                 by_res, sel_r, "resolution (px)", "curve-params-resolution")}


def _shares(meta: dict) -> dict:
    from bokeh.models import FactorRange, HoverTool
    from bokeh.plotting import figure
    from bokeh.transform import dodge

    ops = list(meta["colors"])
    src = source(("op", "label", "color", "macs", "params", "macs_share", "params_share"), "by-op", op=ops[0],
                 label="", color="#ffffff")
    p = figure(title="shares by op type (V1 Table 2's view): MACs (solid) and parameters (light)", height=60 + 34 * len(ops),
               sizing_mode="stretch_width", y_range=FactorRange(*reversed(ops)), x_range=(0, 100), tools="",
               toolbar_location=None, name="shares-op")
    p.hbar(y=dodge("op", 0.18, range=p.y_range), right="macs_share", height=0.34, color="color", source=src)
    p.hbar(y=dodge("op", -0.18, range=p.y_range), right="params_share", height=0.34, color="color", alpha=0.4,
           source=src)
    p.add_tools(HoverTool(tooltips=[("op", "@label"), ("MACs", "@macs{0,0} (@macs_share{0.00}%)"),
                                    ("params", "@params{0,0} (@params_share{0.00}%)")]))
    p.xaxis.axis_label = "% of the total"
    blocks = source(("x", "block", "macs", "params", "macs_share", "params_share"), "by-block", block="")
    q = figure(title="MACs share by block (%)", height=230, sizing_mode="stretch_width", tools="",
               toolbar_location=None, name="shares-block")
    q.vbar(x="x", top="macs_share", width=0.8, color="#0072B2", source=blocks)
    q.add_tools(HoverTool(tooltips=[("block", "@block"), ("MACs", "@macs{0,0} (@macs_share{0.00}%)"),
                                    ("params", "@params{0,0} (@params_share{0.00}%)")]))
    q.xaxis.axis_label = "block (in network order)"
    q.xgrid.visible = False
    return {"op": p, "block": q}


def plots(meta: dict) -> dict:
    """Every plot of the page, by name (empty sources: the glue script fills them from the numbers)."""
    return {**{f"layer_{k}": v for k, v in _layer_plots(meta).items()}, **{f"curve_{k}": v for k, v in _curves().items()},
            **{f"share_{k}": v for k, v in _shares(meta).items()}}


def render(p: dict) -> str:
    """The page of payload ``p``: one HTML document, nothing to fetch."""
    require()
    import re

    from bokeh.embed import components
    from bokeh.resources import Resources

    from . import __version__

    meta = _meta(p)
    script, divs = components(plots(meta))
    here = Path(__file__).parent
    fills = {"TITLE": escape(f"{p['model']} — {p['title']}"), "VERSION": __version__,
             "BOKEH_JS": Resources(mode="inline", components=["bokeh"]).render_js(), "BOKEH_SCRIPT": script,
             "META": script_json(meta), "NUMBERS": numbers(p), "FIGURES": figures_html(p["figures"]),
             "GLUE": (here / "report_page.js").read_text(encoding="utf-8"), "CONTROLS": controls_html(meta),
             "LEGEND": legend_html(meta), "HEADER": header_html(p), **time_html(meta, divs),
             **{f"DIV_{k.upper()}": v for k, v in divs.items()}}
    page = (here / "report_page.html").read_text(encoding="utf-8")
    return re.sub(r"\{\{([A-Z_]+)\}\}", lambda m: fills[m.group(1)], page)  # one pass: no value is read again


def time_html(meta: dict, divs: dict) -> dict:
    """The latency row of the totals and the roofline section, with a device."""
    if meta["device"] is None:
        return {"LATENCY_ROW": "", "TIME_SECTION": ""}
    name = escape(meta["device"]["name"])
    return {"LATENCY_ROW": f'<tr><th scope="row">roofline latency on {name}</th><td id="latency-exact"></td>'
                           '<td id="latency-human" colspan="2"></td></tr>',
            "TIME_SECTION": f'<section aria-labelledby="time-h"><h2 id="time-h">Roofline on {name} '
                            f'({escape(meta["device"]["dtype"])})</h2><p class="note">Per layer: max(MACs / the '
                            'layer class\'s rate, bytes moved / bandwidth) plus the device\'s per-layer and '
                            'per-element costs; <span style="color:#D55E00">memory-bound</span> layers in orange, '
                            f'<span style="color:#0072B2">compute-bound</span> in blue.</p>{divs["layer_time"]}</section>'}


def header_html(p: dict) -> str:
    source = f'<p class="source">{escape(p["source"])}</p>' if p["source"] else ""
    return (f'<h1>{escape(p["model"])} <span class="title">{escape(p["title"])}</span></h1>{source}'
            f'<p class="about">Every number on this page was computed by mnetcost for {len(p["alphas"])} widths × '
            f'{len(p["resolutions"])} resolutions × {len(p["conventions"])} conventions; the controls only choose '
            f'among them.</p>')


def controls_html(meta: dict) -> str:
    a, r = meta["alphas"], meta["resolutions"]
    step_a = round(a[1] - a[0], 6) if len(a) > 1 else 1
    step_r = r[1] - r[0] if len(r) > 1 else 1
    options = "".join(f'<option value="{i}">{escape(c)}</option>' for i, c in enumerate(meta["conventions"]))
    return (
        f'<div class="control"><label for="alpha">width multiplier α</label>'
        f'<input type="range" id="alpha" name="alpha" min="{a[0]:g}" max="{a[-1]:g}" step="{step_a:g}" '
        f'value="{a[meta["alpha0"]]:g}"><output id="alpha-value" for="alpha">{a[meta["alpha0"]]:g}</output></div>'
        f'<div class="control"><label for="resolution">resolution (pixels)</label>'
        f'<input type="range" id="resolution" name="resolution" min="{r[0]}" max="{r[-1]}" step="{step_r}" '
        f'value="{r[meta["res0"]]}"><output id="resolution-value" for="resolution">{r[meta["res0"]]} px</output></div>'
        f'<div class="control"><label for="convention">convention</label>'
        f'<select id="convention" name="convention">{options}</select></div>')


def legend_html(meta: dict) -> str:
    items = "".join(f'<li><span class="swatch" style="background:{color}"></span>{escape(meta["labels"][op])} '
                    f'<code>{escape(op)}</code></li>' for op, color in meta["colors"].items())
    return f'<ul class="legend" aria-label="colours by op type">{items}</ul>'


def figures_html(figures: list) -> str:
    if not figures:
        return ""
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(str(f[k]))}</td>" for k in ("label", "config", "what", "published", "mnetcost",
                                                                    "convention"))
        + f'<td class="verdict {escape(str(f["verdict"]))}">{escape(str(f["verdict"]))}</td>'
        f'<td>{escape(str(f["reason"]))}</td></tr>' for f in figures)
    return ('<section><h2>Published figures and their verdicts</h2><details><summary>'
            f'{len(figures)} figures (as <code>mnetcost reference</code> lists them), each at its own configuration'
            '</summary><table class="figures"><thead><tr><th>source</th><th>configuration</th><th>what</th>'
            '<th>published</th><th>mnetcost</th><th>convention</th><th>verdict</th><th>why</th></tr></thead>'
            f'<tbody>{rows}</tbody></table></details></section>')
