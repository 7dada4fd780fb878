"""The interactive report's numbers (``mnetcost report``, ``mnetcost.report``): everything the page shows,
computed by the library over a grid of widths alpha and square resolutions, for a few counting conventions, as
plain JSON-ready data (ints, floats, strings, lists). The page (``mnetcost.report_html``) only selects among
these numbers with its sliders; no count is computed in the browser.

Per convention, over the grid (``alphas`` x ``resolutions``): every layer's MACs, params, output activations,
input and output shapes, the bytes held while it runs and (with a device) its roofline time and bound; the
totals (``engine.grid_of``), the peak memory (``traffic.Plan``, as ``peak_grid``), the sums per op type and per
block, and the alpha^2 rho^2 law from alpha 1 at the table's own resolution. Published figures with their
verdicts come from ``reports.figure_rows``.

The embedded grid is bounded (``MAX_CELLS`` layers x alphas x resolutions x conventions, and ``MAX_WALKS`` layers x
alphas x conventions for what is worked out one configuration at a time), checked before any work: the page grows
linearly with the cells (``docs/report.md`` gives the measured bytes per cell).
"""

from __future__ import annotations

__all__ = ["report", "payload", "Report", "MAX_CELLS", "alpha_grid", "resolution_grid"]

import math

import numpy as np

from .config import Config, choice, configure
from .errors import UsageError
from .vocab import DEFAULT_DTYPE, DTYPE_BYTES, SCHEDULES

MAX_CELLS = 250_000  # layers x alphas x resolutions x conventions in one page (about 40 bytes each in the file)
MAX_POINTS = 2_000  # positions of one slider
MAX_WALKS = 25_000  # alphas x layers x conventions walked one configuration at a time (memory, roofline)
DEFAULT_ALPHAS = (0.25, 1.5, 0.05)  # the alpha slider: start, stop (included), step
CONVENTIONS = ("paper", "torchvision", "keras", "tf-slim", "timm")  # the selector's choices, where they have rules
EXACT = 2**53  # counts above this are not exact in a browser's numbers


def _progression(spec, name: str, kind=float) -> np.ndarray:
    """(start, stop, step) or "START:STOP:STEP" (stop included) into the values a slider steps through
    (``explore.progression``: a START:STOP:STEP range everywhere is the same values)."""
    from .explore import number_in, progression

    if isinstance(spec, str):
        parts = spec.split(":")
        if len(parts) != 3:
            raise UsageError(f"{name}: a slider's range is START:STOP:STEP, got {spec!r:.80}")
        spec = tuple(number_in(p, name, float) for p in parts)
    if not isinstance(spec, (tuple, list)) or len(spec) != 3 or not all(
            isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) for x in spec):
        raise UsageError(f"{name}: a slider's range is (start, stop, step), got {spec!r:.80}")
    start, stop, step = (float(x) for x in spec)
    if not start > 0:
        raise UsageError(f"{name}: START must be > 0, got {start:g}")
    values = np.array(progression(start, stop, step, name, most=MAX_POINTS))
    return values if kind is float else np.round(values).astype(np.int64)


def alpha_grid(alphas=None) -> np.ndarray:
    """The alpha slider's values: ``alphas`` as (start, stop, step), default 0.25 to 1.5 by 0.05."""
    return _progression(DEFAULT_ALPHAS if alphas is None else alphas, "alpha range")


def resolution_grid(base: int, total_stride: int, resolutions=None) -> np.ndarray:
    """The resolution slider's pixels: ``resolutions`` as (start, stop, step) whole pixels, or by default from
    about 0.4 to 1.5 times the table's own resolution ``base`` in steps that divide it (about 14 steps to it)."""
    if resolutions is not None:
        res = _progression(resolutions, "resolution range", int)
        if np.any(np.diff(res) == 0) or res[0] < 1:
            raise UsageError("resolution range: whole pixels, a step of at least 1")
        return res
    divisors = [d for d in range(1, base + 1) if base % d == 0 and 10 <= base // d <= 20] or [max(1, base // 14)]
    step = min(divisors, key=lambda d: (d % 8 != 0, abs(base // d - 14), d))
    low = max(step * math.ceil(0.4 * base / step), step * math.ceil(total_stride / step))
    return np.arange(low, step * math.floor(1.5 * base / step) + 1, step, dtype=np.int64)


def _index(values: np.ndarray, value, name: str, spec: str) -> int:
    where = np.flatnonzero(np.isclose(values, value, rtol=0, atol=1e-9))
    if not len(where):
        raise UsageError(f"{name} {value:g} is not a position of the report's slider ({spec}); give a value on it "
                         f"or another range")
    return int(where[0])


def _spec(values) -> str:
    step = values[1] - values[0] if len(values) > 1 else 1
    return f"{values[0]:g} to {values[-1]:g} by {step:g}"


class Plan:
    """What a report embeds, decided (and bounded) before any counting: the setups of its conventions, the
    grid and the starting position."""

    def __init__(self, model, config: Config, alphas, resolutions, conventions, device, dtype, schedule):
        from .engine import bind, hw

        if config.stage_alpha is not None or config.spatial != "exact":
            raise UsageError("the report embeds a grid of one alpha per configuration, exact spatial sizes")
        first = bind(model, config)
        rho, res0 = first.resolution()
        if isinstance(res0, tuple) and res0[0] != res0[1]:
            raise UsageError(f"the report's resolution slider is square; got {hw(res0)[0]}x{hw(res0)[1]}")
        self.alphas = alpha_grid(alphas)
        self.res = resolution_grid(first.table.resolution, first.table.total_stride, resolutions)
        first.check_size(int(self.res.min()))
        self.alpha0 = _index(self.alphas, config.alpha, "alpha", _spec(self.alphas))
        self.res0 = _index(self.res, hw(res0)[0], "resolution", _spec(self.res))
        self.setups = _setups(model, config, first, conventions)
        self.layers = len(first.expand(np.array([config.alpha]), np.array([hw(res0)[0]])))
        self.device, self.dtype, self.schedule = device, dtype, schedule
        self.given = conventions is not None  # a default list of conventions may shrink to fit
        self._bound()

    @property
    def cells(self) -> int:
        return self.layers * len(self.alphas) * len(self.res) * len(self.setups)

    @property
    def walks(self) -> int:
        return self.layers * len(self.alphas) * len(self.setups)

    def _bound(self):
        """Refuse a grid beyond ``MAX_CELLS`` or ``MAX_WALKS``; a default list of conventions first drops those other
        than the chosen one."""
        while (self.cells > MAX_CELLS or self.walks > MAX_WALKS) and len(self.setups) > 1 and not self.given:
            self.setups.pop()
        if self.cells > MAX_CELLS:
            raise UsageError(
                f"the report would embed {self.cells:,} numbers per quantity ({self.layers:,} layers x "
                f"{len(self.alphas):,} alphas x {len(self.res):,} resolutions x {len(self.setups)} conventions), more "
                f"than {MAX_CELLS:,}: give fewer conventions or coarser alphas / resolutions")
        if self.walks > MAX_WALKS:
            raise UsageError(
                f"the report would walk {self.walks:,} layers one configuration at a time ({self.layers:,} layers x "
                f"{len(self.alphas):,} alphas x {len(self.setups)} conventions), more than {MAX_WALKS:,}: give fewer "
                "conventions or coarser alphas")


def _setups(model, config: Config, first, conventions) -> list:
    from .engine import bind

    if conventions is None:
        names = [config.convention] + [c for c in CONVENTIONS if c != config.convention]
        found = [first]
        for name in names[1:]:
            try:
                found.append(bind(model, config.with_(convention=name)))
            except UsageError:  # no rules for this family
                pass
        return found
    if isinstance(conventions, str):
        conventions = [c.strip() for c in conventions.split(",")]
    if not conventions or not all(isinstance(c, str) and c for c in conventions):
        raise UsageError(f"conventions: a list of convention names, got {conventions!r:.80}")
    names = list(dict.fromkeys([config.convention, *conventions]))
    return [first] + [bind(model, config.with_(convention=name)) for name in names[1:]]


def _values(terms, n: int, m: int) -> np.ndarray:
    """A count kept as ``ops.Terms`` (per-configuration coefficients of per-resolution areas), configurations x
    resolutions, as float64 (exact below 2^53, checked by the caller)."""
    from .ops import as_terms

    out = np.zeros((n, m))
    for area, coef in as_terms(terms).items.values():
        out += np.multiply.outer(np.broadcast_to(np.asarray(coef, dtype=float), (n,)),
                                 np.broadcast_to(np.asarray(area.values, dtype=float), (m,)))
    return out


def _ints(a) -> list:
    a = np.asarray(a, dtype=float)
    if np.abs(a).max(initial=0) >= EXACT:
        raise UsageError("the counts are too large for a browser's exact numbers (2^53): smaller alphas or "
                         "resolutions")
    return np.round(a).astype(np.int64).tolist()


def _layer_arrays(s, layers, alphas, res) -> dict:
    """Per layer over the grid: MACs, params, activations, shapes, whether it exists; layers x alphas (x res)."""
    from .engine import count

    n, m = len(alphas), len(res)
    counts = [count(l, s) for l in layers]
    present = np.array([np.broadcast_to(np.asarray(l.present, dtype=bool).ravel(), (n,)) for l in layers])
    macs = np.array([_values(c.mult_adds, n, m) + _values(c.other, n, m) for c in counts]) * present[:, :, None]
    params = np.array([np.broadcast_to(np.asarray(c.params, dtype=float), (n,)) for c in counts]) * present
    trainable = np.array([np.broadcast_to(np.asarray(c.trainable, dtype=float), (n,)) for c in counts]) * present
    c_in, c_out = ([np.broadcast_to(np.asarray(getattr(l, k), dtype=float), (n,)) for l in layers]
                   for k in ("c_in", "c_out"))
    hw_ = {k: np.array([np.broadcast_to(np.asarray(getattr(l, k), dtype=float), (m,)) for l in layers])
           for k in ("h_in", "w_in", "h_out", "w_out")}
    acts = np.array(c_out)[:, :, None] * (hw_["h_out"] * hw_["w_out"])[:, None, :] * present[:, :, None]
    return {"macs": macs, "params": params, "trainable": trainable, "activations": acts, "present": present,
            "c_in": np.array(c_in), "c_out": np.array(c_out), **hw_}


def _memory_and_time(s, layers, alphas, res, plan: Plan) -> dict:
    """Per alpha (``single``, as ``peak_grid`` and ``latency_grid`` do): bytes held while each layer runs
    (layerwise), the peak of the plan's schedule and where, and with a device each layer's time and bound."""
    from .expand import single
    from .latency import layer_seconds, layer_terms
    from .traffic import planned

    index = {l.name: i for i, l in enumerate(layers)}
    n, m, size = len(alphas), len(res), DTYPE_BYTES[plan.dtype]
    live, seconds, bound = np.zeros((len(layers), n, m)), np.zeros((len(layers), n, m)), np.zeros((len(layers), n, m))
    peak, where = np.zeros((n, m)), np.zeros((n, m), dtype=np.int64)
    for i, a in enumerate(alphas):
        one = single(layers, i)
        rows = [index[l.name] for l in one]
        tensors, sizes = planned(s, one, res)
        sizes = sizes.astype(float)
        live[rows, i] = tensors.live(sizes) * size
        for j in range(m):
            p, w = tensors.peak(sizes[:, j:j + 1], plan.schedule)
            peak[i, j], where[i, j] = float(np.ravel(p)[0]) * size, -1 if w < 0 else rows[w]
        if plan.device is not None:
            compute, memory, other = layer_seconds(layer_terms(s, a, res, res, plan.device.dtype, one), plan.device)
            seconds[rows, i] = np.maximum(compute, memory) + other
            bound[rows, i] = memory > compute
    return {"live": live, "peak": peak, "peak_layer": where, "seconds": seconds, "memory_bound": bound}


def _group(values: np.ndarray, keys: list) -> tuple[list, np.ndarray]:
    """Per-layer values (layers x ...) summed per key, keys in order of first appearance."""
    names = list(dict.fromkeys(keys))
    where = {k: i for i, k in enumerate(names)}
    out = np.zeros((len(names),) + values.shape[1:])
    np.add.at(out, [where[k] for k in keys], values)
    return names, out


def _shares(sums: np.ndarray) -> np.ndarray:
    """Percentages of the total (axis 0), to two decimals."""
    total = sums.sum(axis=0)
    return np.round(np.divide(100 * sums, total, out=np.zeros_like(sums), where=total > 0), 2)


def _breakdown(lay: dict, keys: list) -> dict:
    names, macs = _group(lay["macs"], keys)
    _, params = _group(lay["params"], keys)
    return {"names": names, "macs": _ints(macs.transpose(1, 2, 0)), "params": _ints(params.T),
            "macs_share": _shares(macs).transpose(1, 2, 0).tolist(), "params_share": _shares(params).T.tolist()}


def _law(s, config: Config, alphas, res) -> dict:
    """The alpha^2 rho^2 law drawn beside the exact counts: alpha 1 at the table's own resolution, scaled by
    alpha^2 (rho/1)^2 for MACs and alpha^2 for params (what the V1 paper's Section 3.3 says they follow)."""
    from .engine import cost

    base = s.table.resolution
    r = cost(s.table, config.with_(alpha=1.0, rho=None, resolution=base, convention=s.config.convention))
    rho2 = (np.asarray(res, dtype=float) / base) ** 2
    return {"macs": _ints(r.macs * np.multiply.outer(alphas**2, rho2)), "params": _ints(r.params * alphas**2),
            "at": {"alpha": 1.0, "resolution": int(base), "macs": int(r.macs), "params": int(r.params)}}


def _convention_data(s, config: Config, plan: Plan) -> dict:
    """Everything the page shows under one convention (setup ``s``), over the plan's grid."""
    from .engine import grid_of

    alphas, res = plan.alphas, plan.res
    layers = s.expand(alphas, res)
    lay = _layer_arrays(s, layers, alphas, res)
    mem = _memory_and_time(s, layers, alphas, res, plan)
    macs, params, trainable = grid_of(s, layers, alphas, res)
    ops, blocks = [l.op for l in layers], [l.block for l in layers]
    order = (1, 2, 0)  # layers x alphas x res -> alphas x res x layers: one slice per slider position
    data = {
        "note": s.rules.note, "classes": int(s.classes),
        "layers": {"name": [l.name for l in layers], "op": ops, "block": blocks, "part": [l.part for l in layers],
                   "kernel": [int(l.kernel) for l in layers], "stride": [int(l.stride) for l in layers]},
        "macs": _ints(lay["macs"].transpose(order)), "activations": _ints(lay["activations"].transpose(order)),
        "params": _ints(lay["params"].T), "present": lay["present"].T.astype(int).tolist(),
        "c_in": _ints(lay["c_in"].T), "c_out": _ints(lay["c_out"].T),
        **{k: _ints(lay[k].T) for k in ("h_in", "w_in", "h_out", "w_out")},
        "live_bytes": _ints(mem["live"].transpose(order)), "peak_layer": mem["peak_layer"].tolist(),
        "totals": {"macs": _ints(macs), "params": _ints(params), "trainable": _ints(trainable),
                   "activations": _ints(lay["activations"].sum(axis=0)), "peak_bytes": _ints(mem["peak"])},
        "by_op": _breakdown(lay, ops), "by_block": _breakdown(lay, blocks), "law": _law(s, config, alphas, res),
    }
    if plan.device is not None:
        data["seconds"] = np.round(mem["seconds"].transpose(order) * 1e6, 3).tolist()  # microseconds
        data["memory_bound"] = mem["memory_bound"].transpose(order).astype(int).tolist()
        data["totals"]["latency_us"] = np.round(mem["seconds"].sum(axis=0) * 1e6, 3).tolist()
        data["totals"]["memory_bound_layers"] = mem["memory_bound"].sum(axis=0).astype(int).tolist()
    return data


def _figures(model) -> list:
    """The published figures of a shipped table with their verdicts (``mnetcost reference``'s), as plain rows."""
    from .reports import figure_rows
    from .tables import shipped_name

    name = shipped_name(model) if isinstance(model, str) else None
    if name is None:
        return []
    keys = ("label", "config", "what", "published", "mnetcost", "computed", "convention", "verdict", "reason",
            "citation")
    try:
        rows = figure_rows(name)
    except UsageError:  # a table without published figures
        return []
    return [{k: ("" if r[k] is None else r[k]) for k in keys} for r in rows]


def payload(model, config: Config | None = None, *, alphas=None, resolutions=None, conventions=None, device=None,
            device_file=None, dtype: str | None = None, schedule: str = "materialized", **options) -> dict:
    """The report's numbers as a plain dict (JSON-ready): ``model`` (a shipped table or a CSV path) under one
    configuration (``config`` or keywords, as for ``cost``: its alpha and resolution are where the sliders
    start), over the sliders' grid ``alphas`` and ``resolutions`` ((start, stop, step), stop included), for
    ``conventions`` (default: the configuration's and the others with rules for the table's family, as many as
    the bound allows); with ``device`` (or ``device_file``) the roofline per layer. Bounded before the work."""
    plan = _plan(model, config, alphas, resolutions, conventions, device, device_file, dtype, schedule, options)
    first = plan.setups[0]
    t = first.table
    return {
        "model": t.name, "title": t.title, "family": t.family, "source": t.source or "", "resolution": int(t.resolution),
        "alphas": plan.alphas.tolist(), "resolutions": plan.res.tolist(), "alpha0": plan.alpha0, "res0": plan.res0,
        "conventions": [s.rules.convention for s in plan.setups], "schedule": plan.schedule, "dtype": plan.dtype,
        "device": None if plan.device is None else {"name": plan.device.name, "dtype": plan.device.dtype},
        "cells": plan.cells, "figures": _figures(model),
        "data": {s.rules.convention: _convention_data(s, s.config, plan) for s in plan.setups},
    }


def _plan(model, config, alphas, resolutions, conventions, device, device_file, dtype, schedule, options) -> Plan:
    from .latency import get_device

    config = configure(config, **options)
    choice(schedule, "schedule", SCHEDULES)
    dev = get_device(device, device_file=device_file) if device is not None or device_file is not None else None
    dtype = choice(dtype or (dev.dtype if dev is not None else DEFAULT_DTYPE), "dtype", tuple(DTYPE_BYTES))
    return Plan(model, config, alphas, resolutions, conventions, dev, dtype, schedule)


class Report:
    """An interactive report: ``payload`` (the numbers), ``html`` (one self-contained page), ``save(path)``;
    shows itself inline in Jupyter (the page in an iframe)."""

    def __init__(self, data: dict):
        self.payload = data
        self._html = None

    @property
    def html(self) -> str:
        if self._html is None:
            from .report_html import render

            self._html = render(self.payload)
        return self._html

    def save(self, path) -> int:
        """Write the page to ``path``; returns its size in bytes."""
        from .errors import EnvironmentProblem

        data = self.html.encode("utf-8")
        try:
            with open(path, "wb") as f:
                f.write(data)
        except OSError as e:
            raise EnvironmentProblem(f"cannot write {str(path)!r:.300}: {e.strerror or e}") from None
        return len(data)

    def write(self, output=None) -> tuple:
        """Save to ``output`` (default ``MODEL.html`` here, the name made safe as a file name; ``"-"``: standard
        output): ``(path, bytes)``, path None for standard output."""
        import re
        import sys

        if output == "-":
            sys.stdout.write(self.html)
            return None, len(self.html.encode("utf-8"))
        if output is None:
            output = (re.sub(r"[^A-Za-z0-9._-]+", "_", self.payload["model"]).strip("._") or "report") + ".html"
        return output, self.save(output)

    def _repr_html_(self) -> str:
        from html import escape

        return (f'<iframe srcdoc="{escape(self.html, quote=True)}" style="width:100%;height:1900px;border:0" '
                f'title="mnetcost report: {escape(self.payload["model"])}"></iframe>')

    def __repr__(self):
        p = self.payload
        return (f"Report({p['model']!r}: {len(p['alphas'])} alphas x {len(p['resolutions'])} resolutions, "
                f"conventions {', '.join(p['conventions'])})")


def report(model, config: Config | None = None, **options) -> Report:
    """An interactive report of ``model`` (``payload``'s arguments); ``.save("v2.html")`` writes one offline
    HTML page with sliders for alpha and resolution, and in Jupyter it shows inline. Needs bokeh
    (``pip install 'mnetcost[report]'``), checked first.

    >>> mnetcost.report("v2").save("v2.html")   # doctest: +SKIP
    """
    from .report_html import require

    require()
    return Report(payload(model, config, **options))
