"""Questions over many configurations: the catalogue of tables, alpha x resolution sweeps, side-by-side
comparisons, and why two conventions give different totals."""

from __future__ import annotations

__all__ = ["models", "sweep", "stage_sweep", "compare", "costs", "explain", "diff", "fit", "choose", "parse_values"]  # the public API: the rest are the modules' own parts

import dataclasses
import math

import numpy as np

from typing import NamedTuple

from .config import Config, choice, configure, number
from .conventions import get_convention
from .engine import cost, grid
from .vocab import DEFAULT_DTYPE
from .errors import UsageError
from .ops import BUILTIN
from .tables import load_table, model_names
from .vocab import FIT_ALPHAS, FIT_RESOLUTIONS, MAX_VALUE, SCHEDULES


def models():
    """Every shipped table as a DataFrame: name, title, family, short and full source, primitive-layer count
    (the layers whose op spec counts as a layer: conv, depthwise, pointwise, FC), and totals at alpha 1 at
    the table's own resolution (paper convention)."""
    import pandas as pd

    return pd.DataFrame(model_rows())


def model_rows() -> list[dict]:
    """``models()`` as records (without pandas), kept between runs (``memo``: they depend on the package only)."""
    from .memo import stored

    rows = stored("models", [], _model_rows, valid=lambda v: all(set(r) == set(MODEL_COLUMNS) for r in v))
    for row in rows:  # JSON's list back to the (height, width) of a table with a non-square input
        row["resolution"] = tuple(row["resolution"]) if isinstance(row["resolution"], list) else row["resolution"]
    return rows


MODEL_COLUMNS = ("name", "title", "family", "ref", "source", "resolution", "layers", "macs", "params")


def _model_rows() -> list[dict]:
    out = []
    for name in model_names():
        t = load_table(name)
        r = cost(name)
        out.append({"name": name, "title": t.title, "family": t.family, "ref": t.ref, "source": t.source,
                    "resolution": r.resolution,
                    "layers": int(sum(BUILTIN[op].counted for op in r.columns["op"])),
                    "macs": r.macs, "params": r.params})
    return out


def sweep(model, alphas, resolutions, config: Config | None = None, **options):
    """The alpha x resolution grid of mult-adds and params, as a tidy DataFrame
    (alpha, resolution, macs, params), one row per pair, alpha-major; the rest of the configuration is
    ``config`` or keyword options, as for ``cost``. Vectorised (``engine.grid``); identical to ``cost`` point
    by point."""
    import pandas as pd

    return pd.DataFrame(sweep_columns(model, alphas, resolutions, config, **options), copy=False)


def sweep_columns(model, alphas, resolutions, config: Config | None = None, **options) -> dict:
    """``sweep``'s columns as numpy arrays (without pandas)."""
    alphas, resolutions = number_list(alphas, "alphas"), number_list(resolutions, "resolutions")
    if not alphas.size or not resolutions.size:
        raise UsageError("a sweep needs at least one alpha and one resolution")
    check_grid_size(alphas.size * resolutions.size)
    config = configure(config, **options)
    macs, params = grid(model, alphas, resolutions, config)
    n_res = macs.shape[1]
    res_col = resolutions.astype(np.int64) if config.spatial == "exact" else resolutions.astype(float)
    return {"alpha": np.repeat(alphas, n_res), "resolution": np.tile(res_col, len(alphas)),
            "macs": macs.ravel(), "params": np.repeat(params, n_res)}


MAX_GRID = 20_000_000  # configurations x resolutions one call may compute: about 0.6 GB of results
MAX_COMPARE = 2_000  # rows of a comparison: one full costing each


def number_list(values, name: str) -> np.ndarray:
    """A list or 1-D array of real numbers (not bools, not strings), as float64: a grid's axis, its type checked
    only (``engine.check_alphas`` and ``check_resolutions`` check the values). Not ``config.numbers``, which checks
    the range of a number or an array of them."""
    try:
        array = np.asarray(values if isinstance(values, np.ndarray) else list(values))
        if array.dtype.kind not in "iuf" or array.ndim != 1:
            raise TypeError
        return array.astype(float)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"{name} must be a list of numbers, got {values!r:.80}") from None


def check_grid_size(n: int, limit: int = MAX_GRID, what: str = "configurations x resolutions") -> None:
    if n > limit:
        raise UsageError(f"{n:,} {what} is more than {limit:,} at once: narrow the ranges (or split the grid)")


def stage_sweep(model, stage_alpha, resolution=None, config: Config | None = None, **options):
    """Mult-adds and params of many configurations that each give every table row (stage) its own
    width multiplier: ``stage_alpha`` has shape configurations x rows (``load_table(model).rows``
    order; rows without a width ignore theirs). Returns a DataFrame (macs, params), one row per
    configuration, identical to ``cost(model, stage_alpha=row)`` for each."""
    import pandas as pd

    if np.ndim(stage_alpha) != 2:
        raise UsageError(f"stage_alpha must be an array of shape (configurations, table rows), got shape "
                         f"{np.shape(stage_alpha)}")
    config = configure(config, **options).with_(stage_alpha=stage_alpha)
    macs, params = grid(model, resolutions=None if resolution is None else [resolution], config=config)
    return pd.DataFrame({"macs": macs[:, 0], "params": params})


def compare(models, alphas=(1.0,), resolutions=(None,), conventions=("paper",), classes=None,
            spatial: str = "exact", top=True, head=None, aux=False, reduced_tail=False, symbols=None):
    """Every combination of the given models, alphas, resolutions and conventions, side by side: a
    DataFrame (model, alpha, resolution, convention, classes, macs, params, trainable), one row each, with
    each row's full result (a ``Cost``, its layers included) in the column ``result``."""
    import pandas as pd

    results = costs(models, alphas, resolutions, conventions, classes, spatial, top, head, aux, reduced_tail, symbols)
    return pd.DataFrame([{"model": r.model, "alpha": r.alpha, "resolution": r.resolution, "convention": r.convention,
                          "classes": r.classes, "macs": r.macs, "params": r.params, "trainable": r.trainable,
                          "result": r} for r in results])


def costs(models, alphas=(1.0,), resolutions=(None,), conventions=("paper",), classes=None,
          spatial: str = "exact", top=True, head=None, aux=False, reduced_tail=False, symbols=None) -> list:
    """``compare``'s results as a list of ``Cost``."""
    lists = [models, alphas, resolutions, conventions]
    if any(isinstance(x, (str, bytes, int, float)) or not hasattr(x, "__len__") for x in lists):
        raise UsageError("compare takes lists: models, alphas, resolutions and conventions")
    check_grid_size(len(models) * len(alphas) * len(resolutions) * len(conventions), MAX_COMPARE, "rows to compare")
    results = []
    for m in models:
        for conv in conventions:
            for a in alphas:
                for res in resolutions:
                    results.append(cost(m, alpha=a, resolution=res, convention=conv, classes=classes, spatial=spatial,
                                        top=top, head=head, aux=aux, reduced_tail=reduced_tail, symbols=symbols))
    return results


# A convention's rules grouped into causes, in the order differences are attributed to them:
# (label, width roles, other Rules fields).
CAUSES = (
    ("classifier classes", (), ("classes",)),
    ("channel rounding", ("stem", "block", "expand"), ("se_squeeze",)),
    ("last-layer / head rule", ("last", "head"), ()),
    ("BatchNorm parameters", (), ("bn_params", "bn_trainable")),
    ("BatchNorm counted as ops", (), ("bn_ops", "bn_ops_channel")),
    ("activations counted", (), ("act_ops",)),
    ("pooling counted", (), ("pool_in", "pool_out", "se_pool_in", "se_pool_out")),
    ("bias additions counted", (), ("bias_ops",)),
    ("attention matmuls counted", (), ("attention",)),
)


def _adopt(rules, target, roles, fields):
    """``rules`` with ``target``'s width rules for ``roles`` and its values for ``fields``."""
    widths = dict(rules.widths)
    for role in roles:
        if role in target.widths:
            widths[role] = target.widths[role]
        else:
            widths.pop(role, None)
    return dataclasses.replace(rules, widths=widths, **{f: getattr(target, f) for f in fields})


def explain(model, base: str, other: str, *, alpha: float = 1.0, resolution=None, rho=None, classes=None,
            spatial: str = "exact", top=True, head=None, aux=False, reduced_tail=False, symbols=None):
    """Why ``other``'s totals differ from ``base``'s: the difference split into its causes, changing
    one rule at a time from ``base`` to ``other`` in the order of ``CAUSES``. The parts add up exactly.
    The frame of ``explain_rows``."""
    import pandas as pd

    rows, attrs = explain_rows(model, base, other, alpha=alpha, resolution=resolution, rho=rho, classes=classes,
                               spatial=spatial, top=top, head=head, aux=aux, reduced_tail=reduced_tail, symbols=symbols)
    frame = pd.DataFrame(rows, columns=["cause", "macs", "params"])
    frame.attrs.update(attrs)
    return frame


def explain_rows(model, base: str, other: str, **config):
    """``explain`` as records (without pandas) and the totals it splits: ``(rows, attrs)`` (``attrs``: the frame's)."""
    table = load_table(model)
    rules = get_convention(base).rules(table.family)
    target = get_convention(other).rules(table.family)
    config = dict(dict(alpha=1.0, resolution=None, rho=None, spatial="exact", classes=None, top=True, head=None,
                       aux=False, reduced_tail=False, symbols=None), **config)
    start = cost(model, convention=rules, **config)
    previous, rows = start, []
    for label, roles, fields in CAUSES:
        rules = _adopt(rules, target, roles, fields)
        r = cost(model, convention=rules, **config)
        rows.append({"cause": label, "macs": r.macs - previous.macs, "params": r.params - previous.params})
        previous = r
    end = cost(model, convention=other, **config)
    if (previous.macs, previous.params) != (end.macs, end.params):  # a rule CAUSES does not know
        rows.append({"cause": "other rules", "macs": end.macs - previous.macs, "params": end.params - previous.params})
    return rows, dict(model=table.name, base=base, other=other, base_macs=start.macs, base_params=start.params,
                      other_macs=end.macs, other_params=end.params)


def parse_values(text: str, name: str, kind=float) -> list:
    """'0.5,0.75,1.0' or 'START:STOP:STEP' (STOP included) into a list of numbers."""
    text = str(text).strip()
    if not text:
        raise UsageError(f"{name}: empty list")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise UsageError(f"{name}: a range is START:STOP:STEP, got {text!r}")
        values = progression(*(number_in(p, name, float) for p in parts), name)
    else:
        values = [number_in(p, name, float) for p in text.split(",")]
    for v in values:
        if not math.isfinite(v) or v <= 0:
            raise UsageError(f"{name}: values must be finite and > 0, got {v!r}")
        if v > LIMIT:
            raise UsageError(f"{name}: values must be at most {LIMIT:,}, got {v:g}")
    if kind is int:
        if any(v != int(v) for v in values):
            raise UsageError(f"{name}: whole numbers only, got {text!r}")
        values = [int(v) for v in values]
    return values


def progression(start: float, stop: float, step: float, name: str, most: int = 100_000) -> list[float]:
    """START, START + STEP, ... up to STOP included (a START:STOP:STEP range), each rounded to 10 decimals (0.3,
    not 0.30000000000000004); at most ``most`` values, counted before any is made."""
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise UsageError(f"{name}: START, STOP and STEP must be finite numbers, got {start:g}:{stop:g}:{step:g}")
    if step <= 0:
        raise UsageError(f"{name}: STEP must be > 0, got {step:g}")
    if stop < start:
        raise UsageError(f"{name}: STOP {stop:g} is less than START {start:g}")
    count = int(math.floor((stop - start) / step + 1e-9)) + 1
    if count > most:
        raise UsageError(f"{name}: {start:g}:{stop:g}:{step:g} has {count:,} values; at most {most:,}")
    return [round(start + i * step, 10) for i in range(count)]


LIMIT = MAX_VALUE  # the largest value a list or range may hold: widths, resolutions and multipliers far beyond any network


def number_in(text: str, name: str, kind):
    """One number of option ``name``'s text (a list's item, a range's end), or a UsageError naming it."""
    try:
        return kind(text.strip())
    except (ValueError, OverflowError):
        raise UsageError(f"{name}: {text.strip()!r} is not a number") from None


def _pair(value, name: str) -> tuple:
    """An (A, B) pair: one value for both sides, or a pair."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise UsageError(f"{name} is one value for both sides or an (A, B) pair, got {value!r}")
        return tuple(value)
    return (value, value)


class Diff(NamedTuple):
    """What changes from configuration A to configuration B: DataFrames per layer, per block and per part
    (backbone and head), and the totals (with both ``Cost`` results as ``a`` and ``b``)."""

    layers: object
    blocks: object
    parts: object
    totals: dict


def diff(a, b=None, *, alpha=(1.0, 1.0), resolution=(None, None), convention=("paper", "paper"), classes=None,
         spatial: str = "exact", top=True, head=None, aux=False, reduced_tail=False, symbols=None) -> Diff:
    """What changes from configuration A to configuration B: per layer (aligned by name; a layer only
    in one of them counts as added or removed), per block and per part, with the totals' delta.

    ``b`` defaults to ``a``; ``alpha``, ``resolution`` and ``convention`` are (A, B) pairs, and so may
    ``aux`` and ``reduced_tail`` be (a single value applies to both). Returns a ``Diff`` whose frames have
    columns macs_a, macs_b, d_macs, params_a, params_b, d_params."""
    import pandas as pd

    *frames, totals = diff_records(a, b, alpha=alpha, resolution=resolution, convention=convention, classes=classes,
                                   spatial=spatial, top=top, head=head, aux=aux, reduced_tail=reduced_tail,
                                   symbols=symbols)
    return Diff(*(pd.DataFrame(rows, columns=[key, *DIFF_COLUMNS]) for rows, key in zip(frames, DIFF_KEYS)), totals)


DIFF_COLUMNS = ("change", "macs_a", "macs_b", "d_macs", "params_a", "params_b", "d_params")
DIFF_KEYS = ("name", "block", "part")


def diff_records(a, b=None, *, alpha=(1.0, 1.0), resolution=(None, None), convention=("paper", "paper"),
                 classes=None, spatial: str = "exact", top=True, head=None, aux=False, reduced_tail=False, symbols=None):
    """``diff`` as records (without pandas): ``(layers, blocks, parts, totals)``."""
    pairs = [_pair(x, name) for x, name in ((alpha, "alpha"), (resolution, "resolution"),
                                           (convention, "convention"), (aux, "aux"), (reduced_tail, "reduced_tail"))]
    shared = dict(classes=classes, spatial=spatial, top=top, head=head, symbols=symbols)
    ra, rb = (cost(m, alpha=al, resolution=res, convention=conv, aux=ax, reduced_tail=rt, **shared)
              for m, (al, res, conv, ax, rt) in zip((a, a if b is None else b), zip(*pairs)))
    totals = {"macs_a": ra.macs, "macs_b": rb.macs, "d_macs": rb.macs - ra.macs,
              "params_a": ra.params, "params_b": rb.params, "d_params": rb.params - ra.params,
              "a": ra, "b": rb}
    return (*(_aligned(ra, rb, key) for key in DIFF_KEYS), totals)


def _sums(result, key) -> dict:
    """{layer name or block: (macs, params)} in network order."""
    if key != "name" and result.columns["macs"].dtype.kind == "f":  # real-valued MACs summed as pandas sums them
        f = result.layers.groupby(key, sort=False)[["macs", "params"]].sum()
        return {n: (f.loc[n, "macs"].item(), int(f.loc[n, "params"])) for n in f.index}
    out: dict = {}
    for n, m, p in zip(result.columns[key].tolist(), result.columns["macs"].tolist(), result.columns["params"].tolist()):
        if n in out:  # whole numbers: exact in any order
            out[n] = (out[n][0] + m, out[n][1] + int(p))
        else:
            out[n] = (m, int(p))
    return out


def _aligned(ra, rb, key) -> list[dict]:
    """The rows of A and B aligned by ``key`` (difflib's matching of the names), with their deltas."""
    import difflib

    fa, fb = _sums(ra, key), _sums(rb, key)
    names_a, names_b = list(fa), list(fb)
    order = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=names_a, b=names_b, autojunk=False).get_opcodes():
        if tag == "equal":
            order += names_a[i1:i2]
        else:
            order += [n for n in names_a[i1:i2] if n not in fb] + names_b[j1:j2]
    rows = []
    for n in dict.fromkeys(order):
        in_a, in_b = n in fa, n in fb
        row = {key: n, "change": "same" if in_a and in_b else ("removed" if in_a else "added")}
        for side, sums, present in (("a", fa, in_a), ("b", fb, in_b)):
            row[f"macs_{side}"], row[f"params_{side}"] = sums[n] if present else (0, 0)
        row["d_macs"], row["d_params"] = row["macs_b"] - row["macs_a"], row["params_b"] - row["params_a"]
        if row["change"] == "same" and (row["d_macs"] or row["d_params"]):
            row["change"] = "changed"
        rows.append(row)
    return rows


def _budget_device(device, device_file, max_latency):
    """The device a budget is predicted on (None without one); a latency budget needs one."""
    from .latency import get_device

    dev = get_device(device, device_file=device_file) if device is not None or device_file is not None else None
    if max_latency is not None and dev is None:
        raise UsageError("a latency budget needs a device (--device or --device-file)")
    return dev


BUDGETS = {"max_latency": "the latency budget (seconds)", "max_peak_bytes": "the peak-memory budget (bytes)",
           "max_params": "the parameter budget", "max_macs": "the MAC budget"}


def check_limits(**limits) -> None:
    """Each budget given is a finite number > 0 (``config.number``); a huge one is fine: everything fits it."""
    for name, limit in limits.items():
        if limit is not None:
            number(limit, BUDGETS.get(name, name))


def check_sources(sources, known) -> list | None:
    """The accuracy sources asked for: None (all), one name, or a collection of names, each a known source."""
    if sources is None:
        return None
    if isinstance(sources, str):
        sources = [sources]
    if isinstance(sources, (bytes, dict)) or not hasattr(sources, "__iter__"):
        raise UsageError(f"sources must be accuracy source names ({', '.join(sorted(known))}), got {sources!r:.80}")
    sources = list(sources)
    for name in sources:
        if not isinstance(name, str):
            raise UsageError(f"an accuracy source is a name ({', '.join(sorted(known))}), got {name!r:.80}")
        if not name.strip():
            raise UsageError(f"an empty accuracy source name in {', '.join(map(repr, sources))}; "
                             f"the sources: {', '.join(sorted(known))}")
    unknown = sorted(set(sources) - set(known))
    if unknown:
        raise UsageError(f"unknown accuracy source(s) {', '.join(map(repr, unknown))}; the sources: {', '.join(sorted(known))}")
    return sources


MAX_WORK = 50_000  # alphas x layers fit and choose evaluate one configuration at a time (peak memory, latency)
MAX_CELLS = 1_000_000  # alphas x resolutions x layers of their per-resolution arrays


def check_work(alphas: int, resolutions: int, layers: int, at_least: bool = False) -> None:
    """Refuse, before the per-configuration work, a budget grid whose work would take more than a few seconds:
    each alpha's layers are walked one by one (peak memory, latency: about 55 us per alpha and layer on a
    2-core machine), over arrays of every resolution (up to about 2.3 us per alpha, resolution and layer)."""
    if alphas * layers > MAX_WORK or alphas * resolutions * layers > MAX_CELLS:
        raise UsageError(f"{alphas:,} alphas x {resolutions:,} resolutions of a network of {'at least ' * at_least}{layers:,} "
                         f"layers is more "
                         f"work than fit does at once (at most {MAX_WORK:,} alphas x layers and {MAX_CELLS:,} alphas "
                         "x resolutions x layers): narrow the alphas or resolutions, or split the grid")


def budget_grid(s, alphas, res, *, dtype: str, schedule: str, device=None) -> dict:
    """MACs, params, peak bytes at ``dtype`` (and seconds on ``device``, at its dtype) of every alpha x resolution
    of setup ``s``, from
    one expansion of the table: the arrays' for the counts, each configuration's own (``single``) for peak
    memory and latency."""
    from .engine import grid_of
    from .expand import single
    from .latency import covered, layer_terms, seconds
    from .rows import row_type
    from .traffic import dtype_bytes, peak_of

    size = dtype_bytes(dtype)
    least = sum(row.n * row_type(row.op).least for row in s.table.rows)
    check_work(len(alphas), len(res), least, at_least=True)  # at once, from the rows: the table expands to at least this many
    layers = s.expand(alphas, res)
    check_work(len(alphas), len(res), len(layers))
    macs, params, _ = grid_of(s, layers, alphas, res)
    peaks, times, inside = np.zeros(macs.shape, dtype=np.int64), np.full(macs.shape, np.nan), np.ones(macs.shape, bool)
    for i, a in enumerate(alphas):
        one = single(layers, i)
        peaks[i] = peak_of(s, one, res, schedule) * size
        if device is not None:
            t = layer_terms(s, a, res, res, device.dtype, one)
            times[i], inside[i] = seconds(t, device), covered(t, device)  # at the device's dtype
    extra = {"covered": inside} if device is not None and device.coverage else {}
    return {"macs": macs, "params": params, "peak_bytes": peaks, "seconds": times, **extra}


def fit_columns(model, alphas=None, resolutions=None, config: Config | None = None, *, max_macs=None, max_params=None,
                max_peak_bytes=None, max_latency=None, device=None, device_file=None, dtype: str = DEFAULT_DTYPE,
                schedule: str = "materialized", **options):
    """``fit`` as columns (arrays: the frame's) and the device (None without one), without pandas:
    ``(columns, device)``."""
    from .engine import check_alphas, check_resolutions, setup

    check_limits(max_macs=max_macs, max_params=max_params, max_peak_bytes=max_peak_bytes, max_latency=max_latency)
    dev = _budget_device(device, device_file, max_latency)
    choice(schedule, "schedule", SCHEDULES)
    s = setup(model, configure(config, **options))
    alphas = check_alphas(parse_values(FIT_ALPHAS, "alphas") if alphas is None else number_list(alphas, "alphas"))
    res = check_resolutions(s, parse_values(FIT_RESOLUTIONS, "resolutions", int) if resolutions is None else
                            number_list(resolutions, "resolutions"))
    check_grid_size(len(alphas) * len(res))
    g = budget_grid(s, alphas, res, dtype=dtype, schedule=schedule, device=dev)
    cols = {"alpha": np.repeat(alphas, len(res)), "resolution": np.tile(res, len(alphas)), "macs": g["macs"].ravel(),
            "params": np.repeat(g["params"], len(res)), "peak_bytes": g["peak_bytes"].ravel()}
    if dev is not None:
        cols["latency_ms"] = 1e3 * g["seconds"].ravel()
    if "covered" in g:  # a profile from an operator suite: False where a layer lies beyond what it measured
        cols["covered"] = g["covered"].ravel()
    ok = _within_columns(cols, max_macs, max_params, max_peak_bytes, max_latency)
    cols = {k: v[ok] for k, v in cols.items()}
    # Pareto: the largest resolution of its alpha, and larger than any wider configuration's
    best = {}
    for a, r in zip(cols["alpha"].tolist(), cols["resolution"].tolist()):
        best[a] = max(best.get(a, r), r)
    wider, running = {}, -1
    for a in sorted(best, reverse=True):
        wider[a], running = running, max(running, best[a])
    cols["pareto"] = np.array([r == best[a] and r > wider[a] for a, r in zip(cols["alpha"].tolist(),
                                                                            cols["resolution"].tolist())], dtype=bool)
    order = np.lexsort((cols["alpha"], cols["macs"]))
    return {k: v[order] for k, v in cols.items()}, dev


def fit(model, alphas=None, resolutions=None, config: Config | None = None, *, max_macs=None, max_params=None,
        max_peak_bytes=None, max_latency=None, device=None, device_file=None, dtype: str = DEFAULT_DTYPE,
        schedule: str = "materialized", **options):
    """The alpha x resolution configurations of ``model`` within a budget of MACs, parameters, peak
    activation memory (at ``dtype`` under ``schedule``) and latency (seconds, predicted on ``device``),
    sorted by MACs, with ``pareto`` marking those no other feasible configuration beats on both alpha
    and resolution (wider and larger being taken as better). The rest of the configuration is ``config``
    or keyword options, as for ``cost``. Vectorised over the grid, from one expansion of the table; by
    default the CLI's grid (alpha 0.25 to 1.4 by 0.05, 96 to 320 px by 16). With a device, ``latency_ms`` too.
    The frame of ``fit_columns``."""
    import pandas as pd

    columns, dev = fit_columns(model, alphas, resolutions, config, max_macs=max_macs, max_params=max_params,
                               max_peak_bytes=max_peak_bytes, max_latency=max_latency, device=device,
                               device_file=device_file, dtype=dtype, schedule=schedule, **options)
    feasible = pd.DataFrame(columns)
    if dev is not None:
        feasible.attrs["device"] = dev
    return feasible


def _within(frame, max_macs, max_params, max_peak_bytes, max_latency) -> np.ndarray:
    """Which rows of ``frame`` are within every budget given."""
    return _within_columns({c: frame[c].to_numpy() for c in frame.columns if c in ("macs", "params", "peak_bytes",
                            "latency_ms")}, max_macs, max_params, max_peak_bytes, max_latency, len(frame))


def _within_columns(columns: dict, max_macs, max_params, max_peak_bytes, max_latency, n=None) -> np.ndarray:
    """Which rows of ``columns`` (arrays) are within every budget given."""
    ok = np.ones(len(next(iter(columns.values()))) if n is None else n, dtype=bool)
    for column, limit in (("macs", max_macs), ("params", max_params), ("peak_bytes", max_peak_bytes),
                          ("latency_ms", None if max_latency is None else 1e3 * max_latency)):
        if limit is not None:
            ok &= columns[column] <= limit
    return ok


def _budget_grids(grids, dtype: str, schedule: str, device) -> list[dict]:
    """``budget_grid`` of each (table, convention, classes) at its alphas and resolutions, as plain values."""
    from .engine import setup

    out = []
    for (model, convention, classes), alphas, res in grids:
        g = budget_grid(setup(model, convention=convention, classes=int(classes)), np.array(alphas, dtype=float),
                        np.array(res, dtype=np.int64), dtype=dtype, schedule=schedule, device=device)
        out.append({k: v.tolist() for k, v in g.items()})
    return out


def _grids_fit(kept, grids) -> bool:
    """Is ``kept`` (read back from the cache) one budget grid of numbers for each of ``grids``, of their shapes?"""
    def numbers(values, n):
        return len(values) == n and all(type(x) in (int, float, bool) for x in values)

    return len(kept) == len(grids) and all(
        numbers(g["params"], len(alphas)) and all(len(g[k]) == len(alphas) and all(numbers(row, len(res)) for row in g[k])
                                                  for k in g if k != "params")
        for g, (_, alphas, res) in zip(kept, grids))


def choose_records(*, device=None, device_file=None, max_latency=None, max_peak_bytes=None, max_params=None,
                   max_macs=None, dtype: str | None = None, schedule: str = "materialized", sources=None):
    """``choose`` as records (``DataFrame.to_dict("records")`` of its frame) and the device (None without one),
    without pandas: ``(records, device)``."""
    from .memo import stored
    from .reference import accuracy_records
    from .traffic import dtype_bytes

    check_limits(max_latency=max_latency, max_peak_bytes=max_peak_bytes, max_params=max_params, max_macs=max_macs)
    dev = _budget_device(device, device_file, max_latency)
    dtype = dtype or (dev.dtype if dev is not None else DEFAULT_DTYPE)
    dtype_bytes(dtype)
    choice(schedule, "schedule", SCHEDULES)
    table = accuracy_records()
    sources = check_sources(sources, {r["source"] for r in table})
    if sources is not None:
        table = [r for r in table if r["source"] in set(sources)]
    networks: dict = {}  # one expansion per table, convention and classes: all its alphas and resolutions at once
    for r in table:
        r.update(macs=0, params=0, peak_bytes=0, latency_ms=np.nan)
        networks.setdefault((r["model"], r["convention"], r["classes"]), []).append(r)
    grids = [(key, sorted({r["alpha"] for r in rows}), sorted({r["resolution"] for r in rows}))
             for key, rows in sorted(networks.items(), key=lambda item: item[0])]
    if device_file is None and (device is None or isinstance(device, str)):  # shipped data only: kept (memo)
        found = stored("choose", [device, dtype, schedule, grids], lambda: _budget_grids(grids, dtype, schedule, dev),
                       valid=lambda kept: _grids_fit(kept, grids))
    else:
        found = _budget_grids(grids, dtype, schedule, dev)
    for (key, alphas, res), g in zip(grids, found):
        rows = networks[key]
        for r, row, col in zip(rows, np.searchsorted(alphas, [r["alpha"] for r in rows]),
                               np.searchsorted(res, [r["resolution"] for r in rows])):
            r.update(macs=g["macs"][row][col], params=g["params"][row], peak_bytes=g["peak_bytes"][row][col])
            if dev is not None:
                r["latency_ms"] = 1e3 * g["seconds"][row][col]
            if "covered" in g:
                r["covered"] = g["covered"][row][col]
    ok = _within_columns({k: np.array([r[k] for r in table], dtype=float) for k in ("macs", "params", "peak_bytes",
                          "latency_ms")}, max_macs, max_params, max_peak_bytes, max_latency) if table else []
    chosen = sorted((r for r, keep in zip(table, ok) if keep), key=lambda r: (-r["top1"], r["macs"]))
    cost_axis = np.array([r["latency_ms" if dev is not None else "macs"] for r in chosen], dtype=float)
    top1 = np.array([r["top1"] for r in chosen], dtype=float)
    for r, a, c in zip(chosen, top1, cost_axis):
        r["pareto"] = not bool(np.any((top1 >= a) & (cost_axis <= c) & ((top1 > a) | (cost_axis < c))))
    return chosen, dev


def choose(*, device=None, device_file=None, max_latency=None, max_peak_bytes=None, max_params=None, max_macs=None,
           dtype: str | None = None, schedule: str = "materialized", sources=None):
    """The published checkpoints (``reference.accuracy()``) within a budget, ranked by published top-1,
    each with its MACs, params and peak activation bytes (at ``dtype`` under ``schedule``; by default
    the device's dtype, else float32) under the checkpoint's own convention, and with a device its
    predicted latency (ms). ``pareto`` marks the checkpoints no other fitting one beats on both
    accuracy and latency (on accuracy and MACs without a device). No accuracy is ever estimated: only
    published checkpoints are listed. The frame of ``choose_records``."""
    import pandas as pd

    from .reference import accuracy

    records, dev = choose_records(device=device, device_file=device_file, max_latency=max_latency,
                                  max_peak_bytes=max_peak_bytes, max_params=max_params, max_macs=max_macs, dtype=dtype,
                                  schedule=schedule, sources=sources)
    columns = [*accuracy().columns, "macs", "params", "peak_bytes", "latency_ms", "pareto"]
    frame = pd.DataFrame.from_records(records, columns=columns) if records else pd.DataFrame(columns=columns)
    frame = frame.astype({"macs": np.int64, "params": np.int64, "peak_bytes": np.int64, "latency_ms": float,
                          "pareto": bool, **{c: t for c, t in accuracy().dtypes.items()}})
    if dev is not None:
        frame.attrs["device"] = dev
    return frame


def comparison(models, alphas=(1.0,), resolutions=(None,), conventions=("paper",), **variant):
    """``costs`` as records with each row's difference to the first (``d_macs``, ``d_params``), and, for
    several conventions of one configuration, ``explain`` of each against the first: a list of
    ``(other, causes, total)`` with ``total`` the whole difference (the causes add up to it)."""
    results = costs(models, alphas, resolutions, conventions, **variant)
    base = results[0]
    records = [{"model": r.model, "alpha": r.alpha, "resolution": r.resolution, "convention": r.convention,
                "classes": r.classes, "macs": r.macs, "params": r.params, "trainable": r.trainable,
                "d_macs": r.macs - base.macs, "d_params": r.params - base.params} for r in results]
    explanations = []
    if len(conventions) > 1 and len(models) == 1 and len(alphas) == 1 and len(resolutions) == 1:
        for other in conventions[1:]:
            rows, attrs = explain_rows(models[0], conventions[0], other, alpha=alphas[0], resolution=resolutions[0],
                                       **variant)
            total = {"cause": "total", "macs": attrs["other_macs"] - attrs["base_macs"],
                     "params": attrs["other_params"] - attrs["base_params"]}
            explanations.append((other, rows, total))
    return records, explanations


def sweep_grid(records, resolutions) -> list[dict]:
    """A sweep's records pivoted for reading: one record per alpha with its MACs at each resolution (keyed by
    the resolution as text; None where the sweep has no value) and its params."""
    grid = [{"alpha": a, **{str(res): None for res in resolutions}} for a in dict.fromkeys(r["alpha"] for r in records)]
    by_alpha = {row["alpha"]: row for row in grid}
    for rec in records:
        by_alpha[rec["alpha"]][str(rec["resolution"])] = rec["macs"]
        by_alpha[rec["alpha"]]["params"] = rec["params"]
    return grid


def diff_rows(a, b=None, *, by: str = "block", **options):
    """``diff`` per block or layer as records, with the totals and both sides' costs:
    ``(records, totals, cost_a, cost_b)``."""
    from .reports import check_breakdown
    from .vocab import DIFF_BREAKDOWNS

    check_breakdown("diff", by, DIFF_BREAKDOWNS)
    layers, blocks, parts, t = diff_records(a, b, **options)
    totals = {k: v for k, v in t.items() if k not in ("a", "b")}
    return {"layer": layers, "block": blocks, "part": parts}[by], totals, t["a"], t["b"]
