"""Results as rows: the sums, counts and checks a command's view shows, computed once here from the
library's results (raw numbers, never formatted text). Each function is tested directly."""

from __future__ import annotations

from .errors import UsageError
from .vocab import TRAIN_BREAKDOWNS


def records(columns: dict, keys=None) -> list[dict]:
    """Per-layer columns (a result's ``columns``: arrays or lists) as records of Python values, as
    ``DataFrame(columns).to_dict("records")`` gives them, without pandas."""
    keys = list(columns) if keys is None else list(keys)
    values = [columns[k].tolist() if hasattr(columns[k], "tolist") else list(columns[k]) for k in keys]
    return [dict(zip(keys, row)) for row in zip(*values)]


def convention_rows() -> list[dict]:
    """One record per counting convention: its families, default classes, BatchNorm values and rules."""
    from .conventions import convention_names, get_convention

    records = []
    for name in convention_names():
        rules = get_convention(name).rules_by_family
        first = next(iter(rules.values()))
        records.append({"convention": name, "families": ", ".join(rules), "classes": first.classes,
                        "batchnorm": first.bn_params, "rules": " | ".join(f"{f}: {r.note}" for f, r in rules.items())})
    return records


def breakdown_rows(result, by: str) -> list[dict]:
    """A cost's totals per op type, block, stage or part, with shares."""
    frame = {"op": result.by_op, "block": result.by_block, "stage": result.by_stage, "part": result.by_part}[by]()
    return [{by: key, "macs": int(row["macs"]), "params": int(row["params"]), "weights": int(row["weights"]),
             "macs_share": row["macs_share"], "params_share": row["params_share"],
             "weights_share": row["weights_share"]} for key, row in frame.iterrows()]


def check_breakdown(command: str, by: str, allowed) -> None:
    """A breakdown the command offers."""
    if by not in allowed:
        raise UsageError(f"{command} --by takes {' or '.join(allowed)}")


def training_rows(step, by: str) -> list[dict]:
    """A training step per block (``Training.by_block``'s rows, without pandas) or per layer, with backward
    MACs summed (physical and as torch counts them)."""
    check_breakdown("train", by, TRAIN_BREAKDOWNS)
    rows = records(step.columns)
    if by == "block":
        rows = _per_block(rows)
    for rec in rows:
        rec["backward_macs"] = rec["backward_input_macs"] + rec["backward_weight_macs"]
        rec["backward_macs_torch"] = rec["backward_input_macs"] + rec["backward_weight_macs_torch"]
    return rows


def _per_block(rows) -> list[dict]:
    """Layer records summed per block in network order; a block is frozen when all its layers are."""
    blocks: dict = {}
    for rec in rows:
        values = {k: v for k, v in rec.items() if k not in ("name", "op", "block")}
        if rec["block"] not in blocks:
            blocks[rec["block"]] = {"block": rec["block"], **values}
            continue
        total = blocks[rec["block"]]
        for k, v in values.items():
            total[k] = (total[k] and v) if k == "frozen" else total[k] + v
    return list(blocks.values())


def saved_for_backward(totals: dict) -> int:
    """Bytes saved for the backward pass: activations and batch statistics."""
    return totals["saved_activation_bytes"] + totals["saved_stat_bytes"]


def memory_bound_ops(roof) -> dict:
    """{op: number of memory-bound layers} of a roofline, in layer order."""
    out: dict = {}
    for op, bound in zip(roof.columns["op"], roof.columns["bound"]):
        if bound == "memory":
            out[op] = out.get(op, 0) + 1
    return out


def other_seconds(roof) -> float:
    """A roofline's per-layer and per-element costs, in seconds."""
    return float(roof.columns["other_s"].sum())


def figure_rows(model=None, per_layer: bool = False) -> list[dict]:
    """Every published figure (``reference.figures``) as a record, with the configuration it names."""
    from .reference import SOURCE_LABELS, figures

    records = []
    for f in figures(model, per_layer=per_layer):
        shown = f.computed_as_printed
        what = "MACs" if f.quantity == "macs" else "params"
        records.append({
            "row": f.row, "source": f.source, "model": f.published_model, "alpha": f.alpha, "resolution": f.resolution,
            "variant": f.variant, "quantity": f.quantity, "published": f.published,
            "mnetcost": None if shown is None else str(shown), "computed": f.computed, "difference": f.difference,
            "table": f.model, "convention": f.convention, "rounding": f.rounding, "verdict": f.verdict,
            "expected": f.expected, "reason": f.reason, "citation": f.citation,
            "label": SOURCE_LABELS.get(f.source, f.source), "what": what,
            "shown": f"{what} {f.published}{'' if f.rounding == 'exact' else ' M'}",
            "config": " ".join(x for x in (f.model or f.published_model, f.alpha, f.resolution,
                                           f.variant.replace("layer:MobilenetV1/", "")) if x)})
    return records


def verdict_counts(records) -> dict:
    """{verdict: number of figures} for the verdicts that occur."""
    counts = {v: sum(r["verdict"] == v for r in records) for v in ("match", "erratum", "unexplained", "not_computed")}
    return {v: n for v, n in counts.items() if n}


def calibrate(measurements=None, published=None, *, form=None, holdout=None, ridge_point=None, dtype=None, name=None,
              output=None):
    """Fit a device model to a measurements file or a published set (tf-slim by default), and write the
    profile to ``output`` when given. Settings left None take the fit's defaults."""
    from pathlib import Path

    from . import calibration

    if measurements is not None and published is not None:
        raise UsageError("give --measurements or --published, not both")
    settings = {k: v for k, v in (("form", form), ("holdout", holdout), ("ridge_point", ridge_point),
                                  ("dtype", dtype), ("name", name)) if v is not None}
    if measurements is not None:
        fitted = calibration.calibrate(calibration.read_measurements(measurements), **settings,
                                       source=f"fit by mnetcost calibrate to {Path(measurements).name}")
    else:
        fitted = calibration.calibrate_published(published or "tf-slim", **settings)
    if output is not None:
        from .latency import write_device

        write_device(fitted.device, output)
    return fitted


def verify(**options):
    """``torch.verify`` of a configuration (``cost``'s keywords), its arguments checked first (a bad option is a
    usage error whether or not PyTorch is there), naming the missing dependency without PyTorch; the library's
    verify refuses a network too large to build (``traffic.check_forward``)."""
    from .engine import setup
    from .errors import EnvironmentProblem

    setup(**options)
    try:
        from .torch import verify as run_verify
    except ImportError:
        raise EnvironmentProblem('mnetcost verify needs PyTorch: pip install "mnetcost[torch]"') from None
    return run_verify(**options)


def measure(models, alphas=None, resolutions=None, convention: str = "paper", *, output=None, suite=False,
            table=None, passes=None, **settings):
    """``timing.measure`` of the configurations of ``models`` (``timing.configurations``), appending the
    measurements to ``output`` (checked before any timing) when given; with ``suite``, the operator suite
    (``suite.run``) of the shipped tables or of ``table``, written to ``output``."""
    from .timing import append, check_output, configurations, measure as run_measure

    if suite or table is not None:
        from .suite import run

        if models is not None or alphas != [1.0] or resolutions:
            raise UsageError("measure --suite samples its own layers: give no MODEL, --alpha or --resolution "
                             "(--for TABLE: the layers of that table)")
        return run(table, convention=convention, output=output, passes=passes, **settings)
    if models is None:
        raise UsageError("missing argument 'MODEL' (a table to measure), or give --suite")
    settings["passes"] = 40 if passes is None else passes
    configs = configurations(models, alphas, resolutions, convention)
    if output is not None:
        check_output(output)
    rows = run_measure(configs, **settings)
    if output is not None:
        append(rows, output)
    return rows
