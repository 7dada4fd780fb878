"""One view per result type: what a command shows of a library result, in every format (a rich table
for people; CSV, JSON and Markdown for pipes). Views format and label; the numbers come from the
library (``mnetcost.reports``, ``explore``, ``ratios``): the only arithmetic here is the choice of unit
(FLOPs = 2 x MACs) and rounding for display."""

from __future__ import annotations

import math

from . import render
from .vocab import DEFAULT_DTYPE, UNIT_FACTOR, UNIT_LABEL

UNIT_NOTE = {
    "macs": "MACs = multiply-accumulates: one multiply-add is one MAC.",
    "flops": "FLOPs = 2 x MACs: a multiply-add is two floating-point operations (one multiply, one add).",
}


class View:
    """A result ready for every format: ``before`` renderables, a table of ``columns`` over ``shown``
    (default ``records``) and ``extra`` renderables for people; ``machine`` columns of ``records`` as CSV
    or Markdown; ``document(rows)`` (default ``{"rows": rows}``) as JSON. A renderable that needs the
    terminal's width is a function of it. ``custom`` overrides a format: {fmt: function}."""

    def __init__(self, title, columns, machine, records, caption="", *, document=None, shown=None, row_style=None,
                 before=(), extra=(), custom=None, whole=None):
        self.title, self.columns, self.machine, self.records, self.caption = title, columns, machine, records, caption
        self.document = document or (lambda rows: {"rows": rows})
        self.shown = records if shown is None else shown
        self.row_style, self.before, self.extra, self.custom = row_style, before, extra, custom or {}
        self.whole = whole  # a column whose values are never broken (render.records_table)

    def table(self, width=None):
        return render.records_table(self.title, self.columns, self.shown, self.caption, row_style=self.row_style,
                                    width=width, whole=self.whole)

    def rich(self, width=None) -> list:
        if "table" in self.custom:
            return self.custom["table"](width)
        items = [*self.before, self.table, *self.extra]
        shown = [item(width) if callable(item) else item for item in items]
        return [x for i, item in enumerate(shown) for x in ([""] if i else []) + [item]]  # a blank line between

    def text(self, fmt: str) -> str:
        """The CSV, JSON or Markdown text."""
        if fmt in self.custom:
            return self.custom[fmt]()
        if fmt == "csv":
            return render.records_csv(self.machine, self.records)
        if fmt == "json":
            return render.to_json_document(self.document(render.records_dicts(self.machine, self.records)))
        return render.records_markdown(self.title.replace("\n", " — "), self.machine, self.shown, self.caption)


def keys(*names) -> list:
    return [(k, k, "") for k in names]


def config(result) -> dict:
    """A cost's configuration and totals, as JSON documents carry them."""
    return {"model": result.model, "alpha": result.alpha, "rho": result.rho, "resolution": result.resolution,
            "convention": result.convention, "classes": result.classes, "spatial": result.spatial,
            "totals": {"macs": result.macs, "params": result.params}}


def flops_column(unit: str, key: str = "count") -> list:
    return [(key, "flops", "")] if unit == "flops" else []


def rate(value: float, unit: str) -> str:
    """'4.81 GMAC/s', '2.18 TMAC/s', 'unbounded'."""
    if math.isinf(value):
        return "unbounded"
    scale, prefix = (1e12, "T") if value >= 1e12 else (1e9, "G")
    return f"{value / scale:.3g} {prefix}{unit[1:]}"


def finite(value):
    return value if isinstance(value, (int, str)) or value is None or math.isfinite(value) else None


def device_document(dev) -> dict:
    """A device profile as JSON (an unbounded rate as null)."""
    h = dev.held_out
    return {"name": dev.name, "dtype": dev.dtype, "peak_macs": finite(dev.peak_macs),
            "bandwidth": finite(dev.bandwidth), "rates": {k: finite(v) for k, v in dev.rates},
            "costs": dict(dev.costs), "cache": [list(pair) for pair in dev.cache], "source": dev.source,
            "held_out": None if h is None else {"method": h.method, "n": h.n, "within_10": h.within_10,
                                                "mean_error": h.mean_error, "proxy_within_10": h.proxy_within_10,
                                                "proxy_mean_error": h.proxy_mean_error}}


def conventions(records) -> View:
    columns = [("convention", "convention", "text"), ("families", "families", "long"),
               ("rules", "what it reproduces, its rules", "long")]
    return View("Counting conventions (tables/conventions.csv)", columns,
                keys("convention", "families", "classes", "batchnorm", "rules"), records,
                "batchnorm: values per BatchNorm channel counted as parameters. Use one with --convention NAME.")


def cost_layers(result, unit: str) -> View:
    """A cost layer by layer (``table --by layer``)."""
    k, label = UNIT_FACTOR[unit], UNIT_LABEL[unit]

    def as_json():
        doc = result.to_dict()
        if unit == "flops":
            doc["totals"]["flops"] = k * doc["totals"]["macs"]
            for layer in doc["layers"]:
                layer["flops"] = k * layer["macs"]
        return render.to_json_document(doc)

    return View("", [], [], [], custom={
        "table": lambda width: [render.rich_table(result, result.rules.note, unit_factor=k, unit_label=label,
                                                  unit_note=UNIT_NOTE[unit], width=width)],
        "csv": lambda: render.to_csv(result, unit_factor=k if unit == "flops" else None),
        "json": as_json, "markdown": lambda: render.to_markdown(result)})


def cost_breakdown(result, by: str, records, unit: str) -> View:
    """A cost's totals per op type, block, stage or part (``reports.breakdown_rows``)."""
    k, label = UNIT_FACTOR[unit], UNIT_LABEL[unit]
    records = [{**rec, "count": rec["macs"] * k} for rec in records]
    columns = [(by, by, "text"), ("count", label, "count"), ("macs_share", f"% {label}", "percent"),
               ("params", "params", "count"), ("params_share", "% params", "percent"),
               ("weights_share", "% weights", "percent")]
    machine = [(by, by, "text"), ("macs", "macs", "count")] + ([("count", "flops", "count")] if unit == "flops" else []) + [
        ("params", "params", "count"), ("weights", "weights", "count"), ("macs_share", "macs_share", "float"),
        ("params_share", "params_share", "float"), ("weights_share", "weights_share", "float")]
    caption = (f"Total: {result.macs * k:,} {label} · {result.params:,} params. % weights leaves biases and BatchNorm "
               f"out (as V1 Table 2 does).\n{UNIT_NOTE[unit]}")
    return View(render.describe(result) + f"\nby {by}", columns, machine, records, caption,
                document=lambda rows: {**config(result), "by": by, "rows": rows})


def catalogue(records, unit: str, wide: bool) -> View:
    """The shipped tables (``explore.model_rows``); ``wide``: room for the source and layer columns."""
    records = [dict(rec) for rec in records]
    for rec in records:
        rec["count"] = rec["macs"] * UNIT_FACTOR[unit]
        rec["resolution"] = int(rec["resolution"]) if not isinstance(rec["resolution"], tuple) else rec["resolution"]
    columns = [("name", "model", "text"), ("title", "what", "long")] + ([("ref", "source", "long")] if wide else []) + [
               ("resolution", "px", "float"), ("layers", "layers", "float"), ("count", UNIT_LABEL[unit], "count"),
               ("params", "params", "count")]
    machine = keys("name", "title", "ref", "resolution", "layers", "macs") + flops_column(unit) + keys(
        "params", "family", "source")
    caption = ("Layers: conv, depthwise, pointwise and FC layers. Totals at alpha 1 and each table's resolution, paper "
               f"convention, the table's classes. Sources: a terminal of 110 columns or more; full citations: "
               f"--format csv or json. {UNIT_NOTE[unit]}")
    return View("mnetcost tables", columns, machine, records, caption, document=lambda rows: {"models": rows})


def _causes_table(base, other, model, causes, total, label, k):
    rows = [{"cause": row["cause"], "count": row["macs"] * k, "params": row["params"]} for row in causes]
    rows.append({"cause": "total", "count": total["macs"] * k, "params": total["params"]})
    return render.records_table(f"why {other} differs from {base} ({model})",
                                [("cause", "cause", "text"), ("count", f"Δ {label}", "signed"),
                                 ("params", "Δ params", "signed")], rows,
                                "One rule changed at a time, in this order; the parts add up to the total.")


def comparison(records, explanations, conventions, models, unit: str) -> View:
    """``explore.comparison``: rows side by side with their differences to the first, and why conventions differ."""
    k, label = UNIT_FACTOR[unit], UNIT_LABEL[unit]
    records = [{**r, "count": r["macs"] * k, "d_count": r["d_macs"] * k} for r in records]
    columns = [("model", "model", "text"), ("alpha", "α", "float"), ("resolution", "px", "float"),
               ("convention", "convention", "text"), ("classes", "classes", "float"), ("count", label, "count"),
               ("params", "params", "count"), ("d_count", f"Δ {label}", "signed"), ("d_params", "Δ params", "signed")]
    if len({r["classes"] for r in records}) == 1:
        columns.remove(("classes", "classes", "float"))
    machine = keys("model", "alpha", "resolution", "convention", "classes", "macs") + flops_column(unit) + keys(
        "params", "trainable")
    caption = f"Δ: difference to the first row. {UNIT_NOTE[unit]}"
    view = View("compare", columns, machine, records, caption)
    base = conventions[0]
    view.extra = [lambda width, e=e: _causes_table(base, e[0], models[0], e[1], e[2], label, k) for e in explanations]

    def as_json():
        return render.to_json_document({
            "rows": render.records_dicts(machine, records),
            "explanations": [{"base": base, "other": other, "causes": causes} for other, causes, _ in explanations]})

    def markdown():
        text = render.records_markdown("compare", machine, records, UNIT_NOTE[unit])  # no Δ columns here
        for other, causes, _ in explanations:
            text += "\n" + render.records_markdown(
                f"why {other} differs from {base}", [("cause", "cause", "text"), ("macs", "Δ macs", "signed"),
                                                    ("params", "Δ params", "signed")], causes)
        return text

    view.custom = {"json": as_json, "markdown": markdown}
    return view


def _side(r) -> str:
    return f"{r.model} · alpha {r.alpha:g} · {r.resolution} px · {r.convention}"


def difference(records, totals, ra, rb, by: str, all_rows: bool, unit: str) -> View:
    """``explore.diff_rows``: what changes from A to B per block, layer or part."""
    key = "name" if by == "layer" else by
    k, label = UNIT_FACTOR[unit], UNIT_LABEL[unit]
    records = [{**rec, "ca": rec["macs_a"] * k, "cb": rec["macs_b"] * k, "dc": rec["d_macs"] * k} for rec in records]
    shown = records if all_rows else [r for r in records if r["change"] != "same"]
    columns = [(key, by, "text"), ("change", "", "text"), ("ca", f"{label} A", "count"), ("cb", f"{label} B", "count"),
               ("dc", f"Δ {label}", "signed"), ("d_params", "Δ params", "signed")]
    machine = keys(key, "change", "macs_a", "macs_b", "d_macs", "params_a", "params_b", "d_params")
    same = len(records) - len([r for r in records if r["change"] != "same"])
    t = totals
    caption = (f"Total: {t['macs_a'] * k:,} -> {t['macs_b'] * k:,} {label} ({t['d_macs'] * k:+,}); "
               f"{t['params_a']:,} -> {t['params_b']:,} params ({t['d_params']:+,})."
               + ("" if all_rows or not same else f" {same} unchanged {by}s not shown (--all).")
               + f" {UNIT_NOTE[unit]}")
    return View(f"diff\nA: {_side(ra)}\nB: {_side(rb)}", columns, machine, records, caption, shown=shown,
                document=lambda rows: {"a": config(ra), "b": config(rb), "by": by, "totals": totals, "rows": rows})


PEAK_WORDS = "peak <= "


def budget_text(peak_note: str = "", latency_note: str = "", **limits) -> str:
    """'MACs <= 150M, peak <= 512KB (int8, materialized)' from the limits given, in their order (None: not given)."""
    words = {"max_macs": "MACs <= {}", "max_params": "params <= {}", "max_peak_memory": PEAK_WORDS + "{}B" + peak_note,
             "max_latency": "latency <= {}" + latency_note}
    return ", ".join(words[k].format(v) for k, v in limits.items() if v)


def fitting(columns: dict, dev, model, convention, limits: dict, dtype: str, schedule: str, all_rows: bool,
            unit: str) -> View:
    """``explore.fit_columns``, predicted on ``dev`` (or None): the configurations within a budget (``limits``: the
    budget options' texts)."""
    from .reports import records as as_records

    found = as_records(columns)
    budget = budget_text(f" ({dtype}, {schedule})", f" on {dev.name}" if dev else "", **limits)
    timed = dev is not None
    shown = found if all_rows else sorted((r for r in found if r["pareto"]), key=lambda r: r["alpha"])
    records = [dict(r) for r in shown]
    k, label = UNIT_FACTOR[unit], UNIT_LABEL[unit]
    for rec in records:
        rec["count"] = rec["macs"] * k
        rec["best"] = "yes" if rec["pareto"] else ""
        if timed:
            rec["latency"] = round(rec["latency_ms"], 2)
    peak = [("peak_bytes", f"peak ({dtype})", "count")] if limits.get("max_peak_memory") else []  # a budget asked for
    columns = [("alpha", "α", "float"), ("resolution", "px", "float"), ("count", label, "count"),
               ("params", "params", "count")] + peak + (
        [("latency", "ms", "decimal")] if timed else []) + ([("best", "Pareto", "text")] if all_rows else [])
    suite = bool(found) and "covered" in found[0]
    machine = keys("alpha", "resolution", "macs", "params", "peak_bytes", *(("latency_ms",) if timed else ()), "pareto",
                   *(("covered",) if suite else ()))
    caption = (f"{len(found)} of the searched configurations fit ({budget}); "
               f"{sum(r['pareto'] for r in found)} are Pareto-best. {UNIT_NOTE[unit]}" + _beyond(found))
    if not found:
        caption = f"No configuration fits ({budget}): widen the search or the budget."
    return View(f"{model}: configurations within the budget", columns, machine, records, caption,
                document=lambda rows: {"model": model, "convention": convention, "budget": budget, "rows": rows})


def _beyond(found) -> str:
    """A caption's note of the configurations whose latency extrapolates beyond a profile's operator suite."""
    out = sum(not r.get("covered", True) for r in found)
    return (f" {out} of them have layers beyond what the device's operator suite measured: their latency is "
            "extrapolated (column covered in -f csv or json; roofline's confidence column says which layers)."
            if out else "")


def sweep(records, grid, resolutions, model, convention, spatial, unit: str) -> View:
    """``explore.sweep``'s records and their pivot ``explore.sweep_grid``."""
    k, label = UNIT_FACTOR[unit], UNIT_LABEL[unit]
    records = [{**rec, "flops": 2 * rec["macs"]} for rec in records]
    machine = keys("alpha", "resolution", "macs") + flops_column(unit, "flops") + keys("params")
    grid = [{key: v * k if key not in ("alpha", "params") and v is not None else v for key, v in row.items()}
            for row in grid]
    columns = [("alpha", "alpha", "float")] + [(str(r), f"{r} px", "count") for r in resolutions] + [
        ("params", "params", "count")]
    title = f"{model}: {label} by alpha (rows) and resolution (columns) · convention {convention}"
    caption = f"Params do not depend on the resolution. {UNIT_NOTE[unit]}"
    return View(title, columns, machine, records, caption, shown=grid,
                document=lambda rows: {"model": model, "convention": convention, "spatial": spatial, "rows": rows},
                custom={"markdown": lambda: render.records_markdown(title, [(key, h, "") for key, h, _ in columns],
                                                                    grid, caption)})


def _formulas(kernel, last) -> list[str]:
    M, N, D = last.c_in, last.c_out, last.size
    num = lambda x: f"{x:g}"  # noqa: E731
    big = lambda x: f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"  # noqa: E731
    return [
        "standard   = D_K·D_K·αM·αN·ρD_F·ρD_F",
        f"           = {kernel}·{kernel}·{num(M)}·{num(N)}·{num(D)}·{num(D)} = {big(last.macs_standard)}",
        "separable  = D_K·D_K·αM·ρD_F·ρD_F + αM·αN·ρD_F·ρD_F",
        f"           = {kernel}·{kernel}·{num(M)}·{num(D)}·{num(D)} + {num(M)}·{num(N)}·{num(D)}·{num(D)}",
        f"           = {big(last.macs_depthwise)} + {big(last.macs_pointwise)} = {big(last.macs_separable)}",
        f"ratio      = separable / standard = {last.ratio:.6f}",
        f"closed form: 1/N + 1/D_K² = 1/{num(N)} + 1/{kernel * kernel} = {last.closed_form:.6f}",
    ]


def layer_ratio(records, last, inputs: dict, unit: str) -> View:
    """``ratios.table3``: V1 Table 3's rows for one layer, with the paper's formulas filled in; ``inputs``: the
    layer's kernel, in, out, size, alpha, rho and spatial (shown in that order)."""
    inputs = {k: inputs[k] for k in ("kernel", "in", "out", "size", "alpha", "rho", "spatial")}
    k, label = UNIT_FACTOR[unit], UNIT_LABEL[unit]
    records = [{**r, "count": r["macs"] * k, "m_count": float(f"{r['macs'] * k / 1e6:.3g}"),
                "m_params": round(r["params"] / 1e6, 2)} for r in records]
    formulas = _formulas(inputs["kernel"], last)
    columns = [("layer", "layer / modification", "text"), ("m_count", f"million {label}", "float"),
               ("m_params", "million params", "decimal")]
    machine = keys("layer", "alpha", "rho", "kind", "macs") + flops_column(unit) + keys("params")
    title = (f"D_K = {inputs['kernel']}, M = {inputs['in']}, N = {inputs['out']}, D_F = {inputs['size']:g} "
             f"({inputs['spatial']})")
    caption = ("Rows are cumulative, as in V1 Table 3 (mult-adds to 3 significant digits, params to 2 decimals). "
               + UNIT_NOTE[unit])
    return View(title, columns, machine, records, caption, extra=["\n".join(formulas)],
                document=lambda rows: {"inputs": inputs, "rows": rows, "formulas": formulas, "ratio": last.ratio,
                                       "closed_form": last.closed_form},
                custom={"markdown": lambda: render.records_markdown("ratio", machine, records,
                                                                    "```\n" + "\n".join(formulas) + "\n```")})


def figures(records, counts: dict, model, per_layer: bool) -> View:
    """``reports.figure_rows``: published figures beside mnetcost's, with verdicts, notes and citations."""
    notes: dict[str, int] = {}
    for rec in records:  # for people: identifiers' underscores as spaces, so that a narrow terminal wraps between words
        verdict = rec["verdict"].replace("_", " ")
        rec["note_ref"] = f"{verdict} [{notes.setdefault(rec['reason'], len(notes) + 1)}]" if rec["reason"] else verdict
        rec["config_view"] = rec["config"].replace("_", " ")
    columns = [("label", "source", "long"), ("config_view", "table α px", "long"), ("shown", "published", "long"),
               ("mnetcost", "mnetcost", "text"), ("difference", "Δ", "signed"), ("note_ref", "verdict", "long")]
    machine = keys("row", "source", "model", "alpha", "resolution", "variant", "quantity", "published", "mnetcost",
                   "computed", "difference", "table", "convention", "rounding", "verdict", "expected", "reason",
                   "citation")
    caption = (f"{len(records)} figures: " + ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in counts.items())
               + ". mnetcost's value is printed as the source prints (millions, same decimals, its rounding);"
               " Δ = exact count minus the published figure."
               + ("" if per_layer else " The TF-slim docstring's per-layer rows: --per-layer."))
    title = f"published figures{' for ' + model if model else ''}"
    citations = dict.fromkeys((rec["source"], rec["citation"]) for rec in records)

    def footnotes(width):  # wrapped at the terminal's width
        return render.plain("\n".join(f"[{n}] {reason}" for reason, n in notes.items()))

    def sources(width):  # wrapped between words; a word wider than the terminal (a URL) folds
        text = render.plain("Sources:\n" + "\n".join(f"{src}: {cite}" for src, cite in citations))
        text.overflow = "fold"
        return text

    return View(title, columns, machine, records, caption, extra=[footnotes, sources],
                document=lambda rows: {"figures": rows},
                custom={"markdown": lambda: render.records_markdown(title, machine, records)})


def training(step, records, by: str, saved: int) -> View:
    """``training.training`` per block or layer (``reports.training_rows``)."""
    for rec in records:
        rec["state"] = "frozen" if rec["frozen"] else ""
    key = by if by == "block" else "name"
    columns = [(key, by, "text"), ("state", "", "text"), ("forward_macs", "forward", "count"),
               ("backward_macs", "backward", "count"), ("backward_macs_torch", "torch bwd", "count"),
               ("trainable", "trainable", "count"), ("saved_bytes", "saved B", "count")]
    machine = [(key, by, "")] + keys("frozen", "forward_macs", "backward_macs", "backward_macs_torch",
                                     "backward_input_macs", "backward_weight_macs", "backward_weight_macs_torch",
                                     "params", "trainable", "saved_bytes")
    tot = step.totals
    title = (f"{render.describe(step.cost)}\ntraining step: batch {step.batch}, freeze {step.freeze or 'nothing'}, "
             f"{step.optimizer}, {step.dtype}")
    caption = (f"Forward {tot['forward_macs']:,} MACs; backward {tot['backward_macs']:,} physical "
               f"({tot['backward_input_macs']:,} input gradients + {tot['backward_weight_macs']:,} weight gradients), "
               f"{tot['backward_macs_torch']:,} as torch's FlopCounterMode counts it (a grouped conv's weight gradient "
               f"x groups). Parameters {tot['params']:,}, trainable {tot['trainable']:,}. Memory "
               f"{tot['training_bytes']:,} bytes = weights {tot['weight_bytes']:,} + gradients {tot['gradient_bytes']:,} "
               f"+ optimizer {tot['optimizer_bytes']:,} + saved for backward {saved:,} "
               f"(activations and batch statistics; {tot['saved_bytes']:,} with the saved weights).")
    return View(title, columns, machine, records, caption,
                document=lambda rows: {**config(step.cost), "batch": step.batch, "freeze": step.freeze,
                                       "optimizer": step.optimizer, "dtype": step.dtype, "totals": tot, "rows": rows})


MEMORY_COLUMNS = ("name", "block", "op", "h_out", "w_out", "c_out", "mult_adds", "in_bytes", "out_bytes", "weight_bytes",
                  "bytes_moved", "intensity", "live_bytes", "materialized")


def memory(m, dtype: str, schedule: str) -> View:
    """``traffic.memory``: per-layer bytes, the peak, and the widest tensor kept at each resolution."""
    from .reports import records as as_records

    records = as_records(m.columns, MEMORY_COLUMNS)
    for rec in records:
        for key in ("in_bytes", "out_bytes", "weight_bytes", "bytes_moved", "live_bytes"):
            rec[key] = int(rec[key]) if float(rec[key]).is_integer() else rec[key]
        rec["kept"] = "yes" if rec["materialized"] else ""
        rec["intensity"] = round(float(rec["intensity"]), 2)
    by_res = m.resolution_rows()
    columns = [("name", "layer", "text"), ("op", "op", "text"), ("out_bytes", "output", "count"),
               ("weight_bytes", "weights", "count"), ("bytes_moved", "moved", "count"),
               ("intensity", "MAC/B", "decimal"), ("live_bytes", "live", "count"), ("kept", "kept", "text")]
    machine = keys(*MEMORY_COLUMNS)
    describe = render.describe(m.cost).split("\n")[1]
    caption = (f"Peak ({schedule}): {m.peak_bytes:,} bytes at {m.peak_layer}. Weights: {m.weight_bytes:,} bytes. "
               f"dtype {dtype}; units of 1000 bytes. live: what a layer-by-layer executor holds at that layer "
               "(input, output, residual inputs); kept: the output is materialized between blocks; "
               "moved: input read + weights + output written; MAC/B: arithmetic intensity.")
    res_rows = [{"resolution": r["resolution"] if isinstance(r["resolution"], str) else f"{r['resolution']}x{r['resolution']}",
                 "channels": r["channels"], "bytes": r["bytes"]} for r in by_res]  # a non-square size is "HxW" already
    widest = lambda width: render.records_table(  # noqa: E731
        f"widest tensor kept at each resolution ({schedule})",
        [("resolution", "H x W", "text"), ("channels", "channels", "float"), ("bytes", "bytes", "count")], res_rows,
        "Compare V2 Table 3 (16-bit): V1 1600K, V2 400K at most.", width=width)
    view = View(f"{m.cost.model}: memory\n{describe}", columns, machine, records, caption, extra=[widest],
                document=lambda rows: {**config(m.cost), "dtype": dtype, "schedule": schedule,
                                       "peak_bytes": m.peak_bytes, "peak_layer": m.peak_layer,
                                       "weight_bytes": m.weight_bytes, "by_resolution": by_res, "layers": rows})
    view.custom = {"markdown": lambda: render.records_markdown(f"{m.cost.model} memory", machine, records, caption)}
    return view


def _listed(names) -> str:
    """'conv1, fc and 12 layers without MACs' (None: a layer without MACs)."""
    named = [n for n in names if n is not None]
    shown = ", ".join(named[:6]) + (f" and {len(named) - 6} more" if len(named) > 6 else "")
    others = len(names) - len(named)
    return " and ".join(x for x in (shown, f"{others} layers without MACs" if others else "") if x)


def roofline(r, model, bound_ops: dict, other: float) -> View:
    """``latency.roofline``: each layer's predicted time and bound (``reports.memory_bound_ops``, ``other_seconds``)."""
    from .reports import records as as_records

    records = as_records(r.columns)
    unbounded = []
    for rec in records:
        rec["time_us"] = round(rec["time_s"] * 1e6, 2)
        rec["intensity"] = round(float(rec["intensity"]), 2)
        if rec["compute_s"] == 0 and rec["memory_s"] == 0 and (rec["mult_adds"] or rec["bytes_moved"]):
            rec["bound"] = "unbounded rate"  # neither bound: the profile gives the layer's class no finite rate
            unbounded.append(rec["name"] if rec["mult_adds"] else None)
    columns = [("name", "layer", "text"), ("op", "op", "text"), ("mult_adds", "MACs", "count"),
               ("bytes_moved", "bytes", "count"), ("intensity", "MAC/B", "decimal"), ("time_us", "µs", "decimal"),
               ("bound", "bound", "text")]
    machine = keys("name", "op", "mult_adds", "bytes_moved", "intensity", "compute_s", "memory_s", "other_s", "time_s",
                   "bound")
    dev = r.device
    flagged = [rec["name"] for rec in records if rec.get("confidence", "covered") != "covered"]
    if "confidence" in r.columns:
        columns.append(("confidence", "confidence", "text"))
        machine += keys("confidence")
    caption = (f"Total: {r.latency_s * 1e3:.2f} ms on {dev.name} ({rate(dev.peak_macs, 'GMAC/s')}, "
               f"{rate(dev.bandwidth, 'GB/s')}, {r.dtype})"
               + (f", of which {other * 1e3:.2f} ms per-layer and per-element costs" if other else "")
               + "; memory-bound layers: " + (", ".join(f"{n} {op}" for op, n in bound_ops.items()) or "none")
               + (f". unbounded rate ({_listed(unbounded)}): the "
                  "profile's MAC rate for the layer's class and its bandwidth are unbounded (a fitted profile finds no "
                  "measurable cost there), so the layer takes only the per-layer and per-element costs"
                  if unbounded else "")
               + f". {dev.source.rstrip('.')}." + (f" Held out: {dev.held_out}." if dev.held_out else "")
               + (f" Extrapolated beyond the operator suite ({_listed(flagged)}): see the confidence column."
                  if flagged else ""))
    return View(f"{model}: roofline", columns, machine, records, caption,
                document=lambda rows: {"model": model, "device": device_document(dev), "dtype": r.dtype,
                                       "latency_s": r.latency_s, "memory_bound": r.memory_bound, "layers": rows})


def _held_out_summary(h, records) -> str:
    summary = (f"Held out ({h.method}): {100 * h.within_10:.0f}% of {h.n} predictions within ±10%, mean |error| "
               f"{100 * h.mean_error:.1f}%; the MACs-only proxy: {100 * h.proxy_within_10:.0f}%, "
               f"{100 * h.proxy_mean_error:.1f}%." if h else "Nothing held out: one group only.")
    unseen = sum(1 for rec in records if rec["unseen"])
    if unseen:
        summary += (f" {unseen} held-out predictions needed a term their fit never saw (column 'unseen': an "
                    "operator only that network has); measure another network that has it.")
    return summary


def calibration(c, output) -> View:
    """``reports.calibrate``: the device model's parameters and its held-out predictions."""
    from .vocab import FORMS

    params = c.device.parameters.to_dict("records")
    for p in params:
        p["shown"] = "unbounded" if p["value"] == float("inf") else f"{p['value']:.4g}"
    records = c.records()  # a value that does not exist (nothing held out) is None, never NaN
    for rec in records:
        rec["config"] = f"{rec['model']} {rec['alpha']:g} {rec['resolution']}"
        rec["measured"], rec["predicted"] = (f"{rec[k]:.3g}" if rec[k] is not None else "" for k in ("measured_ms", "predicted_ms"))
        for key in ("error", "proxy_error"):
            rec[key + "_pct"] = None if rec[key] is None else round(100 * rec[key], 1)
    caption = (f"{c.device.name}: {FORMS[c.form]}, fitted to {len(records)} latencies (mean |error| "
               f"{100 * c.train_error:.1f}% on them). {_held_out_summary(c.held_out, records)}"
               + (f" Saved to {output}." if output else ""))
    columns = [("config", "model α px", "long"), ("measured", "measured ms", "text"),
               ("predicted", "held-out ms", "text"), ("error_pct", "error %", "decimal"),
               ("proxy_error_pct", "MACs-only %", "decimal")] + (
        [("unseen", "unseen", "long")] if any(rec["unseen"] for rec in records) else [])
    machine = keys("source", "model", "alpha", "resolution", "group", "measured_ms", "fitted_ms", "predicted_ms",
                   "error", "proxy_ms", "proxy_error", "unseen")
    param_table = lambda width: render.records_table(f"{c.device.name}: the device model", [  # noqa: E731
        ("parameter", "parameter", "text"), ("shown", "value", "text"), ("unit", "unit", "text"),
        ("meaning", "meaning", "long")], params, "", width=width)
    return View("calibration: held-out predictions", columns, machine, records, caption, before=[param_table],
                document=lambda rows: {"device": device_document(c.device), "form": c.form, "holdout": c.holdout,
                                       "train_error": c.train_error, "saved_to": output, "rows": rows})


def device_list(found: dict, device_file) -> View:
    """The device profiles (``latency.devices``, or ``read_devices`` of ``device_file``: its name is shown)."""
    from pathlib import Path

    from .latency import cache_text, coverage_text

    file_name = device_file and Path(device_file).name
    records = []
    for d in found.values():
        h = d.held_out
        records.append({"name": d.name, "dtype": d.dtype.replace("float", "fp"), "peak": rate(d.peak_macs, "GMAC/s"),
                        "bandwidth_shown": rate(d.bandwidth, "GB/s"), "terms_count": len(d.rates) + len(d.costs),
                        "held": "not fitted" if h is None else f"{100 * h.within_10:.0f}% ({100 * h.proxy_within_10:.0f}%)",
                        "peak_macs": finite(d.peak_macs), "bandwidth": finite(d.bandwidth), "terms": d.terms_text(),
                        "holdout": h.method if h else "", "n": h.n if h else None,
                        "within_10": h.within_10 if h else None, "mean_error": h.mean_error if h else None,
                        "proxy_within_10": h.proxy_within_10 if h else None,
                        "proxy_mean_error": h.proxy_mean_error if h else None, "source": d.source,
                        "coverage": coverage_text(d), "cache": cache_text(d)})
    columns = [("name", "device", "text"), ("dtype", "dtype", "text"), ("peak", "peak", "text"),
               ("bandwidth_shown", "bandwidth", "text"), ("held", "±10% (MACs)", "text")]
    machine = keys("name", "dtype", "peak_macs", "bandwidth", "terms", "holdout", "n", "within_10", "mean_error",
                   "proxy_within_10", "proxy_mean_error", "source", "coverage", "cache")  # all a device file holds
    return View("Device profiles" + (f" in {file_name}" if file_name else " (tables/devices.csv)"), columns, machine,
                records,
                "±10%: the share of held-out (cross-validated) predictions within ±10% of the measured latency, and in "
                "brackets the MACs-only proxy's on the same splits; each profile's terms and source: -f csv or json. "
                "'mnetcost roofline MODEL -d NAME' predicts with one.")


def measurements(rows, output) -> View:
    """``timing.measure``: each configuration's latency with the noise of its measurement."""
    if rows and hasattr(rows[0], "layer"):
        return suite_measurements(rows, output)
    records = [vars(r) | {"config": f"{r.model} {r.alpha:g} {r.resolution}", "latency": f"{r.latency_ms:.3g}",
                          "median": f"{r.median_ms:.3g}", "iqr": f"{r.iqr_pct:.1f}", "sd": f"{r.pass_sd_pct:.1f}"}
               for r in rows]
    columns = [("config", "model α px", "long"), ("latency", "latency ms", "text"), ("median", "median ms", "text"),
               ("iqr", "IQR %", "text"), ("sd", "pass sd %", "text"), ("runs", "runs", "count")]
    machine = keys("model", "alpha", "resolution", "convention", "latency_ms", "median_ms", "iqr_pct", "pass_sd_pct",
                   "runs", "passes", "threads", "runtime", "host", "date")
    first = rows[0]
    caption = (f"{first.runtime}, {first.threads} thread(s), batch 1, float32, on {first.host}: latency = the median, over "
               f"{min(first.passes, 5)} interleaved groups of {first.passes} shuffled passes, of each group's fastest run; "
               "pass sd: the spread of those group figures (the noise of the latency itself); IQR: of single runs."
               + (f" Appended to {output}." if output else ""))
    return View("Measured latency", columns, machine, records, caption)


def suite_measurements(rows, output) -> View:
    """``suite.run``: each layer's time, the graph's, and the kernels the runtime ran for it."""
    records = [vars(r) | {"config": f"{r.model} {r.alpha:g} {r.resolution}", "latency": f"{r.latency_ms:.3g}",
                          "graph": f"{r.graph_ms:.3g}", "sd": f"{r.pass_sd_pct:.1f}"} for r in rows]
    columns = [("config", "model α px", "long"), ("layer", "layer", "long"), ("stratum", "kind", "long"),
               ("latency", "layer ms", "text"), ("graph", "graph ms", "text"), ("sd", "pass sd %", "text"),
               ("kernels", "kernels run", "long")]
    from .suite import COLUMNS

    first = rows[0]
    caption = (f"{len(rows)} layers, each its own graph, timed with {first.runtime}, {first.threads} thread(s), "
               f"{first.passes} passes; layer ms: the graph's time beyond the null graph's ({first.null_ms * 1e3:.1f} us), "
               "times its own kernels' share in the runtime's profile." + (f" Written to {output}." if output else ""))
    return View("Operator suite", columns, keys(*COLUMNS), records, caption)


def _choice_caption(records, shown, budget, dev, dtype, schedule) -> str:
    timed = dev is not None
    if not records:
        return f"No published checkpoint fits ({budget}): widen the budget." if budget else "No checkpoints."
    dev_note = ""
    if timed:
        dev_note = f" Latency predicted on {dev.name}" + (
            f" (held out: {dev.held_out})." if dev.held_out else " (a profile not fitted to measurements).")
    return (f"{len(records)} published checkpoints fit" + (f" ({budget})" if budget else "") +
            (f"; the {len(shown)} most accurate shown" if len(shown) < len(records) else "") +
            f"; best: Pareto-best, no other fitting checkpoint is both more accurate and "
            f"{'faster' if timed else 'cheaper in MACs'}. Peak B: activation bytes at the peak "
            f"({dtype if dtype else 'the device dtype' if timed else DEFAULT_DTYPE}, {schedule}). "
            "Each checkpoint's source, table and citation: -f csv or json."
            + dev_note + " Top-1 as published (tables/reference/accuracy.csv), never estimated.")


def choice(records, dev, limits: dict, dtype, schedule: str, all_rows: bool) -> View:
    """``explore.choose_records``: published checkpoints within a budget (``limits``: the budget options' texts), by
    top-1, predicted on ``dev`` (or None)."""
    budget = budget_text(**limits)
    timed = dev is not None
    records = [dict(r) for r in records]
    for rec in records:
        rec["best"] = "yes" if rec["pareto"] else ""
        if timed:
            rec["latency"] = round(rec["latency_ms"], 1)
        else:
            rec["latency_ms"] = None  # JSON null, not NaN
    shown = records if all_rows else records[:20]
    columns = [("checkpoint", "checkpoint", "long"), ("source", "source", "text"), ("top1", "top-1", "float")] + (
        [("latency", "ms", "decimal")] if timed else []) + [
        ("macs", "MACs", "count"), ("params", "params", "count"), ("peak_bytes", "peak B", "count"),
        ("best", "best", "text")]
    machine = keys("source", "checkpoint", "model", "alpha", "resolution", "convention", "classes", "top1", "top5",
                   "variant", "latency_ms", "macs", "params", "peak_bytes", "pareto", "citation",
                   *(("covered",) if records and "covered" in records[0] else ()))
    return View("Published checkpoints within the budget", columns, machine, records,
                _choice_caption(records, shown, budget, dev, dtype, schedule) + _beyond(records), shown=shown,
                whole="checkpoint",
                document=lambda rows: {"budget": budget, "device": device_document(dev) if timed else None,
                                       "rows": rows})


def verification(v) -> View:
    """``torch.verify``: every layer's parameters, MACs and output shape beside PyTorch's."""
    for row in v.rows:
        row["check"] = "ok" if row["ok"] else "DIFF"
    columns = [("name", "layer", "text"), ("params", "params", "count"), ("torch_params", "torch", "count"),
               ("macs", "MACs", "count"), ("torch_macs", "torch", "count"), ("torch_shape", "torch output", "text"),
               ("check", "", "text")]
    machine = keys("name", "op", "params", "torch_params", "macs", "torch_macs", "shape", "torch_shape", "ok")
    t = v.totals
    bad = len([r for r in v.rows if not r["ok"]])
    caption = (f"{'All' if not bad else len(v.rows) - bad} of {len(v.rows)} layers agree. Totals: mnetcost {t['params']:,} params, "
               f"{t['macs']:,} MACs; PyTorch {t['torch_params']:,} params, {t['torch_macs']:,} MACs "
               "(sum of parameter sizes; FlopCounterMode / 2).")
    title = f"verify {v.model} · alpha {v.alpha:g} · {v.resolution} px · {v.convention} · {v.classes} classes"
    return View(title, columns, machine, v.rows, caption, row_style=lambda r: None if r["ok"] else "bold red",
                document=lambda rows: {"model": v.model, "convention": v.convention, "alpha": v.alpha,
                                       "resolution": v.resolution, "classes": v.classes, "ok": v.ok, "totals": t,
                                       "layers": rows})
