"""The cost engine: a table, a width multiplier, a resolution and a convention in; per-layer
mult-adds, parameters and activations out, as raw integers (floats in continuous mode)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .conventions import Rules, get_convention
from .errors import UsageError
from .expand import Layer, expand
from .ops import cost_function, counted_ops
from .scaling import check_alpha
from .tables import Table, load_table

SPATIAL_MODES = ("exact", "continuous")
LAYER_COLUMNS = (
    "name", "stage", "block", "op", "kernel", "stride", "groups", "h_in", "w_in", "c_in",
    "h_out", "w_out", "c_out", "act", "bn", "mult_adds", "other_ops", "macs", "weights", "biases", "bn_params", "params",
    "trainable", "activations",
)
# Op families for breakdowns (V1 Table 2 names them this way).
OP_LABELS = {
    "conv": "standard conv", "pw": "pointwise (1x1) conv", "dw": "depthwise conv", "fc": "fully connected",
    "se": "squeeze-excite", "pool": "pooling", "add": "residual add",
}


@dataclass
class Cost:
    """Costs of one network under one configuration and convention.

    ``macs`` is the count the convention reports as MACs: the multiply-accumulates (``mult_adds``,
    one multiply-add = one MAC) plus, under a FLOP counter's convention, the other operations it
    counts (``other_ops``: BatchNorm, activations, pooling, biases). ``params`` counts every value
    the convention counts (weights, biases, BatchNorm values); ``trainable`` the trainable part.
    """

    model: str
    title: str
    family: str
    alpha: float
    rho: float
    resolution: float
    convention: str
    classes: int
    spatial: str
    columns: dict = field(repr=False)
    top: object = True  # True (the table's top), False (none) or the widths of a --head
    rules: Rules | None = field(default=None, repr=False)

    @property
    def macs(self):
        return _total(self.columns["macs"])

    @property
    def mult_adds(self):
        return _total(self.columns["mult_adds"])

    @property
    def other_ops(self):
        return _total(self.columns["other_ops"])

    @property
    def params(self) -> int:
        return _total(self.columns["params"])

    @property
    def trainable(self) -> int:
        return _total(self.columns["trainable"])

    @property
    def activations(self):
        return _total(self.columns["activations"])

    @property
    def layers(self):
        """One row per primitive layer, as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame({c: self.columns[c] for c in LAYER_COLUMNS})

    def by_op(self):
        """MACs and params per primitive op type, with their shares of the total (V1 Table 2)."""
        return self._group("op")

    def by_block(self):
        """MACs and params per block (each unrolled table row)."""
        return self._group("block")

    def by_stage(self):
        """MACs and params per stage (each table row, repeats summed)."""
        return self._group("stage")

    def _group(self, key):
        df = self.layers
        g = df.groupby(key, sort=False)[["macs", "params", "weights"]].sum()
        g["macs_share"] = g["macs"] / g["macs"].sum() if g["macs"].sum() else 0.0
        g["params_share"] = g["params"] / g["params"].sum() if g["params"].sum() else 0.0
        g["weights_share"] = g["weights"] / g["weights"].sum() if g["weights"].sum() else 0.0
        return g

    def separable_ratios(self):
        """Each separable or inverted-residual block against a standard conv of the same shape,
        exact ratio and closed form side by side (see ``mnetcost.ratios.block_ratios``)."""
        from .ratios import block_ratios

        return block_ratios(self)

    def to_dict(self) -> dict:
        """A JSON-ready dict: configuration, totals and layers (plain Python numbers)."""
        layers = [
            {c: _py(self.columns[c][i]) for c in LAYER_COLUMNS}
            for i in range(len(self.columns["name"]))
        ]
        return {
            "model": self.model,
            "alpha": self.alpha,
            "rho": self.rho,
            "resolution": _py(self.resolution),
            "convention": self.convention,
            "classes": self.classes,
            "spatial": self.spatial,
            "top": self.top,
            "totals": {"macs": _py(self.macs), "params": self.params, "trainable": self.trainable,
                       "activations": _py(self.activations)},
            "layers": layers,
        }


def _total(values):
    total = values.sum()
    return float(total) if values.dtype.kind == "f" else int(total)


def _py(v):
    """A plain Python number from a numpy scalar (for JSON)."""
    return v.item() if isinstance(v, np.generic) else v


def resolve_resolution(table: Table, rho, resolution, spatial: str) -> tuple[float, float]:
    """(rho, resolution) from either one of them; exact mode rounds rho * base to whole pixels."""
    if spatial not in SPATIAL_MODES:
        raise UsageError(f"spatial must be one of {', '.join(SPATIAL_MODES)}, got {spatial!r}")
    base = table.resolution
    if rho is not None and resolution is not None:
        raise UsageError(f"give rho or resolution, not both (rho={rho!r}, resolution={resolution!r})")
    if resolution is not None:
        try:
            value = float(resolution)
        except (TypeError, ValueError):
            raise UsageError(f"resolution must be a whole number of pixels, got {resolution!r}") from None
        if not math.isfinite(value) or value != int(value) or value <= 0:
            raise UsageError(f"resolution must be a whole number of pixels > 0, got {resolution!r}")
        res = int(value)
        rho_value = res / base
    else:
        try:
            rho_value = 1.0 if rho is None else float(rho)
        except (TypeError, ValueError):
            raise UsageError(f"rho must be a number > 0, got {rho!r}") from None
        if not math.isfinite(rho_value) or rho_value <= 0:
            raise UsageError(f"rho must be a finite number > 0, got {rho!r}")
        res = round(rho_value * base) if spatial == "exact" else rho_value * base
    if spatial == "exact":
        total_stride = math.prod(row.stride for row in table.rows)
        if res < total_stride:
            raise UsageError(
                f"resolution {res} px is too small for {table.name}: its total stride is {total_stride}, "
                f"so it needs at least {total_stride} px"
            )
    return rho_value, res


def rules_for(table: Table, convention) -> Rules:
    """A convention's rules for the table's family (or given rules, possibly altered: see explore.explain)."""
    return convention if isinstance(convention, Rules) else get_convention(convention).rules(table.family)


def check_classes(classes, rules: Rules) -> int:
    """The class count: the convention's by default, else a whole number >= 1."""
    if classes is None:
        return rules.classes
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 1:
        raise UsageError(f"classes must be a whole number >= 1, got {classes!r}")
    return int(classes)


def check_stage_alpha(stage_alpha) -> np.ndarray:
    """Per-row multipliers as an array of shape (configurations, table rows), each finite and > 0."""
    stage_alpha = np.asarray(stage_alpha, dtype=float)
    if stage_alpha.ndim != 2 or not len(stage_alpha):
        raise UsageError("stage_alpha must be an array of shape (configurations, table rows)")
    if not np.all(np.isfinite(stage_alpha)) or np.any(stage_alpha <= 0):
        raise UsageError("every stage multiplier must be a finite number > 0")
    return stage_alpha


def check_resolutions(table: Table, resolutions, spatial: str) -> np.ndarray:
    """Many resolutions at once, validated as ``resolve_resolution`` validates one."""
    if spatial not in SPATIAL_MODES:
        raise UsageError(f"spatial must be one of {', '.join(SPATIAL_MODES)}, got {spatial!r}")
    res = np.atleast_1d(np.asarray(resolutions if resolutions is not None else [table.resolution], dtype=float))
    if not len(res):
        raise UsageError("a sweep needs at least one resolution")
    bad = ~np.isfinite(res) | (res <= 0) | (res != np.round(res))
    if bad.any():
        raise UsageError(f"resolution must be a whole number of pixels > 0, got {res[bad][0]:g}")
    total_stride = math.prod(row.stride for row in table.rows)
    if spatial == "exact" and res.min() < total_stride:
        raise UsageError(f"resolution {int(res.min())} px is too small for {table.name}: its total stride is "
                         f"{total_stride}, so it needs at least {total_stride} px")
    return res.astype(np.int64) if spatial == "exact" else res


def check_head(head, top) -> tuple | None:
    """Dense-layer widths of a replacement top, validated."""
    if head is None:
        return None
    if not top:
        raise UsageError("give a head or no top, not both")
    widths = tuple(head)
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 1:
            raise UsageError(f"head widths must be whole numbers >= 1, got {w!r}")
    return widths


def cost(model, alpha: float = 1.0, rho: float | None = None, convention="paper", classes: int | None = None,
         spatial: str = "exact", *, resolution: int | None = None, top: bool = True, head=None,
         stage_alpha=None) -> Cost:
    """Per-layer and total costs of ``model`` (a shipped table name or a CSV path).

    >>> r = cost("v1")
    >>> r.macs, r.params
    (568740352, 4210088)
    """
    table = load_table(model)
    alpha = check_alpha(alpha)
    rules = rules_for(table, convention)
    rho_value, res = resolve_resolution(table, rho, resolution, spatial)
    classes = check_classes(classes, rules)
    head = check_head(head, top)
    if stage_alpha is not None:  # one multiplier per table row: the one-configuration case of ``grid``
        stage_alpha = check_stage_alpha(np.asarray(stage_alpha, dtype=float).reshape(1, -1))
    layers = expand(table, rules, alpha, res, int(classes), spatial, top=bool(top), head=head, stage_alpha=stage_alpha)
    if stage_alpha is not None:
        layers = [_single(l) for l in layers if np.asarray(l.present).ravel()[0]]
    columns = evaluate(layers, rules, spatial)
    return Cost(
        model=table.name, title=table.title, family=table.family, alpha=alpha, rho=rho_value, resolution=res,
        convention=rules.convention, classes=int(classes), spatial=spatial, columns=columns,
        top=list(head) if head is not None else bool(top),
        rules=rules,
    )


def _single(layer: Layer) -> Layer:
    """A layer of a one-configuration array expansion, with plain numbers."""
    import dataclasses

    one = {k: int(np.asarray(getattr(layer, k)).ravel()[0]) for k in ("c_in", "c_out", "c_mid", "groups")}
    return dataclasses.replace(layer, present=True, **one)


def evaluate(layers: list[Layer], rules: Rules, spatial: str) -> dict:
    """Apply each op's cost function to its layers, vectorised per op."""
    n = len(layers)
    geo_dtype = np.int64 if spatial == "exact" else np.float64
    cols = {
        "name": np.array([l.name for l in layers], dtype=object),
        "stage": np.array([l.stage for l in layers], dtype=object),
        "block": np.array([l.block for l in layers], dtype=object),
        "op": np.array([l.op for l in layers], dtype=object),
    }
    for key in ("kernel", "stride", "groups", "c_in", "c_out", "c_mid"):
        cols[key] = np.array([getattr(l, key) for l in layers], dtype=np.int64)
    for key in ("h_in", "w_in", "h_out", "w_out"):
        cols[key] = np.array([getattr(l, key) for l in layers], dtype=geo_dtype)
    has_bias = np.array([l.bias for l in layers], dtype=bool)
    has_bn = np.array([l.bn for l in layers], dtype=bool)
    macs = np.zeros(n, dtype=geo_dtype)
    weights = np.zeros(n, dtype=np.int64)
    biases = np.zeros(n, dtype=np.int64)
    for op in dict.fromkeys(cols["op"]):
        idx = np.flatnonzero(cols["op"] == op)
        fn = cost_function(op)
        args = {k: cols[k][idx] for k in ("c_in", "c_out", "c_mid", "h_out", "w_out")}
        m, wt, b = fn(k=cols["kernel"][idx], **args)
        # the same formula in floats: counts past 2**62 would wrap in int64
        m_float, w_float, _ = fn(k=cols["kernel"][idx].astype(float), **{k: v.astype(float) for k, v in args.items()})
        if np.any(np.asarray(m_float) > 2.0**62) or np.any(np.asarray(w_float) > 2.0**62):
            raise UsageError("the counts are too large for 64-bit integers: alpha or resolution far too large")
        macs[idx], weights[idx], biases[idx] = m, wt, b
    biases = np.where(has_bias, biases, 0)
    acts = np.array([l.act for l in layers], dtype=object)
    other = counted_ops(rules, cols["op"], acts, has_bn, has_bias, cols["c_in"], cols["c_out"], cols["c_mid"],
                        cols["h_in"], cols["w_in"], cols["h_out"], cols["w_out"]).astype(macs.dtype)
    bn = np.where(has_bn, rules.bn_params * cols["c_out"], 0)
    cols.update(
        bn=has_bn, act=acts,
        mult_adds=macs, other_ops=other, macs=macs + other, weights=weights, biases=biases, bn_params=bn,
        params=weights + biases + bn,
        trainable=weights + biases + np.where(has_bn, rules.bn_trainable * cols["c_out"], 0),
        activations=cols["h_out"] * cols["w_out"] * cols["c_out"],
    )
    return cols


def _grid_block(table, rules, alpha, res, classes, spatial, top, head, stage_alpha):
    """``grid`` for one chunk of configurations."""
    n = len(alpha)
    layers = expand(table, rules, alpha, res, classes, spatial, top=top, head=head, stage_alpha=stage_alpha)
    # widths arrive as whole numbers in float64 (scaling.py): products stay exact below 2**53
    terms: dict[bytes, list] = {}  # area vector -> [area, coefficient per configuration]
    params = np.zeros(n)
    ones = np.ones(len(res), dtype=res.dtype)

    def term(area, coef):
        area = np.broadcast_to(np.asarray(area, dtype=res.dtype), res.shape)
        slot = terms.setdefault(area.tobytes(), [area, np.zeros(n)])
        slot[1] += coef

    def masked(present, x):
        return x if present is True else np.where(present, x, 0)

    def times(count, x):
        return x if count == 1 else count * x

    # identical layers (a row's repeats share their width arrays) are evaluated once, times their count
    groups: dict[tuple, list] = {}
    for l in layers:
        key = (l.op, l.kernel, l.bias, l.bn, l.act, id(l.c_in), id(l.c_out), id(l.c_mid), id(l.present),
               np.asarray(l.h_in * l.w_in).tobytes(), np.asarray(l.h_out * l.w_out).tobytes())
        groups.setdefault(key, [l, 0])[1] += 1

    for l, count in groups.values():
        if not np.any(l.present):
            continue  # absent in every configuration of this chunk
        present = True if np.all(l.present) else np.broadcast_to(np.asarray(l.present, dtype=bool), (n,))
        ch = {k: np.asarray(getattr(l, k), dtype=float) for k in ("c_in", "c_out", "c_mid")}
        if l.op not in ("pool", "add"):  # their mult-adds and weights are zero by definition (ops.py)
            unit_macs, weights, biases = cost_function(l.op)(k=l.kernel, h_out=1, w_out=1, **ch)
            term(l.h_out * l.w_out if l.op in SPATIAL_OPS else ones, times(count, masked(present, unit_macs)))
            layer_params = weights + biases if l.bias else weights
            if l.bn and rules.bn_params:
                layer_params = layer_params + rules.bn_params * ch["c_out"]
            params += times(count, masked(present, layer_params))
        if not rules.counts_other_ops:
            continue
        # a FLOP counter's extra operations are linear in the input and output areas
        ch = {k: np.broadcast_to(v, (n,)) for k, v in ch.items()}
        args = dict(rules=rules, op=np.array([l.op]), act=[l.act], bn=np.array([l.bn]), bias=np.array([l.bias]), **ch)
        const = counted_ops(h_in=0, w_in=0, h_out=0, w_out=0, **args)
        per_in = counted_ops(h_in=1, w_in=1, h_out=0, w_out=0, **args) - const
        per_out = counted_ops(h_in=0, w_in=0, h_out=1, w_out=1, **args) - const
        for area, coef in ((ones, const), (l.h_in * l.w_in, per_in), (l.h_out * l.w_out, per_out)):
            if np.any(coef):
                term(area, times(count, masked(present, coef)))

    areas = np.array([a for a, _ in terms.values()], dtype=float)  # terms x resolutions
    coefs = np.array([np.broadcast_to(c, (n,)) for _, c in terms.values()], dtype=float).T  # configurations x terms
    macs = coefs @ areas
    if spatial == "exact":
        bound = np.abs(coefs).sum(axis=1).max() * np.abs(areas).max() if areas.size else 0
        if bound >= 2.0**53:  # beyond float64's exact integers: add the terms in int64 instead
            if bound >= 2.0**62:
                raise UsageError("the counts are too large for 64-bit integers: alpha or resolution far too large")
            macs = sum(np.outer(np.broadcast_to(c, (n,)).astype(np.int64), a.astype(np.int64)) for a, c in terms.values())
        macs = np.asarray(macs).round().astype(np.int64)
    if params.max(initial=0) >= 2.0**53:
        raise UsageError("the parameter counts are too large for exact arithmetic: alpha far too large")
    return macs, params.astype(np.int64)


# Ops whose mult-adds scale with their output area (the others run on a 1x1 map or cost nothing).
SPATIAL_OPS = frozenset({"conv", "dw", "pw", "pool", "add"})


def grid(model, alphas=None, resolutions=None, *, convention="paper", classes=None, spatial: str = "exact",
         top: bool = True, head=None, stage_alpha=None):
    """Costs of many configurations at once: ``(macs, params)`` with ``macs`` of shape
    configurations x resolutions and ``params`` of shape configurations.

    Configurations are ``alphas`` (one multiplier each) or the rows of ``stage_alpha`` (a multiplier
    per table row). The expansion is the one of ``cost``, run once on arrays; each layer's cost
    function is evaluated once per configuration on a unit area and combined with every resolution's
    areas by one matrix product. Identical to ``cost`` point by point."""
    table = load_table(model)
    rules = rules_for(table, convention)
    if stage_alpha is not None:
        stage_alpha = check_stage_alpha(stage_alpha)
        n = len(stage_alpha)
        alpha_arg = np.ones(n)
    else:
        alpha_arg = np.asarray([check_alpha(a) for a in np.atleast_1d(alphas)], dtype=float)
        if not len(alpha_arg):
            raise UsageError("a sweep needs at least one alpha")
        n = len(alpha_arg)
    res = check_resolutions(table, resolutions, spatial)
    classes = check_classes(classes, rules)
    head = check_head(head, top)
    chunk = 1 << 15  # configurations per pass: keeps the element-wise work in cache
    blocks = [_grid_block(table, rules, alpha_arg[i:i + chunk], res, int(classes), spatial, top, head,
                          None if stage_alpha is None else stage_alpha[i:i + chunk])
              for i in range(0, n, chunk)]
    macs = np.concatenate([b[0] for b in blocks])
    params = np.concatenate([b[1] for b in blocks])
    return macs, params
