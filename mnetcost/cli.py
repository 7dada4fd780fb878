"""The terminal front end: a thin typer layer over the library. Library errors become one line on
stderr and an exit code (2 for bad options, 1 for bad tables). No cost arithmetic happens here."""

from __future__ import annotations

import sys
from enum import Enum
from typing import List, Optional

import typer

from .errors import EXIT_DIFFERENCE, EXIT_INTERNAL, EnvironmentProblem, MnetcostError, UsageError

VERIFY_LIMIT = 2**26  # values in one tensor, and parameters, that verify will build (256 MB in float32)

app = typer.Typer(
    name="mnetcost",
    help="Analytical costs (mult-adds, parameters, activations) of the MobileNet family, layer by layer.",
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


class Spatial(str, Enum):
    exact = "exact"
    continuous = "continuous"


class Unit(str, Enum):
    macs = "macs"
    flops = "flops"


class By(str, Enum):
    layer = "layer"
    op = "op"
    block = "block"
    stage = "stage"
    part = "part"


class Dtype(str, Enum):
    float32 = "float32"
    float16 = "float16"
    int8 = "int8"


class Schedule(str, Enum):
    materialized = "materialized"
    layerwise = "layerwise"


UNIT_NOTE = {
    Unit.macs: "MACs = multiply-accumulates: one multiply-add is one MAC.",
    Unit.flops: "FLOPs = 2 x MACs: a multiply-add is two floating-point operations (one multiply, one add).",
}


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number") from None


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a whole number") from None


def _resolution(text: str):
    """PX, or HxW for a non-square input."""
    if "x" in text.lower():
        parts = text.lower().split("x")
        if len(parts) == 2:
            return f"{_int(parts[0])}x{_int(parts[1])}"
    return _int(text)


def _complete_models(incomplete: str):
    from .tables import model_names

    return [m for m in model_names() if m.startswith(incomplete)]


def _complete_conventions(incomplete: str):
    from .conventions import convention_names

    return [c for c in convention_names() if c.startswith(incomplete)]


# Options shared by several commands.
ALPHA = typer.Option(1.0, "--alpha", "-a", parser=_float, metavar="FLOAT", help="Width multiplier alpha (> 0).")
RHO = typer.Option(None, "--rho", parser=_float, metavar="FLOAT", help="Resolution multiplier rho (input = rho x 224).")
RESOLUTION = typer.Option(None, "--resolution", "-r", parser=_resolution, metavar="PX",
                          help="Input resolution in pixels, or HxW (e.g. 1024x2048); instead of --rho.")
CONVENTION = typer.Option("paper", "--convention", "-c", metavar="NAME", autocompletion=_complete_conventions,
                          help="Counting convention: paper, torchvision, keras, tf-slim, timm, timm-fused, or a "
                               "FLOP counter's (ptflops, ptflops-aten, fvcore, thop, torchinfo); "
                               "'mnetcost conventions' lists them.")
CLASSES = typer.Option(None, "--classes", "-k", parser=_int, metavar="K", help="Classifier classes (default: the convention's).")
SPATIAL = typer.Option(Spatial.exact, "--spatial", help="exact: whole-pixel SAME sizes; continuous: rho x D_F as a real number.")
FORMAT = typer.Option(Format.table, "--format", "-f", help="table (rich), csv, json or markdown (machine formats: data only).")
UNIT = typer.Option(Unit.macs, "--unit", "-u", help="Show counts as MACs (multiply-adds) or FLOPs (2 x MACs).")
NO_TOP = typer.Option(False, "--no-top", help="The base network only, without the classifier top (Keras' include_top=False).")
HEAD = typer.Option(None, "--head", metavar="WIDTHS",
                    help="Replace the top: global pooling, dense layers of these widths with ReLU, the classifier (e.g. 320,320).")
AUX = typer.Option(False, "--aux", help="Include the rows of the auxiliary head (DeepLabV3's FCN head on bneck4).")
REDUCED_TAIL = typer.Option(False, "--reduced-tail",
                            help="Halve the last stage's widths as the table's reduced-tail line says (V3's RF2 / dagger).")
SET = typer.Option(None, "--set", metavar="NAME=WIDTH",
                   help="Set a table param (a '# param:' line), e.g. --set f=256 for a head's filters; repeatable.")
DEVICE = typer.Option(None, "--device", "-d", metavar="NAME",
                      help="A device profile: a shipped one ('mnetcost devices' lists them), or one in --device-file.")
DEVICE_FILE = typer.Option(None, "--device-file", metavar="FILE",
                           help="A CSV of device profiles, e.g. written by 'mnetcost calibrate -o FILE'.")
MODEL = typer.Argument(..., metavar="MODEL", autocompletion=_complete_models,
                       help="A shipped table (v1, v2, v3-large, ...; see 'mnetcost models') or a path to a CSV table.")


def _version(value: bool):
    if value:
        from . import __version__

        typer.echo(f"mnetcost {__version__}")
        raise typer.Exit(0)


@app.callback(invoke_without_command=True)
def _root(ctx: typer.Context,
          version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")):
    """Analytical costs of the MobileNet family. Example: mnetcost table v2 --alpha 0.75 --rho 0.714

    Exit codes: 0 success, 1 a malformed table, 2 a bad option or argument, 3 the environment (a missing
    optional dependency, output that cannot be written), 4 verify found a difference, 70 an internal error."""
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


@app.command()
def conventions(fmt: Format = FORMAT):
    """Every counting convention: the families it has rules for, what it reproduces and its rules.

    Example: mnetcost conventions
    """
    from .conventions import get_convention, convention_names

    records = []
    for name in convention_names():
        rules = get_convention(name).rules_by_family
        first = next(iter(rules.values()))
        records.append({"convention": name, "families": ", ".join(rules), "classes": first.classes,
                        "batchnorm": first.bn_params, "rules": " | ".join(f"{f}: {r.note}" for f, r in rules.items())})
    columns = [("convention", "convention", "text"), ("families", "families", "long"), ("rules", "what it reproduces, its rules", "long")]
    machine = [(k, k, "") for k in ("convention", "families", "classes", "batchnorm", "rules")]
    _emit(fmt, "Counting conventions (tables/conventions.csv)", columns, machine, records,
          "batchnorm: values per BatchNorm channel counted as parameters. Use one with --convention NAME.")


MIN_WIDTH = 60


def _width():
    """The terminal's width for rich tables: COLUMNS when it is a usable number, never below MIN_WIDTH (COLUMNS=0
    would print nothing)."""
    import os

    text = os.environ.get("COLUMNS", "")
    if text.strip().isdigit() and int(text) < MIN_WIDTH:
        return MIN_WIDTH
    return None


def _terminal_width() -> int:
    import shutil

    return shutil.get_terminal_size((80, 24)).columns


def _print(fmt: Format, table_fn, csv_fn, json_fn, md_fn) -> None:
    """Write one command's output in the chosen format; only rich tables go through rich."""
    if fmt is Format.table:
        from rich.console import Console

        class _Console(Console):
            def on_broken_pipe(self):  # rich would exit 1; a closed pipe (| head) is a normal end
                raise BrokenPipeError

        console = _Console(width=_width())
        from . import render

        render.WIDTH = console.width
        for item in table_fn():  # a no-wrap text (citations) is printed whole, whatever the width
            console.print(item, soft_wrap=bool(getattr(item, "no_wrap", False)))
    else:
        sys.stdout.write({Format.csv: csv_fn, Format.json: json_fn, Format.markdown: md_fn}[fmt]())


def _emit(fmt: Format, title: str, columns, machine, records, caption: str = "", document=None, extra=(),
          shown=None, row_style=None, before=()) -> None:
    """A command's usual output: ``before`` renderables, a rich table of ``columns`` (of ``shown``, default
    ``records``) and ``extra`` renderables; or ``machine`` columns of ``records`` as CSV or Markdown; or, as
    JSON, ``document(rows)`` (default ``{"rows": rows}``)."""
    from . import render

    shown = records if shown is None else shown
    document = document or (lambda rows: {"rows": rows})
    _print(fmt, lambda: [*before, render.records_table(title, columns, shown, caption, row_style=row_style), *extra],
           lambda: render.records_csv(machine, records),
           lambda: render.to_json_document(document(render.records_dicts(machine, records))),
           lambda: render.records_markdown(title.replace("\n", " — "), machine, shown, caption))


def _unit_factor(unit: Unit) -> int:
    return 2 if unit is Unit.flops else 1


def _unit_label(unit: Unit) -> str:
    return "FLOPs" if unit is Unit.flops else "MACs"


@app.command()
def table(
    model: str = MODEL,
    alpha: float = ALPHA,
    rho: Optional[float] = RHO,
    resolution: Optional[str] = RESOLUTION,
    convention: str = CONVENTION,
    classes: Optional[int] = CLASSES,
    spatial: Spatial = SPATIAL,
    no_top: bool = NO_TOP,
    head: Optional[str] = HEAD,
    aux: bool = AUX,
    reduced_tail: bool = REDUCED_TAIL,
    set_: Optional[List[str]] = SET,
    by: By = typer.Option(By.layer, "--by", help="layer (every primitive layer), or totals per op type, block, stage or part (a head table's backbone and head)."),
    unit: Unit = UNIT,
    fmt: Format = FORMAT,
):
    """Per-layer mult-adds and parameters of MODEL, with totals, or their breakdown by op type or block.

    Example: mnetcost table v2 --alpha 0.75 --rho 0.714
    Example: mnetcost table v1 --by op    (V1 Table 2: shares per op type)
    Example: mnetcost table v1 -c keras --head 320,320 -k 2   (a 2-class head)
    """
    from . import render
    from .engine import cost

    result = cost(model, alpha=alpha, rho=rho, resolution=resolution, convention=convention,
                  classes=classes, spatial=spatial.value, top=not no_top, head=_head(head),
                  aux=aux, reduced_tail=reduced_tail, symbols=_symbols(set_))
    k = _unit_factor(unit)
    note = result.rules.note
    if by is By.layer:
        def rich():
            return [render.rich_table(result, note, unit_factor=k, unit_label=_unit_label(unit), unit_note=UNIT_NOTE[unit])]

        def as_json():
            doc = result.to_dict()
            if unit is Unit.flops:
                doc["totals"]["flops"] = 2 * doc["totals"]["macs"]
                for layer in doc["layers"]:
                    layer["flops"] = 2 * layer["macs"]
            return render.to_json_document(doc)

        _print(fmt, rich, lambda: render.to_csv(result, unit_factor=k if unit is Unit.flops else None),
               as_json, lambda: render.to_markdown(result))
        return
    frame = {By.op: result.by_op, By.block: result.by_block, By.stage: result.by_stage, By.part: result.by_part}[by]()
    records = [{by.value: key, "count": int(row["macs"]) * k, "macs": int(row["macs"]), "params": int(row["params"]),
                "weights": int(row["weights"]), "macs_share": row["macs_share"], "params_share": row["params_share"],
                "weights_share": row["weights_share"]} for key, row in frame.iterrows()]
    label = _unit_label(unit)
    columns = [(by.value, by.value, "text"), ("count", label, "count"), ("macs_share", f"% {label}", "percent"),
               ("params", "params", "count"), ("params_share", "% params", "percent"),
               ("weights_share", "% weights", "percent")]
    machine = [(by.value, by.value, "text"), ("macs", "macs", "count")] + (
        [("count", "flops", "count")] if unit is Unit.flops else []) + [
        ("params", "params", "count"), ("weights", "weights", "count"), ("macs_share", "macs_share", "float"),
        ("params_share", "params_share", "float"), ("weights_share", "weights_share", "float")]
    title = render.describe(result) + f"\nby {by.value}"
    caption = (f"Total: {result.macs:,} MACs · {result.params:,} params. % weights leaves biases and BatchNorm "
               f"out (as V1 Table 2 does).\n{UNIT_NOTE[unit]}")
    _emit(fmt, title, columns, machine, records, caption,
          document=lambda rows: {**_config(result), "by": by.value, "rows": rows})


def _config(result) -> dict:
    return {"model": result.model, "alpha": result.alpha, "rho": result.rho, "resolution": result.resolution,
            "convention": result.convention, "classes": result.classes, "spatial": result.spatial,
            "totals": {"macs": result.macs, "params": result.params}}


@app.command()
def models(unit: Unit = UNIT, fmt: Format = FORMAT):
    """Every shipped table: what it is, its source, its layer count and totals at alpha 1, 224 px (paper convention).

    Example: mnetcost models
    """
    from .explore import models as catalogue

    records = catalogue().to_dict("records")
    for rec in records:
        rec["count"] = rec["macs"] * _unit_factor(unit)
        rec["resolution"] = int(rec["resolution"]) if not isinstance(rec["resolution"], tuple) else rec["resolution"]
    wide = (_width() or _terminal_width()) >= 110  # the source column only where it fits without breaking words
    columns = [("name", "model", "text"), ("title", "what", "long")] + ([("ref", "source", "long")] if wide else []) + [
               ("resolution", "px", "float")] + ([("layers", "layers", "float")] if wide else []) + [
               ("count", _unit_label(unit), "count"), ("params", "params", "count")]
    machine = [("name", "name", ""), ("title", "title", ""), ("ref", "ref", ""), ("resolution", "resolution", ""),
               ("layers", "layers", ""), ("macs", "macs", "")] + ([("count", "flops", "")] if unit is Unit.flops else []) + [
               ("params", "params", ""), ("family", "family", ""), ("source", "source", "")]
    caption = ("Layers: conv, depthwise, pointwise and FC layers. Totals at alpha 1 and each table's resolution, paper "
               f"convention, the table's classes. Sources and layer counts: a terminal of 110 columns or more; full citations: "
               f"--format csv or json. {UNIT_NOTE[unit]}")
    _emit(fmt, "mnetcost tables", columns, machine, records, caption, document=lambda rows: {"models": rows})


def _symbols(items: Optional[List[str]]):
    """['f=256'] -> {'f': 256}."""
    if not items:
        return None
    out = {}
    for item in items:
        name, sep, value = (t.strip() for t in item.partition("="))
        if not sep or not name or not value.isascii() or not value.isdigit():
            raise UsageError(f"--set: expected NAME=WIDTH, got {item!r}")
        out[name] = int(value)
    return out


def _head(text: Optional[str]):
    return None if text is None else tuple(_list(text, "--head", int))


def _list(values: Optional[str], name: str, kind=float):
    from .explore import parse_values

    return parse_values(values, name, kind) if values is not None else None


@app.command()
def compare(
    models_: List[str] = typer.Argument(..., metavar="MODEL...", autocompletion=_complete_models,
                                        help="One or more tables (names or CSV paths)."),
    alpha: Optional[str] = typer.Option(None, "--alpha", "-a", metavar="LIST", help="Width multipliers: 0.5,0.75,1.0 or START:STOP:STEP."),
    resolution: Optional[str] = typer.Option(None, "--resolution", "-r", metavar="LIST", help="Resolutions in pixels: 128,160,224 or START:STOP:STEP."),
    convention: str = typer.Option("paper", "--convention", "-c", metavar="LIST", autocompletion=_complete_conventions,
                                   help="Conventions: paper,torchvision,keras,tf-slim."),
    classes: Optional[int] = CLASSES,
    spatial: Spatial = SPATIAL,
    no_top: bool = NO_TOP,
    head: Optional[str] = HEAD,
    aux: bool = AUX,
    reduced_tail: bool = REDUCED_TAIL,
    set_: Optional[List[str]] = SET,
    unit: Unit = UNIT,
    fmt: Format = FORMAT,
):
    """Side by side: several models, configurations or conventions. For several conventions of one
    configuration, the difference to the first is split into its causes.

    Example: mnetcost compare v1 v2 v3-large v3-small
    Example: mnetcost compare v2 --alpha 0.5,0.75,1.0
    Example: mnetcost compare v2 --convention paper,torchvision,keras,tf-slim
    """
    from . import render
    from .explore import costs as run_compare, explain

    alphas = _list(alpha, "--alpha") or [1.0]
    resolutions = _list(resolution, "--resolution", int) or [None]
    conventions = [c.strip() for c in convention.split(",")]
    if not all(conventions):
        raise UsageError(f"--convention: empty name in {convention!r}")
    results = run_compare(models_, alphas, resolutions, conventions, classes=classes, spatial=spatial.value,
                          top=not no_top, head=_head(head),
                  aux=aux, reduced_tail=reduced_tail, symbols=_symbols(set_))
    k, label = _unit_factor(unit), _unit_label(unit)
    base = results[0]
    records = [{"model": r.model, "alpha": r.alpha, "resolution": r.resolution, "convention": r.convention,
                "classes": r.classes, "count": r.macs * k, "macs": r.macs, "params": r.params, "trainable": r.trainable,
                "d_count": (r.macs - base.macs) * k, "d_params": r.params - base.params} for r in results]
    columns = [("model", "model", "text"), ("alpha", "α", "float"), ("resolution", "px", "float"),
               ("convention", "convention", "text"), ("classes", "classes", "float"), ("count", label, "count"),
               ("params", "params", "count"), ("d_count", f"Δ {label}", "signed"), ("d_params", "Δ params", "signed")]
    if len({r.classes for r in results}) == 1:
        columns.remove(("classes", "classes", "float"))
    machine = [("model", "", ""), ("alpha", "", ""), ("resolution", "", ""), ("convention", "", ""), ("classes", "", ""),
               ("macs", "", "")] + ([("count", "flops", "")] if unit is Unit.flops else []) + [("params", "", ""), ("trainable", "", "")]
    machine = [(key, header or key, kind) for key, header, kind in machine]
    explanations = []
    if len(conventions) > 1 and len(models_) == 1 and len(alphas) == 1 and len(resolutions) == 1:
        for other in conventions[1:]:
            frame = explain(models_[0], conventions[0], other, alpha=alphas[0], resolution=resolutions[0],
                            classes=classes, spatial=spatial.value, top=not no_top, head=_head(head),
                  aux=aux, reduced_tail=reduced_tail, symbols=_symbols(set_))
            explanations.append((other, frame))
    caption = f"Δ: difference to the first row. {UNIT_NOTE[unit]}"

    def rich():
        out = [render.records_table("compare", columns, records, caption)]
        for other, frame in explanations:
            rows = [{"cause": row["cause"], "count": row["macs"] * k, "params": row["params"]} for _, row in frame.iterrows()]
            rows.append({"cause": "total", "count": (frame.attrs["other_macs"] - frame.attrs["base_macs"]) * k,
                         "params": frame.attrs["other_params"] - frame.attrs["base_params"]})
            out.append(render.records_table(
                f"why {other} differs from {conventions[0]} ({models_[0]})",
                [("cause", "cause", "text"), ("count", f"Δ {label}", "signed"), ("params", "Δ params", "signed")], rows,
                "One rule changed at a time, in this order; the parts add up to the total."))
        return out

    def as_json():
        return render.to_json_document({
            "rows": render.records_dicts(machine, records),
            "explanations": [{"base": conventions[0], "other": other, "causes": frame.to_dict("records")}
                             for other, frame in explanations]})

    def markdown():
        text = render.records_markdown("compare", machine, records, caption)
        for other, frame in explanations:
            text += "\n" + render.records_markdown(
                f"why {other} differs from {conventions[0]}", [("cause", "cause", "text"), ("macs", "Δ macs", "signed"),
                                                              ("params", "Δ params", "signed")], frame.to_dict("records"))
        return text

    _print(fmt, rich, lambda: render.records_csv(machine, records), as_json, markdown)


def _pair(text: Optional[str], name: str, kind=float, default=None):
    """'X' (both sides) or 'X,Y' (A and B)."""
    if text is None:
        return (default, default)
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) > 2 or not all(parts) or any(":" in p for p in parts):  # a range is not a pair
        raise UsageError(f"{name}: one value for both sides or two separated by a comma (diff compares two "
                         f"configurations), got {text!r}")
    if kind is str:
        return (parts[0], parts[-1])
    values = _list(",".join(parts), name, kind)
    return (values[0], values[-1])


@app.command()
def diff(
    model_a: str = typer.Argument(..., metavar="A", autocompletion=_complete_models, help="A table (name or CSV path)."),
    model_b: Optional[str] = typer.Argument(None, metavar="[B]", autocompletion=_complete_models,
                                            help="Another table (default: A, to compare two configurations)."),
    alpha: Optional[str] = typer.Option(None, "--alpha", "-a", metavar="A[,B]", help="Width multiplier, for both or for A and B."),
    resolution: Optional[str] = typer.Option(None, "--resolution", "-r", metavar="A[,B]", help="Resolution in pixels, for both or for A and B."),
    convention: Optional[str] = typer.Option(None, "--convention", "-c", metavar="A[,B]", autocompletion=_complete_conventions,
                                             help="Convention, for both or for A and B (default paper)."),
    classes: Optional[int] = CLASSES,
    spatial: Spatial = SPATIAL,
    aux: bool = AUX,
    reduced_tail: bool = REDUCED_TAIL,
    set_: Optional[List[str]] = SET,
    by: By = typer.Option(By.block, "--by", help="block (default) or layer; op and stage are also accepted."),
    all_rows: bool = typer.Option(False, "--all", help="Also list the rows that do not change."),
    unit: Unit = UNIT,
    fmt: Format = FORMAT,
):
    """What changes from A to B: per block or per layer, and the total delta. A and B are tables, or
    two configurations of one table.

    Example: mnetcost diff v3-large-v2tail v3-large     (V3's efficient last stage)
    Example: mnetcost diff v2 --alpha 1.0,0.75 --by layer
    """
    from .explore import diff as run_diff

    if by in (By.op, By.stage):
        raise UsageError("diff --by takes block or layer")
    d = run_diff(model_a, model_b, alpha=_pair(alpha, "--alpha", float, 1.0),
                 resolution=_pair(resolution, "--resolution", int),
                 convention=_pair(convention, "--convention", str, "paper"),
                 classes=classes, spatial=spatial.value, aux=aux, reduced_tail=reduced_tail, symbols=_symbols(set_))
    frame, key = {By.layer: (d.layers, "name"), By.part: (d.parts, "part")}.get(by, (d.blocks, "block"))
    t = d.totals
    k, label = _unit_factor(unit), _unit_label(unit)
    records = frame.to_dict("records")
    for rec in records:
        rec["ca"], rec["cb"], rec["dc"] = rec["macs_a"] * k, rec["macs_b"] * k, rec["d_macs"] * k
    shown = records if all_rows else [r for r in records if r["change"] != "same"]
    ra, rb = t["a"], t["b"]
    side = lambda r: f"{r.model} · alpha {r.alpha:g} · {r.resolution} px · {r.convention}"
    columns = [(key, by.value, "text"), ("change", "", "text"), ("ca", f"{label} A", "count"), ("cb", f"{label} B", "count"),
               ("dc", f"Δ {label}", "signed"), ("d_params", "Δ params", "signed")]
    machine = [(key, key, ""), ("change", "change", ""), ("macs_a", "macs_a", ""), ("macs_b", "macs_b", ""),
               ("d_macs", "d_macs", ""), ("params_a", "params_a", ""), ("params_b", "params_b", ""),
               ("d_params", "d_params", "")]
    same = len(records) - sum(r["change"] != "same" for r in records)
    caption = (f"Total: {t['macs_a'] * k:,} -> {t['macs_b'] * k:,} {label} ({(t['d_macs']) * k:+,}); "
               f"{t['params_a']:,} -> {t['params_b']:,} params ({t['d_params']:+,})."
               + ("" if all_rows or not same else f" {same} unchanged {by.value}s not shown (--all).")
               + f" {UNIT_NOTE[unit]}")
    title = f"diff\nA: {side(ra)}\nB: {side(rb)}"
    _emit(fmt, title, columns, machine, records, caption, shown=shown,
          document=lambda rows: {"a": _config(ra), "b": _config(rb), "by": by.value,
                                 "totals": {k2: v for k2, v in t.items() if k2 not in ("a", "b")}, "rows": rows})


def _duration(text: Optional[str], name: str):
    from .latency import parse_duration

    return None if text is None else parse_duration(text, name)


def _quantity(text: Optional[str], name: str):
    from .latency import parse_rate

    return None if text is None else parse_rate(text, name)


@app.command()
def fit(
    model: str = MODEL,
    max_macs: Optional[str] = typer.Option(None, "--max-macs", metavar="N", help="At most this many MACs, e.g. 150M."),
    max_params: Optional[str] = typer.Option(None, "--max-params", metavar="N", help="At most this many parameters, e.g. 2M."),
    max_peak_memory: Optional[str] = typer.Option(None, "--max-peak-memory", metavar="BYTES",
                                                  help="At most this many bytes of activations at the peak, e.g. 512K (K = 1000)."),
    dtype: Dtype = typer.Option(Dtype.int8, "--dtype", help="Bytes per activation value for the memory budget."),
    schedule: Schedule = typer.Option(Schedule.materialized, "--schedule", help="materialized (V2 paper) or layerwise."),
    alpha: str = typer.Option("0.25:1.4:0.05", "--alpha", "-a", metavar="LIST", help="Width multipliers to search."),
    resolution: str = typer.Option("96:320:16", "--resolution", "-r", metavar="LIST", help="Resolutions to search."),
    convention: str = CONVENTION,
    classes: Optional[int] = CLASSES,
    aux: bool = AUX,
    reduced_tail: bool = REDUCED_TAIL,
    set_: Optional[List[str]] = SET,
    max_latency: Optional[str] = typer.Option(None, "--max-latency", metavar="TIME",
                                              help="At most this latency on --device, e.g. 20ms (a bare number is ms)."),
    device: Optional[str] = DEVICE,
    device_file: Optional[str] = DEVICE_FILE,
    all_rows: bool = typer.Option(False, "--all", help="List every configuration within the budget, not only the Pareto-best."),
    unit: Unit = UNIT,
    fmt: Format = FORMAT,
):
    """The Pareto-best alpha x resolution configurations within a budget of MACs, parameters, peak
    activation memory and latency on a device (none beats another on both alpha and resolution), with their costs.

    Example: mnetcost fit v2 --max-macs 150M --max-params 2M --max-peak-memory 512K --dtype int8
    Example: mnetcost fit v3-large --max-latency 20ms --device pixel1-big-core
    """
    from .explore import fit as run_fit

    if max_macs is None and max_params is None and max_peak_memory is None and max_latency is None:
        raise UsageError("give a budget: --max-macs, --max-params, --max-peak-memory and/or --max-latency")
    frame = run_fit(model, _list(alpha, "--alpha"), _list(resolution, "--resolution", int),
                    max_macs=_quantity(max_macs, "--max-macs"), max_params=_quantity(max_params, "--max-params"),
                    max_peak_bytes=_quantity(max_peak_memory, "--max-peak-memory"),
                    max_latency=_duration(max_latency, "--max-latency"), device=device, device_file=device_file,
                    dtype=dtype.value, schedule=schedule.value, convention=convention, classes=classes, aux=aux,
                    reduced_tail=reduced_tail, symbols=_symbols(set_))
    timed = "latency_ms" in frame
    shown = frame if all_rows else frame[frame["pareto"]].sort_values("alpha")
    records = shown.to_dict("records")
    k, label = _unit_factor(unit), _unit_label(unit)
    for rec in records:
        rec["count"] = rec["macs"] * k
        rec["best"] = "yes" if rec["pareto"] else ""
        if timed:
            rec["latency"] = round(rec["latency_ms"], 2)
    columns = [("alpha", "α", "float"), ("resolution", "px", "float"), ("count", label, "count"),
               ("params", "params", "count"), ("peak_bytes", f"peak ({dtype.value})", "count")] + (
        [("latency", "ms", "float")] if timed else []) + ([("best", "Pareto", "text")] if all_rows else [])
    machine = [(key, key, "") for key in ("alpha", "resolution", "macs", "params", "peak_bytes")
               + (("latency_ms",) if timed else ()) + ("pareto",)]
    budget = ", ".join(x for x in (max_macs and f"MACs <= {max_macs}", max_params and f"params <= {max_params}",
                                   max_peak_memory and f"peak <= {max_peak_memory}B ({dtype.value}, {schedule.value})",
                                   max_latency and f"latency <= {max_latency} on {frame.attrs['device'].name}")
                       if x)
    caption = (f"{len(frame)} of the searched configurations fit ({budget}); "
               f"{int(frame['pareto'].sum())} are Pareto-best. {UNIT_NOTE[unit]}")
    if frame.empty:
        caption = f"No configuration fits ({budget}): widen the search or the budget."
    _emit(fmt, f"{model}: configurations within the budget", columns, machine, records, caption,
          document=lambda rows: {"model": model, "convention": convention, "budget": budget, "rows": rows})


@app.command()
def sweep(
    model: str = MODEL,
    alpha: str = typer.Option(..., "--alpha", "-a", metavar="LIST", help="Width multipliers: 0.25,0.5,0.75,1.0 or START:STOP:STEP."),
    resolution: str = typer.Option(..., "--resolution", "-r", metavar="LIST", help="Resolutions in pixels: 128,160,192,224 or START:STOP:STEP."),
    convention: str = CONVENTION,
    classes: Optional[int] = CLASSES,
    spatial: Spatial = SPATIAL,
    aux: bool = AUX,
    reduced_tail: bool = REDUCED_TAIL,
    set_: Optional[List[str]] = SET,
    unit: Unit = UNIT,
    fmt: Format = FORMAT,
):
    """The alpha x resolution grid of mult-adds and parameters.

    Example: mnetcost sweep v1 --alpha 0.25,0.5,0.75,1.0 --resolution 128:224:32 --convention tf-slim
    """
    from . import render
    from .explore import sweep as run_sweep

    alphas, resolutions = _list(alpha, "--alpha"), _list(resolution, "--resolution", int)
    frame = run_sweep(model, alphas, resolutions, convention=convention, spatial=spatial.value, classes=classes,
                      aux=aux, reduced_tail=reduced_tail, symbols=_symbols(set_))
    k, label = _unit_factor(unit), _unit_label(unit)
    records = frame.to_dict("records")
    machine = [("alpha", "alpha", ""), ("resolution", "resolution", ""), ("macs", "macs", "")] + (
        [("flops", "flops", "")] if unit is Unit.flops else []) + [("params", "params", "")]
    for rec in records:
        rec["flops"] = 2 * rec["macs"]

    grid = [{"alpha": a, **{str(res): None for res in resolutions}} for a in dict.fromkeys(frame["alpha"])]
    by_alpha = {row["alpha"]: row for row in grid}
    params = {}
    for rec in records:
        by_alpha[rec["alpha"]][str(rec["resolution"])] = rec["macs"] * k
        params[rec["alpha"]] = rec["params"]
    for row in grid:
        row["params"] = params[row["alpha"]]
    columns = [("alpha", "alpha", "float")] + [(str(r), f"{r} px", "count") for r in resolutions] + [("params", "params", "count")]
    title = f"{model}: {label} by alpha (rows) and resolution (columns) · convention {convention}"
    caption = f"Params do not depend on the resolution. {UNIT_NOTE[unit]}"

    _print(fmt, lambda: [render.records_table(title, columns, grid, caption)], lambda: render.records_csv(machine, records),
           lambda: render.to_json_document({"model": model, "convention": convention, "spatial": spatial.value,
                                            "rows": render.records_dicts(machine, records)}),
           lambda: render.records_markdown(title, [(key, header, "") for key, header, _ in columns], grid, caption))


@app.command()
def ratio(
    kernel: int = typer.Option(..., "--kernel", parser=_int, metavar="D_K", help="Kernel size D_K."),
    c_in: int = typer.Option(..., "--in", parser=_int, metavar="M", help="Input channels M."),
    c_out: int = typer.Option(..., "--out", parser=_int, metavar="N", help="Output channels N."),
    size: float = typer.Option(..., "--size", parser=_float, metavar="D_F", help="Feature map size D_F."),
    alpha: float = ALPHA,
    rho: float = typer.Option(1.0, "--rho", parser=_float, metavar="FLOAT", help="Resolution multiplier rho."),
    spatial: Spatial = typer.Option(Spatial.continuous, "--spatial", help="continuous (the paper's rho x D_F) or exact (whole channels and pixels)."),
    unit: Unit = UNIT,
    fmt: Format = FORMAT,
):
    """One layer: standard vs depthwise separable convolution, with the paper's formulas (V1 Table 3).

    Example: mnetcost ratio --kernel 3 --in 512 --out 512 --size 14 --alpha 0.75 --rho 0.714
    """
    from . import render
    from .ratios import compare_layer

    k, label = _unit_factor(unit), _unit_label(unit)
    steps = [("Convolution", 1.0, 1.0, "standard"), ("Depthwise Separable Conv", 1.0, 1.0, "separable")]
    if alpha != 1.0:
        steps.append((f"alpha = {alpha:g}", alpha, 1.0, "separable"))
    if rho != 1.0:
        steps.append((f"rho = {rho:g}", alpha, rho, "separable"))
    records = []
    for name, a, r, kind in steps:
        c = compare_layer(kernel, c_in, c_out, size, alpha=a, rho=r, spatial=spatial.value)
        macs, params = (c.macs_standard, c.params_standard) if kind == "standard" else (c.macs_separable, c.params_separable)
        records.append({"layer": name, "alpha": a, "rho": r, "kind": kind, "count": macs * k, "macs": macs,
                        "params": params, "m_count": macs * k / 1e6, "m_params": params / 1e6})
    last = compare_layer(kernel, c_in, c_out, size, alpha=alpha, rho=rho, spatial=spatial.value)
    M, N, D = last.c_in, last.c_out, last.size
    num = lambda x: f"{x:g}"
    big = lambda x: f"{x:,.0f}" if float(x).is_integer() else f"{x:,.1f}"
    formulas = [
        "standard   = D_K·D_K·αM·αN·ρD_F·ρD_F",
        f"           = {kernel}·{kernel}·{num(M)}·{num(N)}·{num(D)}·{num(D)} = {big(last.macs_standard)}",
        "separable  = D_K·D_K·αM·ρD_F·ρD_F + αM·αN·ρD_F·ρD_F",
        f"           = {kernel}·{kernel}·{num(M)}·{num(D)}·{num(D)} + {num(M)}·{num(N)}·{num(D)}·{num(D)}",
        f"           = {big(last.macs_depthwise)} + {big(last.macs_pointwise)} = {big(last.macs_separable)}",
        f"ratio      = separable / standard = {last.ratio:.6f}",
        f"closed form: 1/N + 1/D_K² = 1/{num(N)} + 1/{kernel * kernel} = {last.closed_form:.6f}",
    ]
    columns = [("layer", "layer / modification", "text"), ("m_count", f"million {label}", "float"),
               ("m_params", "million params", "float")]
    machine = [("layer", "layer", ""), ("alpha", "alpha", ""), ("rho", "rho", ""), ("kind", "kind", ""),
               ("macs", "macs", "")] + ([("count", "flops", "")] if unit is Unit.flops else []) + [("params", "params", "")]
    for rec in records:
        rec["m_count"] = float(f"{rec['m_count']:.3g}")
        rec["m_params"] = round(rec["m_params"], 2)

    def rich():
        title = f"D_K = {kernel}, M = {c_in}, N = {c_out}, D_F = {size:g} ({spatial.value})"
        return [render.records_table(title, columns, records, "Rows are cumulative, as in V1 Table 3 (mult-adds to 3 significant digits, params to 2 decimals). "
                                     + UNIT_NOTE[unit]), "\n".join(formulas)]

    _print(fmt, rich, lambda: render.records_csv(machine, records),
           lambda: render.to_json_document({
               "inputs": {"kernel": kernel, "in": c_in, "out": c_out, "size": size, "alpha": alpha, "rho": rho,
                          "spatial": spatial.value},
               "rows": render.records_dicts(machine, records),
               "formulas": formulas, "ratio": last.ratio, "closed_form": last.closed_form}),
           lambda: render.records_markdown("ratio", machine, records, "```\n" + "\n".join(formulas) + "\n```"))


@app.command()
def reference(
    model: Optional[str] = typer.Argument(None, metavar="[MODEL]", autocompletion=_complete_models,
                                          help="v1, v2, v3-large, v3-small (their variants included) or any table name."),
    per_layer: bool = typer.Option(False, "--per-layer", help="Also list the TF-slim docstring's per-layer figures."),
    fmt: Format = FORMAT,
):
    """Every published figure beside what mnetcost computes under its source's convention, with the
    difference, a verdict (match / erratum / unexplained) and its reason, and the citation.

    Example: mnetcost reference v2
    """
    from . import render
    from .reference import SOURCE_LABELS, figures

    figs = figures(model, per_layer=per_layer)
    records = []
    for f in figs:
        shown = f.computed_as_printed
        records.append({
            "row": f.row, "source": f.source, "model": f.published_model, "alpha": f.alpha, "resolution": f.resolution,
            "variant": f.variant, "quantity": f.quantity, "published": f.published,
            "mnetcost": None if shown is None else str(shown), "computed": f.computed, "difference": f.difference,
            "table": f.model, "convention": f.convention, "rounding": f.rounding, "verdict": f.verdict,
            "expected": f.expected, "reason": f.reason, "citation": f.citation,
            "label": SOURCE_LABELS.get(f.source, f.source), "what": "MACs" if f.quantity == "macs" else "params",
            "shown": f"{'MACs' if f.quantity == 'macs' else 'params'} {f.published}{'' if f.rounding == 'exact' else ' M'}",
            "config": " ".join(x for x in (f.model or f.published_model, f.alpha, f.resolution,
                                           f.variant.replace("layer:MobilenetV1/", "")) if x),
        })
    notes: dict[str, int] = {}
    for rec in records:  # for people: identifiers' underscores as spaces, so that a narrow terminal wraps between words
        verdict = rec["verdict"].replace("_", " ")
        rec["note_ref"] = f"{verdict} [{notes.setdefault(rec['reason'], len(notes) + 1)}]" if rec["reason"] else verdict
        rec["config_view"] = rec["config"].replace("_", " ")
    columns = [("label", "source", "long"), ("config_view", "table α px", "long"), ("shown", "published", "long"),
               ("mnetcost", "mnetcost", "text"), ("difference", "Δ", "signed"), ("note_ref", "verdict", "long")]
    machine = [(key, key, "") for key in ("row", "source", "model", "alpha", "resolution", "variant", "quantity",
                                            "published", "mnetcost", "computed", "difference", "table", "convention",
                                            "rounding", "verdict", "expected", "reason", "citation")]
    counts = {v: sum(r["verdict"] == v for r in records) for v in ("match", "erratum", "unexplained", "not_computed")}
    caption = (f"{len(records)} figures: " + ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in counts.items() if n)
               + ". mnetcost's value is printed as the source prints (millions, same decimals, its rounding);"
               " Δ = exact count minus the published figure."
               + ("" if per_layer else " The TF-slim docstring's per-layer rows: --per-layer."))
    title = f"published figures{' for ' + model if model else ''}"
    citations = dict.fromkeys((rec["source"], rec["citation"]) for rec in records)

    def rich():
        from rich.text import Text

        footnotes = "\n".join(f"[{n}] {reason}" for reason, n in notes.items())
        sources = "\n".join(f"{src}: {cite}" for src, cite in citations)
        # citations are long unbreakable words (URLs, commit hashes): printed whole, each on its own line
        return [render.records_table(title, columns, records, caption), Text(footnotes),
                Text("Sources:\n" + sources, no_wrap=True, overflow="ignore")]

    _print(fmt, rich,
           lambda: render.records_csv(machine, records),
           lambda: render.to_json_document({"figures": render.records_dicts(machine, records)}),
           lambda: render.records_markdown(title, machine, records))


def _bytes(n) -> str:
    from .render import human

    return human(n) + "B" if n >= 1000 else f"{int(n)} B"


class Optimizer(str, Enum):
    sgd = "sgd"
    momentum = "momentum"
    adam = "adam"


class TrainDtype(str, Enum):
    float32 = "float32"
    float16 = "float16"


def _freeze(text):
    """--freeze backbone | N."""
    if text is None or text == "backbone":
        return text
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--freeze takes 'backbone' or a number of blocks, got {text!r}") from None


@app.command()
def train(
    model: str = MODEL,
    alpha: float = ALPHA,
    rho: Optional[float] = RHO,
    resolution: Optional[str] = RESOLUTION,
    convention: str = typer.Option("torchvision", "--convention", "-c", metavar="NAME", autocompletion=_complete_conventions,
                                   help="Counting convention (default torchvision: PyTorch's modules and counter)."),
    classes: Optional[int] = CLASSES,
    freeze: Optional[str] = typer.Option(None, "--freeze", metavar="backbone|N",
                                         help="Freeze what --no-top keeps (Keras' base_model.trainable = False), "
                                              "or the first N blocks of 'table --by block' (the stem is block 1)."),
    batch: int = typer.Option(1, "--batch", "-b", parser=_int, metavar="N", help="Images per step."),
    optimizer: Optimizer = typer.Option(Optimizer.sgd, "--optimizer",
                                        help="Optimizer state per trainable parameter: sgd 0, momentum 1, adam 2."),
    dtype: TrainDtype = typer.Option(TrainDtype.float32, "--dtype", help="Bytes per value of weights and activations."),
    no_top: bool = NO_TOP,
    head: Optional[str] = HEAD,
    aux: bool = AUX,
    reduced_tail: bool = REDUCED_TAIL,
    set_: Optional[List[str]] = SET,
    by: By = typer.Option(By.block, "--by", help="block (default) or layer."),
    fmt: Format = FORMAT,
):
    """One training step: forward and backward mult-adds (physical, and as torch's FlopCounterMode counts
    them), trainable parameters and the memory it needs, for the whole batch.

    Example: mnetcost train v2 --freeze 14 --batch 32

    Example: mnetcost train v1 --head 320,320 --classes 2 --freeze backbone -c keras
    """
    from . import render
    from .train import training

    if by not in (By.block, By.layer):
        raise UsageError("train --by takes block or layer")
    t = training(model, alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
                 top=not no_top, head=_head(head), freeze=_freeze(freeze), batch=batch, optimizer=optimizer.value,
                 dtype=dtype.value, aux=aux, reduced_tail=reduced_tail, symbols=_symbols(set_))
    frame = t.by_block().reset_index() if by is By.block else t.layers
    records = frame.to_dict("records")
    for rec in records:
        rec["backward_macs"] = rec["backward_input_macs"] + rec["backward_weight_macs"]
        rec["backward_macs_torch"] = rec["backward_input_macs"] + rec["backward_weight_macs_torch"]
        rec["state"] = "frozen" if rec["frozen"] else ""
    key = by.value if by is By.block else "name"
    columns = [(key, by.value, "text"), ("state", "", "text"), ("forward_macs", "forward", "count"),
               ("backward_macs", "backward", "count"), ("backward_macs_torch", "torch bwd", "count"),
               ("trainable", "trainable", "count"), ("saved_bytes", "saved B", "count")]
    machine = [(key, by.value, "")] + [(k, k, "") for k in (
        "frozen", "forward_macs", "backward_macs", "backward_macs_torch", "backward_input_macs", "backward_weight_macs",
        "backward_weight_macs_torch", "params", "trainable", "saved_bytes")]
    tot = t.totals
    title = (f"{render.describe(t.cost)}\ntraining step: batch {t.batch}, freeze {t.freeze or 'nothing'}, "
             f"{t.optimizer}, {t.dtype}")
    caption = (f"Forward {tot['forward_macs']:,} MACs; backward {tot['backward_macs']:,} physical "
               f"({tot['backward_input_macs']:,} input gradients + {tot['backward_weight_macs']:,} weight gradients), "
               f"{tot['backward_macs_torch']:,} as torch's FlopCounterMode counts it (a grouped conv's weight gradient "
               f"x groups). Parameters {tot['params']:,}, trainable {tot['trainable']:,}. Memory "
               f"{tot['training_bytes']:,} bytes = weights {tot['weight_bytes']:,} + gradients {tot['gradient_bytes']:,} "
               f"+ optimizer {tot['optimizer_bytes']:,} + saved for backward {tot['saved_activation_bytes'] + tot['saved_stat_bytes']:,} "
               f"(activations and batch statistics; {tot['saved_bytes']:,} with the saved weights).")
    _emit(fmt, title, columns, machine, records, caption,
          document=lambda rows: {**_config(t.cost), "batch": t.batch, "freeze": t.freeze, "optimizer": t.optimizer,
                                 "dtype": t.dtype, "totals": tot, "rows": rows})


@app.command()
def memory(
    model: str = MODEL,
    alpha: float = ALPHA,
    rho: Optional[float] = RHO,
    resolution: Optional[str] = RESOLUTION,
    convention: str = CONVENTION,
    classes: Optional[int] = CLASSES,
    dtype: Dtype = typer.Option(Dtype.float16, "--dtype", help="Bytes per value for activations and weights."),
    schedule: Schedule = typer.Option(Schedule.materialized, "--schedule",
                                      help="materialized (V2 paper: only tensors between blocks) or layerwise (a plain executor)."),
    no_top: bool = NO_TOP,
    head: Optional[str] = HEAD,
    aux: bool = AUX,
    reduced_tail: bool = REDUCED_TAIL,
    set_: Optional[List[str]] = SET,
    fmt: Format = FORMAT,
):
    """Activation memory, weight bytes, bytes moved and arithmetic intensity per layer; the peak
    under a schedule; and the widest tensor kept at each resolution (V2 Table 3's view).

    Example: mnetcost memory v2 --dtype float16 --schedule materialized
    """
    from . import render
    from .traffic import memory as run_memory

    m = run_memory(model, alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
                   dtype=dtype.value, schedule=schedule.value, top=not no_top, head=_head(head),
                  aux=aux, reduced_tail=reduced_tail, symbols=_symbols(set_))
    records = m.layers.to_dict("records")
    for rec in records:
        for key in ("in_bytes", "out_bytes", "weight_bytes", "bytes_moved", "live_bytes"):
            rec[key] = int(rec[key]) if float(rec[key]).is_integer() else rec[key]
        rec["kept"] = "yes" if rec["materialized"] else ""
    by_res = m.by_resolution().to_dict("records")
    columns = [("name", "layer", "text"), ("op", "op", "text"), ("out_bytes", "output", "count"),
               ("weight_bytes", "weights", "count"), ("bytes_moved", "moved", "count"),
               ("intensity", "MAC/B", "float"), ("live_bytes", "live", "count"), ("kept", "kept", "text")]
    machine = [(k, k, "") for k in ("name", "block", "op", "h_out", "w_out", "c_out", "mult_adds", "in_bytes", "out_bytes",
                                     "weight_bytes", "bytes_moved", "intensity", "live_bytes", "materialized")]
    describe = render.describe(m.cost).split("\n")[1]
    caption = (f"Peak ({schedule.value}): {m.peak_bytes:,} bytes at {m.peak_layer}. Weights: {m.weight_bytes:,} bytes. "
               f"dtype {dtype.value}; units of 1000 bytes. live: what a layer-by-layer executor holds at that layer "
               "(input, output, residual inputs); kept: the output is materialized between blocks; "
               "moved: input read + weights + output written; MAC/B: arithmetic intensity.")
    for rec in records:
        rec["intensity"] = round(float(rec["intensity"]), 2)

    def rich():
        table = render.records_table(f"{m.cost.model}: memory\n{describe}", columns, records, caption)
        res_cols = [("resolution", "H x W", "text"), ("channels", "channels", "float"), ("bytes", "bytes", "count")]
        res_rows = [{"resolution": f"{r['resolution']}x{r['resolution']}", "channels": r["channels"], "bytes": r["bytes"]}
                    for r in by_res]
        return [table, render.records_table(f"widest tensor kept at each resolution ({schedule.value})", res_cols, res_rows,
                                            "Compare V2 Table 3 (16-bit): V1 1600K, V2 400K at most.")]

    _print(fmt, rich, lambda: render.records_csv(machine, records),
           lambda: render.to_json_document({**_config(m.cost), "dtype": dtype.value, "schedule": schedule.value,
                                            "peak_bytes": m.peak_bytes, "peak_layer": m.peak_layer,
                                            "weight_bytes": m.weight_bytes, "by_resolution": by_res,
                                            "layers": render.records_dicts(machine, records)}),
           lambda: render.records_markdown(f"{m.cost.model} memory", machine, records, caption))


@app.command()
def roofline(
    model: str = MODEL,
    alpha: float = ALPHA,
    rho: Optional[float] = RHO,
    resolution: Optional[str] = RESOLUTION,
    convention: str = CONVENTION,
    classes: Optional[int] = CLASSES,
    device: Optional[str] = DEVICE,
    device_file: Optional[str] = DEVICE_FILE,
    peak_macs: Optional[str] = typer.Option(None, "--peak-macs", metavar="RATE", help="Peak MAC/s, e.g. 17.2G (instead of --device)."),
    bandwidth: Optional[str] = typer.Option(None, "--bandwidth", metavar="RATE", help="Memory bandwidth in bytes/s, e.g. 15G."),
    dtype: Optional[Dtype] = typer.Option(None, "--dtype", help="Bytes per value (default: the device's)."),
    no_top: bool = NO_TOP,
    head: Optional[str] = HEAD,
    aux: bool = AUX,
    reduced_tail: bool = REDUCED_TAIL,
    set_: Optional[List[str]] = SET,
    fmt: Format = FORMAT,
):
    """Predicted latency on a device, layer by layer: max(MACs / the layer class's rate, bytes moved /
    bandwidth) plus the device's per-layer and per-element costs, its bound (compute or memory), and the total.

    Example: mnetcost roofline v2 --device pixel1-big-core
    Example: mnetcost roofline v3-small --peak-macs 0.96G --bandwidth 1.92G --dtype int8
    Example: mnetcost roofline v2 --device-file my-device.csv
    """
    from .latency import roofline as run_roofline

    r = run_roofline(model, alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
                     dtype=dtype.value if dtype else None, device=device, peak_macs=peak_macs, bandwidth=bandwidth,
                     device_file=device_file, top=not no_top, head=_head(head), aux=aux, reduced_tail=reduced_tail,
                     symbols=_symbols(set_))
    records = r.layers.to_dict("records")
    for rec in records:
        rec["time_us"] = round(rec["time_s"] * 1e6, 2)
        rec["intensity"] = round(float(rec["intensity"]), 2)
    columns = [("name", "layer", "text"), ("op", "op", "text"), ("mult_adds", "MACs", "count"),
               ("bytes_moved", "bytes", "count"), ("intensity", "MAC/B", "float"), ("time_us", "µs", "float"),
               ("bound", "bound", "text")]
    machine = [(k, k, "") for k in ("name", "op", "mult_adds", "bytes_moved", "intensity", "compute_s", "memory_s",
                                     "other_s", "time_s", "bound")]
    bound_ops = {}
    for rec in records:
        if rec["bound"] == "memory":
            bound_ops[rec["op"]] = bound_ops.get(rec["op"], 0) + 1
    dev = r.device
    other = float(r.columns["other_s"].sum())
    caption = (f"Total: {r.latency_s * 1e3:.2f} ms on {dev.name} ({_rate(dev.peak_macs, 'GMAC/s')}, "
               f"{_rate(dev.bandwidth, 'GB/s')}, {r.dtype})"
               + (f", of which {other * 1e3:.2f} ms per-layer and per-element costs" if other else "")
               + "; memory-bound layers: " + (", ".join(f"{n} {op}" for op, n in bound_ops.items()) or "none")
               + f". {dev.source}" + (f" Held out: {dev.held_out}." if dev.held_out else ""))
    _emit(fmt, f"{model}: roofline", columns, machine, records, caption,
          document=lambda rows: {"model": model, "device": _device_document(dev), "dtype": r.dtype,
                                 "latency_s": r.latency_s, "memory_bound": r.memory_bound, "layers": rows})


def _rate(value: float, unit: str) -> str:
    """'4.81 GMAC/s', '2.18 TMAC/s', 'unbounded'."""
    import math

    if math.isinf(value):
        return "unbounded"
    scale, prefix = (1e12, "T") if value >= 1e12 else (1e9, "G")
    return f"{value / scale:.3g} {prefix}{unit[1:]}"


def _finite(value):
    import math

    return value if isinstance(value, (int, str)) or value is None or math.isfinite(value) else None


def _device_document(dev) -> dict:
    """A device profile as JSON (an unbounded rate as null)."""
    h = dev.held_out
    return {"name": dev.name, "dtype": dev.dtype, "peak_macs": _finite(dev.peak_macs),
            "bandwidth": _finite(dev.bandwidth), "rates": {k: _finite(v) for k, v in dev.rates},
            "costs": dict(dev.costs), "source": dev.source,
            "held_out": None if h is None else {"method": h.method, "n": h.n, "within_10": h.within_10,
                                                "mean_error": h.mean_error, "proxy_within_10": h.proxy_within_10,
                                                "proxy_mean_error": h.proxy_mean_error}}


class Form(str, Enum):
    full = "full"
    classes = "classes"
    overhead = "overhead"
    roofline = "roofline"


class Holdout(str, Enum):
    network = "network"
    model = "model"
    row = "row"


@app.command()
def calibrate(
    measurements: Optional[str] = typer.Option(None, "--measurements", "-m", metavar="FILE",
                                               help="A measurements CSV (written by 'mnetcost measure', or by hand: model, alpha, resolution, latency_ms)."),
    published: Optional[str] = typer.Option(None, "--published", "-p", metavar="SET",
                                            help="A published latency set instead: tf-slim, v2-paper, v3-paper, v4-pixel6-cpu, ... (default tf-slim)."),
    form: Optional[Form] = typer.Option(None, "--form", help="The device model's terms (default: full for measurements, the set's own for a published set)."),
    holdout: Optional[Holdout] = typer.Option(None, "--holdout", help="Cross-validation groups: network (model and alpha), model, or row (default: network; a published set's own)."),
    ridge_point: Optional[float] = typer.Option(None, "--ridge-point", parser=_float, metavar="MAC/B", help="Fix the ridge point (MACs per byte) instead of scanning bandwidths."),
    dtype: Optional[Dtype] = typer.Option(None, "--dtype", help="Bytes per value (default float32; a published set's own)."),
    name: Optional[str] = typer.Option(None, "--name", metavar="NAME", help="The profile's name (default: calibrated, or a published set's profile)."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE", help="Write the profile to this device file (added, or replacing one of the same name)."),
    fmt: Format = FORMAT,
):
    """Fit a device model to measured latencies, print each parameter with its meaning and the
    held-out error (cross-validated, beside the MACs-only proxy's), and optionally save the profile.

    Example: mnetcost calibrate --measurements measurements.csv -o my-device.csv --name my-laptop
    Example: mnetcost calibrate --published v4-pixel6-cpu
    """
    from . import calibration, render

    if measurements is not None and published is not None:
        raise UsageError("give --measurements or --published, not both")
    settings = {k: v for k, v in (("form", form and form.value), ("holdout", holdout and holdout.value),
                                  ("ridge_point", ridge_point), ("dtype", dtype and dtype.value), ("name", name))
                if v is not None}
    if measurements is not None:
        c = calibration.calibrate(calibration.read_measurements(measurements), **settings,
                                  source=f"fit by mnetcost calibrate to {_basename(measurements)}")
    else:
        c = calibration.calibrate_published(published or "tf-slim", **settings)
    if output is not None:
        from .latency import write_device

        write_device(c.device, output)
    params = c.device.parameters.to_dict("records")
    for p in params:
        p["shown"] = "unbounded" if p["value"] == float("inf") else f"{p['value']:.4g}"
    records = c.records()
    for rec in records:
        rec["config"] = f"{rec['model']} {rec['alpha']:g} {rec['resolution']}"
        rec["measured"], rec["predicted"] = ("" if rec[k] is None else f"{rec[k]:.3g}" for k in ("measured_ms", "predicted_ms"))
        for key in ("error", "proxy_error"):
            rec[key + "_pct"] = None if rec[key] is None else round(100 * rec[key], 1)
    h = c.held_out
    summary = (f"Held out ({h.method}): {100 * h.within_10:.0f}% of {h.n} predictions within ±10%, mean |error| "
               f"{100 * h.mean_error:.1f}%; the MACs-only proxy: {100 * h.proxy_within_10:.0f}%, "
               f"{100 * h.proxy_mean_error:.1f}%." if h else "Nothing held out: one group only.")
    unseen = sum(1 for rec in records if rec["unseen"])
    if unseen:
        summary += (f" {unseen} held-out predictions needed a term their fit never saw (column 'unseen': an "
                    "operator only that network has); measure another network that has it.")
    caption = (f"{c.device.name}: {calibration.FORMS[c.form]}, fitted to {len(records)} latencies (mean |error| "
               f"{100 * c.train_error:.1f}% on them). {summary}" + (f" Saved to {output}." if output else ""))
    columns = [("config", "model α px", "long"), ("measured", "measured ms", "text"),
               ("predicted", "held-out ms", "text"), ("error_pct", "error %", "float"),
               ("proxy_error_pct", "MACs-only %", "float")] + ([("unseen", "unseen", "long")] if unseen else [])
    machine = [(k, k, "") for k in ("source", "model", "alpha", "resolution", "group", "measured_ms", "fitted_ms",
                                     "predicted_ms", "error", "proxy_ms", "proxy_error", "unseen")]
    param_table = render.records_table(f"{c.device.name}: the device model", [
        ("parameter", "parameter", "text"), ("shown", "value", "text"), ("unit", "unit", "text"),
        ("meaning", "meaning", "long")], params, "")
    _emit(fmt, "calibration: held-out predictions", columns, machine, records, caption, extra=(),
          document=lambda rows: {"device": _device_document(c.device), "form": c.form, "holdout": c.holdout,
                                 "train_error": c.train_error, "saved_to": output, "rows": rows},
          shown=records, before=(param_table,))


def _basename(path: str) -> str:
    from pathlib import Path

    return Path(path).name


@app.command()
def devices(
    device_file: Optional[str] = DEVICE_FILE,
    fmt: Format = FORMAT,
):
    """The device profiles (shipped, or those of --device-file), each with its rates, its other terms
    and, for a fitted profile, its held-out error beside the MACs-only proxy's.

    Example: mnetcost devices
    """
    from .latency import devices as shipped, read_devices

    found = read_devices(device_file) if device_file is not None else shipped()
    records = []
    for d in found.values():
        h = d.held_out
        records.append({"name": d.name, "dtype": d.dtype.replace("float", "fp"), "peak": _rate(d.peak_macs, "GMAC/s"),
                        "bandwidth_shown": _rate(d.bandwidth, "GB/s"), "terms_count": len(d.rates) + len(d.costs),
                        "held": "not fitted" if h is None else f"{100 * h.within_10:.0f}% ({100 * h.proxy_within_10:.0f}%)",
                        "peak_macs": _finite(d.peak_macs), "bandwidth": _finite(d.bandwidth), "terms": d.terms_text(),
                        "holdout": h.method if h else "", "n": h.n if h else None,
                        "within_10": h.within_10 if h else None, "mean_error": h.mean_error if h else None,
                        "proxy_within_10": h.proxy_within_10 if h else None,
                        "proxy_mean_error": h.proxy_mean_error if h else None, "source": d.source})
    columns = [("name", "device", "text"), ("dtype", "dtype", "text"), ("peak", "peak", "text"),
               ("bandwidth_shown", "bandwidth", "text"), ("held", "±10% (MACs)", "text")]
    machine = [(k, k, "") for k in ("name", "dtype", "peak_macs", "bandwidth", "terms", "holdout", "n", "within_10",
                                     "mean_error", "proxy_within_10", "proxy_mean_error", "source")]
    _emit(fmt, "Device profiles" + (f" in {_basename(device_file)}" if device_file else " (tables/devices.csv)"),
          columns, machine, records,
          "±10%: the share of held-out (cross-validated) predictions within ±10% of the measured latency, and in "
          "brackets the MACs-only proxy's on the same splits; each profile's terms and source: -f csv or json. "
          "'mnetcost roofline MODEL -d NAME' predicts with one.")


@app.command()
def measure(
    model: str = typer.Argument(..., metavar="MODEL", autocompletion=_complete_models,
                                help="A table, or several separated by commas."),
    alpha: str = typer.Option("1.0", "--alpha", "-a", metavar="LIST", help="Width multipliers: 0.5,1.0 or START:STOP:STEP."),
    resolution: Optional[str] = typer.Option(None, "--resolution", "-r", metavar="LIST", help="Resolutions (default: each table's own)."),
    convention: str = CONVENTION,
    runtime: str = typer.Option("onnxruntime", "--runtime", metavar="NAME", help="The runtime: onnxruntime (CPU)."),
    threads: int = typer.Option(1, "--threads", parser=_int, metavar="N", help="Threads for the runtime (intra- and inter-op)."),
    repeat: Optional[int] = typer.Option(None, "--repeat", parser=_int, metavar="R", help="Timed runs per configuration and pass (default: as many as fit in about 40 ms, at least 1)."),
    passes: int = typer.Option(40, "--passes", parser=_int, metavar="P", help="Passes over all configurations, each in a new shuffled order."),
    output: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE", help="Append the measurements to this CSV (created with its header)."),
    fmt: Format = FORMAT,
):
    """Time configurations on this machine: build each with the PyTorch builder, export it to ONNX,
    run it with ONNX Runtime (threads pinned, warmed up, shuffled passes), and report each latency with
    the noise of its measurement. Needs: pip install "mnetcost[measure]".

    Example: mnetcost measure v2 --alpha 0.5,1.0 --resolution 160,224 -o measurements.csv
    """
    from .timing import check_output, configurations, measure as run_measure, append

    configs = configurations(model, _list(alpha, "--alpha"), _list(resolution, "--resolution", int), convention)
    if output is not None:
        check_output(output)
    progress = (lambda m: print(f"mnetcost: {m}", file=sys.stderr, flush=True)) if sys.stderr.isatty() else None
    rows = run_measure(configs, runtime=runtime, threads=threads, repeat=repeat, passes=passes, progress=progress)
    if output is not None:
        append(rows, output)
    records = [vars(r) | {"config": f"{r.model} {r.alpha:g} {r.resolution}", "latency": f"{r.latency_ms:.3g}",
                          "median": f"{r.median_ms:.3g}", "iqr": f"{r.iqr_pct:.1f}", "sd": f"{r.pass_sd_pct:.1f}"}
               for r in rows]
    columns = [("config", "model α px", "long"), ("latency", "latency ms", "text"), ("median", "median ms", "text"),
               ("iqr", "IQR %", "text"), ("sd", "pass sd %", "text"), ("runs", "runs", "count")]
    machine = [(k, k, "") for k in ("model", "alpha", "resolution", "convention", "latency_ms", "median_ms", "iqr_pct",
                                     "pass_sd_pct", "runs", "passes", "threads", "runtime", "host", "date")]
    first = rows[0]
    caption = (f"{first.runtime}, {first.threads} thread(s), batch 1, float32, on {first.host}: latency = the median, over "
               f"{min(first.passes, 5)} interleaved groups of {first.passes} shuffled passes, of each group's fastest run; "
               "pass sd: the spread of those group figures (the noise of the latency itself); IQR: of single runs." + (f" Appended to {output}." if output else ""))
    _emit(fmt, "Measured latency", columns, machine, records, caption)


@app.command()
def choose(
    device: Optional[str] = DEVICE,
    device_file: Optional[str] = DEVICE_FILE,
    max_latency: Optional[str] = typer.Option(None, "--max-latency", metavar="TIME", help="At most this predicted latency, e.g. 20ms (a bare number is ms)."),
    max_peak_memory: Optional[str] = typer.Option(None, "--max-peak-memory", metavar="BYTES", help="At most this many bytes of activations at the peak, e.g. 512K."),
    dtype: Optional[Dtype] = typer.Option(None, "--dtype", help="Bytes per activation value for peak memory (default: the device's, else int8)."),
    schedule: Schedule = typer.Option(Schedule.materialized, "--schedule", help="materialized (V2 paper) or layerwise."),
    max_params: Optional[str] = typer.Option(None, "--max-params", metavar="N", help="At most this many parameters, e.g. 4M."),
    max_macs: Optional[str] = typer.Option(None, "--max-macs", metavar="N", help="At most this many MACs, e.g. 300M."),
    source: Optional[str] = typer.Option(None, "--source", metavar="LIST", help="Only these accuracy sources: tf_slim, keras_io, keras_docstring, torchvision, paper_v4."),
    all_rows: bool = typer.Option(False, "--all", help="Every checkpoint that fits, not only the 20 most accurate."),
    fmt: Format = FORMAT,
):
    """The published checkpoints that fit a budget, ranked by published ImageNet top-1, with predicted
    latency, MACs, params and peak memory, and which are Pareto-best on accuracy vs latency (vs MACs
    without a device). Accuracy is never estimated: only published checkpoints are listed.

    Example: mnetcost choose --device pixel1-big-core --max-latency 20ms
    Example: mnetcost choose --max-peak-memory 512K --dtype int8 --max-params 4M
    """
    from .explore import choose as run_choose

    frame = run_choose(device=device, device_file=device_file, max_latency=_duration(max_latency, "--max-latency"),
                       max_peak_bytes=_quantity(max_peak_memory, "--max-peak-memory"),
                       max_params=_quantity(max_params, "--max-params"), max_macs=_quantity(max_macs, "--max-macs"),
                       dtype=dtype and dtype.value, schedule=schedule.value,
                       sources=None if source is None else [x.strip() for x in source.split(",")])
    dev = frame.attrs.get("device")
    timed = dev is not None
    records = frame.to_dict("records")
    for rec in records:
        rec["best"] = "yes" if rec["pareto"] else ""
        if timed:
            rec["latency"] = round(rec["latency_ms"], 1)
        else:
            rec["latency_ms"] = None  # JSON null, not NaN
    shown = records if all_rows else records[:20]
    columns = [("checkpoint", "checkpoint", "long"), ("top1", "top-1", "float")] + (
        [("latency", "ms", "float")] if timed else []) + [
        ("macs", "MACs", "count"), ("params", "params", "count"), ("peak_bytes", "peak B", "count"),
        ("best", "best", "text")]
    machine = [(k, k, "") for k in ("source", "checkpoint", "model", "alpha", "resolution", "convention", "classes",
                                     "top1", "top5", "variant", "latency_ms", "macs", "params", "peak_bytes", "pareto",
                                     "citation")]
    budget = ", ".join(x for x in (max_latency and f"latency <= {max_latency}", max_peak_memory and f"peak <= {max_peak_memory}B",
                                   max_params and f"params <= {max_params}", max_macs and f"MACs <= {max_macs}") if x)
    dev_note = ""
    if timed:
        dev_note = f" Latency predicted on {dev.name}" + (f" (held out: {dev.held_out})." if dev.held_out else " (a profile not fitted to measurements).")
    caption = (f"{len(records)} published checkpoints fit" + (f" ({budget})" if budget else "") +
               (f"; the {len(shown)} most accurate shown" if len(shown) < len(records) else "") +
               f"; best: Pareto-best, no other fitting checkpoint is both more accurate and "
               f"{'faster' if timed else 'cheaper in MACs'}. Peak B: activation bytes at the peak "
               f"({dtype.value if dtype else 'the device dtype' if timed else 'int8'}, {schedule.value}). "
               "Each checkpoint's source, table and citation: -f csv or json."
               + dev_note + " Top-1 as published (tables/reference/accuracy.csv), never estimated.")
    if not records:
        caption = f"No published checkpoint fits ({budget}): widen the budget." if budget else "No checkpoints."
    _emit(fmt, "Published checkpoints within the budget", columns, machine, records, caption, shown=shown,
          document=lambda rows: {"budget": budget, "device": _device_document(dev) if timed else None, "rows": rows})


@app.command()
def verify(
    model: str = MODEL,
    alpha: float = ALPHA,
    rho: Optional[float] = RHO,
    resolution: Optional[str] = RESOLUTION,
    convention: str = typer.Option("torchvision", "--convention", "-c", metavar="NAME", autocompletion=_complete_conventions,
                                   help="A convention with a PyTorch meaning: torchvision, paper, keras, tf-slim (V2/V3), the counters."),
    classes: Optional[int] = CLASSES,
    no_top: bool = NO_TOP,
    head: Optional[str] = HEAD,
    aux: bool = AUX,
    reduced_tail: bool = REDUCED_TAIL,
    set_: Optional[List[str]] = SET,
    fmt: Format = FORMAT,
):
    """Build MODEL as a PyTorch module and compare every layer's parameters, MACs
    (FlopCounterMode / 2) and output shape with mnetcost's; exit code 4 on any difference, 3 without PyTorch.
    Needs PyTorch: pip install "mnetcost[torch]".

    Example: mnetcost verify v3-small --alpha 0.75 --resolution 97
    """
    from .engine import cost
    from .errors import EnvironmentProblem

    r = cost(model, alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
             top=not no_top, head=_head(head), aux=aux, reduced_tail=reduced_tail, symbols=_symbols(set_))
    largest = max(int(x) for x in r.columns["activations"])
    if largest > VERIFY_LIMIT or r.params > VERIFY_LIMIT:  # a forward pass of this would take gigabytes
        raise UsageError(f"verify builds and runs the network: a tensor of {largest:,} values and {r.params:,} "
                         f"parameters is beyond its limit of {VERIFY_LIMIT:,} each (choose a smaller resolution or width)")
    try:
        from .torch import verify as run_verify
    except ImportError:
        raise EnvironmentProblem('mnetcost verify needs PyTorch: pip install "mnetcost[torch]"') from None
    v = run_verify(model, alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
                   top=not no_top, head=_head(head),
                  aux=aux, reduced_tail=reduced_tail, symbols=_symbols(set_))
    for row in v.rows:
        row["check"] = "ok" if row["ok"] else "DIFF"
    columns = [("name", "layer", "text"), ("params", "params", "count"), ("torch_params", "torch", "count"),
               ("macs", "MACs", "count"), ("torch_macs", "torch", "count"), ("torch_shape", "torch output", "text"),
               ("check", "", "text")]
    machine = [(k, k, "") for k in ("name", "op", "params", "torch_params", "macs", "torch_macs", "shape", "torch_shape", "ok")]
    t = v.totals
    bad = sum(not r["ok"] for r in v.rows)
    caption = (f"{'All' if not bad else len(v.rows) - bad} of {len(v.rows)} layers agree. Totals: mnetcost {t['params']:,} params, "
               f"{t['macs']:,} MACs; PyTorch {t['torch_params']:,} params, {t['torch_macs']:,} MACs "
               "(sum of parameter sizes; FlopCounterMode / 2).")
    title = f"verify {v.model} · alpha {v.alpha:g} · {v.resolution} px · {v.convention} · {v.classes} classes"
    _emit(fmt, title, columns, machine, v.rows, caption, row_style=lambda r: None if r["ok"] else "bold red",
          document=lambda rows: {"model": v.model, "convention": v.convention, "alpha": v.alpha,
                                 "resolution": v.resolution, "classes": v.classes, "ok": v.ok, "totals": t,
                                 "layers": rows})
    return 0 if v.ok else EXIT_DIFFERENCE


def _error(message: str) -> None:
    """One line on stderr: a multi-line message (a table's problems, one a line) keeps one prefix per line."""
    try:
        for line in str(message).splitlines() or [""]:
            sys.stderr.write(f"mnetcost: error: {_printable(line)}\n")
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass


def _printable(text: str) -> str:
    """Control characters never reach the terminal."""
    return "".join(ch if ch.isprintable() or ch == " " else repr(ch)[1:-1] for ch in text)


def _keep_examples_apart() -> None:
    """Each command's examples on lines of their own in --help (click would run them into one paragraph)."""
    import inspect

    for info in app.registered_commands:
        doc = inspect.cleandoc(info.callback.__doc__ or "")
        paragraphs = doc.split("\n\n")
        examples = [line for p in paragraphs if p.lstrip().startswith("Example") for line in p.splitlines()]
        if examples:
            kept = [p for p in paragraphs if not p.lstrip().startswith("Example")]
            info.callback.__doc__ = "\n\n".join(kept + ["\b\n" + "\n".join(line.strip() for line in examples)])


_keep_examples_apart()


# What a terminal without UTF-8 gets instead of the symbols mnetcost prints.
ASCII = {"α": "alpha", "ρ": "rho", "×": "x", "—": "-", "–": "-", "Δ": "d", "·": "*", "≈": "~", "≤": "<=", "≥": ">=",
         "²": "^2", "√": "sqrt", "→": "->", "…": "...", "†": "+", "±": "+/-", "µ": "u"}


def _ascii_fallback(error: UnicodeEncodeError):
    text = error.object[error.start:error.end]
    return "".join(ASCII.get(ch, "?") for ch in text), error.end


def _guard_output() -> None:
    """Standard output must exist, and print symbols it cannot encode as ASCII stand-ins."""
    import codecs

    if sys.stdout is None:
        raise EnvironmentProblem("standard output is closed: nothing can be written")
    codecs.register_error("mnetcost-ascii", _ascii_fallback)
    for stream in (sys.stdout, sys.stderr):
        encoding = getattr(stream, "encoding", None) or "ascii"
        try:
            "αρ×—Δ·".encode(encoding)
        except (UnicodeEncodeError, LookupError):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="mnetcost-ascii")


def _quiet_stdout() -> None:
    """After a closed pipe (``| head -1``): send what is left to nowhere, so that exiting raises nothing."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI, turning every error into one line on stderr and an exit code (see
    ``mnetcost.errors``): never a traceback."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy's overflow warnings: every count is checked instead
        try:
            _guard_output()
            result = app(args=argv, prog_name="mnetcost", standalone_mode=False)
            sys.stdout.flush()
        except MnetcostError as e:
            _error(str(e))
            return e.exit_code
        except typer.Exit as e:
            return getattr(e, "exit_code", 0)
        except typer.Abort:
            _error("aborted")
            return 1
        except typer.TyperException as e:  # typer's usage errors: bad option value, unknown option, missing argument
            _error(e.format_message() if hasattr(e, "format_message") else str(e))
            return getattr(e, "exit_code", 2)
        except BrokenPipeError:
            _quiet_stdout()
            return 0
        except OSError as e:  # a full disk, a closed or unwritable output
            _error(f"cannot write the output: {e.strerror or e}")
            return EnvironmentProblem.exit_code
        except (MemoryError, RecursionError) as e:
            _error(f"the input needs more memory or depth than this machine allows ({type(e).__name__}); "
                   "choose a smaller configuration")
            return 2
        except Exception as e:  # a bug: still one line, with what to report
            _error(f"internal error ({type(e).__name__}: {e}); please report it with the command that caused it")
            return EXIT_INTERNAL
    return result if isinstance(result, int) else 0
