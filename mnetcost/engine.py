"""The cost engine: a table, a width multiplier, a resolution and a convention in; per-layer
mult-adds, parameters and activations out, as raw integers (floats in continuous mode)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .conventions import Rules, get_convention
from .errors import UsageError
from .expand import Layer, expand, single
from .ops import Terms, op_cost
from .scaling import check_alpha
from .expand import MAX_CHANNELS
from .tables import MAX_VALUE, Table, load_table

SPATIAL_MODES = ("exact", "continuous")
LAYER_COLUMNS = (
    "name", "stage", "block", "op", "from", "part", "kernel", "stride", "dilation", "groups", "h_in", "w_in", "c_in",
    "h_out", "w_out", "c_out", "act", "bn", "mult_adds", "other_ops", "macs", "weights", "biases", "bn_params", "params",
    "trainable", "activations",
)
EXACT_LIMIT = 2.0**53  # float64 holds every whole number below it
INT_LIMIT = 2**62  # counts stay well inside int64


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
    aux: bool = False  # rows under the aux switch included (DeepLab's auxiliary head)
    channels: int = 3  # the input's channels
    reduced_tail: bool = False  # the table's reduced tail applied (V3's RF2 / dagger)
    symbols: dict = field(default_factory=dict)  # the table's params, as set

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

    def __repr__(self):
        res = self.resolution if not isinstance(self.resolution, tuple) else "x".join(map(str, self.resolution))
        return (f"Cost({self.model!r}, alpha={self.alpha:g}, resolution={res}, convention={self.convention!r}, "
                f"classes={self.classes}: {self.macs:,} MACs, {self.params:,} params, {len(self.columns['name'])} layers)")

    def by_part(self):
        """MACs and params of a head table's backbone and of its head ("head" is the whole network
        of a table without a backbone)."""
        return self._group("part")

    def by_map(self):
        """MACs and params per part and feature-map size (the output H x W a layer writes): where a
        detector's work goes, map by map, the largest map first within each part."""
        df = self.layers
        maps = df["h_out"].astype(str) + "x" + df["w_out"].astype(str)
        area = dict(zip(maps, df["h_out"] * df["w_out"]))
        g = self._group(["part", maps], names=["part", "map"])
        parts = list(dict.fromkeys(g.index.get_level_values("part")))
        return g.iloc[sorted(range(len(g)), key=lambda i: (parts.index(g.index[i][0]), -area[g.index[i][1]]))]

    def _group(self, key, names=None):
        df = self.layers
        counts = ["macs", "params", "weights"]
        exact = df[counts].astype(object) if df["macs"].dtype.kind in "iu" else df[counts]  # Python ints: no wrap
        g = exact.groupby([df[k] if isinstance(k, str) else k for k in (key if isinstance(key, list) else [key])],
                          sort=False).sum()
        if names:
            g.index.names = names
        g = narrow_ints(g, counts)
        for c in counts:
            total = sum(g[c].tolist())
            g[f"{c}_share"] = [float(v) / float(total) if total else 0.0 for v in g[c].tolist()]
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
            "resolution": list(self.resolution) if isinstance(self.resolution, tuple) else _py(self.resolution),
            "convention": self.convention,
            "classes": self.classes,
            "spatial": self.spatial,
            "top": self.top,
            **({"aux": True} if self.aux else {}),
            **({"reduced_tail": True} if self.reduced_tail else {}),
            **({"params": self.symbols} if self.symbols else {}),
            "totals": {"macs": _py(self.macs), "params": self.params, "trainable": self.trainable,
                       "activations": _py(self.activations)},
            "layers": layers,
        }


def narrow_ints(frame, columns):
    """``frame`` with each of ``columns`` that holds Python ints as int64 where every value fits (the usual
    case), left as Python ints where int64 could wrap."""
    fits = [c for c in columns if frame[c].dtype == object and all(abs(int(v)) < INT_LIMIT for v in frame[c].tolist())]
    return frame.astype({c: np.int64 for c in fits})


def _total(values):
    """A column's sum in Python arithmetic (int64 sums could wrap)."""
    return float(sum(values.tolist())) if values.dtype.kind == "f" else sum(int(v) for v in values.tolist())


def _py(v):
    """A plain Python number from a numpy scalar (for JSON)."""
    return v.item() if isinstance(v, np.generic) else v


MAX_PIXELS = MAX_VALUE  # beyond any image: every count then stays within exact arithmetic's reach


def _pixels(value, what="resolution") -> int:
    if isinstance(value, (bool, np.bool_)):
        raise UsageError(f"{what} must be a whole number of pixels, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"{what} must be a whole number of pixels, got {value!r}") from None
    if not math.isfinite(number) or number != int(number) or number <= 0:
        raise UsageError(f"{what} must be a whole number of pixels > 0, got {value!r}")
    if number > MAX_PIXELS:
        raise UsageError(f"{what} must be at most {MAX_PIXELS:,} pixels, got {value!r}")
    return int(number)


def hw(resolution) -> tuple:
    """(height, width) of a resolution: a number (square) or an (H, W) pair."""
    return tuple(resolution) if isinstance(resolution, tuple) else (resolution, resolution)


def resolve_resolution(table: Table, rho, resolution, spatial: str) -> tuple[float, object]:
    """(rho, resolution) from either one of them; exact mode rounds rho * base to whole pixels. A
    resolution may be an (H, W) pair, or "HxW", for a non-square input (Cityscapes' 1024x2048)."""
    if spatial not in SPATIAL_MODES:
        raise UsageError(f"spatial must be one of {', '.join(SPATIAL_MODES)}, got {spatial!r}")
    base = table.resolution
    if rho is not None and resolution is not None:
        raise UsageError(f"give rho or resolution, not both (rho={rho!r}, resolution={resolution!r})")
    if resolution is not None:
        pair = resolution.lower().split("x") if isinstance(resolution, str) and "x" in resolution.lower() else resolution
        if isinstance(pair, (tuple, list)):
            if len(pair) != 2:
                raise UsageError(f"a resolution is one number or a height x width pair, got {resolution!r}")
            h, w = (_pixels(v) for v in pair)
            res = h if h == w else (h, w)
        else:
            res = _pixels(resolution)
        rho_value = hw(res)[0] / base
    else:
        try:
            if isinstance(rho, (bool, np.bool_, str)):
                raise TypeError
            rho_value = 1.0 if rho is None else float(rho)
        except (TypeError, ValueError, OverflowError):
            raise UsageError(f"rho must be a number > 0, got {rho!r}") from None
        if not math.isfinite(rho_value) or rho_value <= 0:
            raise UsageError(f"rho must be a finite number > 0, got {rho!r}")
        if rho_value * base > MAX_PIXELS:
            raise UsageError(f"rho {rho!r} gives more than {MAX_PIXELS:,} pixels")
        res = round(rho_value * base) if spatial == "exact" else rho_value * base
    if spatial == "exact" and min(hw(res)) < table.total_stride:
        raise UsageError(f"resolution {min(hw(res))} px is too small for {table.name}: its total stride is "
                         f"{table.total_stride}, so it needs at least {table.total_stride} px")
    return rho_value, res


def rules_for(table: Table, convention) -> Rules:
    """A convention's rules for the table's family (or given rules, possibly altered: see explore.explain)."""
    return convention if isinstance(convention, Rules) else get_convention(convention).rules(table.family)


def check_classes(classes, rules: Rules, table: Table | None = None) -> int:
    """The class count: the table's (a head's dataset) or else the convention's by default, else a whole number >= 1."""
    if classes is None:
        return table.classes if table is not None and table.classes else rules.classes
    if isinstance(classes, bool) or not isinstance(classes, (int, np.integer)) or classes < 1:
        raise UsageError(f"classes must be a whole number >= 1, got {classes!r}")
    return int(classes)


def check_stage_alpha(stage_alpha, rows: int, ndim: int = 2) -> np.ndarray:
    """Per-row multipliers: one per table row (``ndim`` 1, one configuration) or an array of shape
    (configurations, table rows); each a finite number > 0 (not a bool or a string)."""
    shape = "one multiplier per table row" if ndim == 1 else "an array of shape (configurations, table rows)"
    try:
        values = np.asarray(stage_alpha)
        if values.dtype.kind not in "iuf":
            raise TypeError
        values = values.astype(float)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"stage_alpha must be {shape} of numbers, got {stage_alpha!r:.80}") from None
    if values.ndim != ndim or values.shape[-1] != rows or not values.size:
        raise UsageError(f"stage_alpha must be {shape}: this table has {rows} rows, got shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise UsageError("every stage multiplier must be a finite number > 0")
    return values.reshape(-1, rows)


def check_resolutions(table: Table, resolutions, spatial: str) -> np.ndarray:
    """Many resolutions at once, validated as ``resolve_resolution`` validates one."""
    if spatial not in SPATIAL_MODES:
        raise UsageError(f"spatial must be one of {', '.join(SPATIAL_MODES)}, got {spatial!r}")
    try:
        values = np.asarray(resolutions if resolutions is not None else [table.resolution])
        if values.dtype.kind not in "iuf" or values.ndim > 1:
            raise TypeError
        res = np.atleast_1d(values.astype(float))
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"resolutions must be a list of whole numbers of pixels, got {resolutions!r:.80}") from None
    if not len(res):
        raise UsageError("a sweep needs at least one resolution")
    bad = ~np.isfinite(res) | (res <= 0) | (res != np.round(res))
    if bad.any():
        raise UsageError(f"resolution must be a whole number of pixels > 0, got {res[bad][0]:g}")
    if res.max() > MAX_PIXELS:
        raise UsageError(f"resolution must be at most {MAX_PIXELS:,} pixels, got {res.max():g}")
    if spatial == "exact" and res.min() < table.total_stride:
        raise UsageError(f"resolution {int(res.min())} px is too small for {table.name}: its total stride is "
                         f"{table.total_stride}, so it needs at least {table.total_stride} px")
    return res.astype(np.int64) if spatial == "exact" else res


def check_head(head, top) -> tuple | None:
    """Dense-layer widths of a replacement top, validated."""
    if head is None:
        return None
    if not top:
        raise UsageError("give a head or no top, not both")
    if isinstance(head, (str, bytes)) or not hasattr(head, "__iter__"):
        raise UsageError(f"head is a list of dense-layer widths, e.g. (320, 320), got {head!r}")
    widths = tuple(head)
    if len(widths) > 100:
        raise UsageError(f"a head of at most 100 dense layers, got {len(widths)}")
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or not 1 <= w <= MAX_CHANNELS:
            raise UsageError(f"head widths must be whole numbers from 1 to {MAX_CHANNELS}, got {w!r}")
    return widths


def check_switches(aux) -> tuple:
    """The row switches a configuration turns on (``aux``: DeepLab's auxiliary head)."""
    if not isinstance(aux, (bool, np.bool_)):
        raise UsageError(f"aux must be True or False, got {aux!r}")
    return ("aux",) if aux else ()


@dataclass(frozen=True)
class Setup:
    """What every path (one configuration, a sweep, memory) needs besides widths and resolutions."""

    table: Table
    rules: Rules
    classes: int
    spatial: str
    top: bool
    head: tuple | None
    switches: tuple
    reduced_tail: bool
    symbols: tuple = ()  # (name, width) of the table's params set for this configuration

    def expand(self, alpha, resolutions, stage_alpha=None, widths=None) -> list[Layer]:
        """Layers for configurations ``alpha`` at input heights ``resolutions`` (and ``widths``: square by default)."""
        h = np.asarray(resolutions)
        w = h if widths is None else np.asarray(widths)
        return expand(self.table, self.rules, alpha, h, w, self.classes, self.spatial, top=self.top, head=self.head,
                      stage_alpha=stage_alpha, switches=self.switches, reduced_tail=self.reduced_tail,
                      symbols=dict(self.symbols))


def setup(model, convention, classes, spatial, top, head, aux=False, reduced_tail=False, symbols=None) -> Setup:
    table = load_table(model)
    rules = rules_for(table, convention)
    if spatial not in SPATIAL_MODES:
        raise UsageError(f"spatial must be one of {', '.join(SPATIAL_MODES)}, got {spatial!r}")
    if not isinstance(reduced_tail, (bool, np.bool_)):
        raise UsageError(f"reduced_tail must be True or False, got {reduced_tail!r}")
    return Setup(table, rules, check_classes(classes, rules, table), spatial, bool(top), check_head(head, top),
                 check_switches(aux), bool(reduced_tail), check_symbols(table, symbols))


def check_symbols(table: Table, symbols) -> tuple:
    """The table's params with the values given (``{"f": 256}``), each a whole number of channels."""
    values = dict(table.params)
    if symbols is None:
        return tuple(values.items())
    if not isinstance(symbols, dict):
        raise UsageError(f"symbols must be a dict of table params, got {symbols!r}")
    for name, value in symbols.items():
        if str(name).lower() not in values:
            raise UsageError(f"{table.name} has no param {name!r} (its params: "
                             f"{', '.join(values) or 'none'}; a table declares them with '# param: NAME=WIDTH')")
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 < value <= MAX_CHANNELS:
            raise UsageError(f"param {name} must be a whole number of channels >= 1, got {value!r}")
        values[str(name).lower()] = int(value)
    return tuple(values.items())


def cost(model, alpha: float = 1.0, rho: float | None = None, convention="paper", classes: int | None = None,
         spatial: str = "exact", *, resolution: int | None = None, top: bool = True, head=None,
         stage_alpha=None, aux: bool = False, reduced_tail: bool = False,
         symbols=None) -> Cost:
    """Per-layer and total costs of ``model`` (a shipped table name or a CSV path): the one-configuration
    case of ``grid`` (the same expansion and cost functions), with every layer's counts kept apart.

    >>> r = cost("v1")
    >>> r.macs, r.params
    (568740352, 4210088)
    """
    return cost_layers(model, alpha, rho, convention, classes, spatial, resolution=resolution, top=top, head=head,
                       stage_alpha=stage_alpha, aux=aux, reduced_tail=reduced_tail, symbols=symbols)[0]


def cost_layers(model, alpha: float = 1.0, rho: float | None = None, convention="paper", classes: int | None = None,
                spatial: str = "exact", *, resolution: int | None = None, top: bool = True, head=None,
                stage_alpha=None, aux: bool = False, reduced_tail: bool = False, symbols=None):
    """``cost``, with the primitive layers it counted and its ``Setup``: ``(Cost, layers, setup)``."""
    s = setup(model, convention, classes, spatial, top, head, aux, reduced_tail, symbols)
    alpha = check_alpha(alpha)
    rho_value, res = resolve_resolution(s.table, rho, resolution, spatial)
    if stage_alpha is not None:  # one multiplier per table row, instead of alpha
        if alpha != 1.0:
            raise UsageError("give alpha or stage_alpha, not both")
        stage_alpha = check_stage_alpha(stage_alpha, len(s.table.rows), ndim=1)
    h, w = hw(res)
    layers = single(s.expand(np.array([alpha]), np.array([h]), stage_alpha, widths=np.array([w])))
    result = Cost(
        model=s.table.name, title=s.table.title, family=s.table.family, alpha=alpha, rho=rho_value, resolution=res,
        convention=s.rules.convention, classes=s.classes, spatial=spatial, columns=evaluate(layers, s.rules, spatial),
        top=list(s.head) if s.head is not None else s.top, rules=s.rules, aux=bool(s.switches), channels=s.table.channels,
        reduced_tail=s.reduced_tail, symbols=dict(s.symbols),
    )
    return result, layers, s


def _exact(x):
    """A count of one configuration as a Python number: an int when whole (exact, unbounded)."""
    x = x.item() if isinstance(x, np.generic) or (isinstance(x, np.ndarray) and x.size == 1) else x
    if isinstance(x, float) and x.is_integer() and abs(x) < EXACT_LIMIT:
        return int(x)
    return x


def _one(terms: Terms):
    """The value of a one-configuration, one-resolution count, in exact Python arithmetic."""
    return sum(_exact(coef) * _exact(area.values) for area, coef in terms.items.values())


def evaluate(layers: list[Layer], rules: Rules, spatial: str) -> dict:
    """Each layer's counts from its op's registry entry (one configuration, one resolution)."""
    counted = [op_cost(l, rules) for l in layers]
    geo_dtype = np.int64 if spatial == "exact" else np.float64
    cols = {key: np.array([getattr(l, key) for l in layers], dtype=object) for key in ("name", "stage", "block", "op")}
    cols["inputs"] = [l.inputs for l in layers]
    cols["from"] = np.array([",".join(l.inputs) for l in layers], dtype=object)
    cols["part"] = np.array([l.part for l in layers], dtype=object)
    for key in ("kernel", "stride", "groups", "c_in", "c_out", "c_mid", "dilation"):
        cols[key] = np.array([getattr(l, key) for l in layers], dtype=np.int64)
    for key in ("h_in", "w_in", "h_out", "w_out"):
        cols[key] = np.array([_exact(getattr(l, key)) for l in layers], dtype=geo_dtype)
    values = {"mult_adds": [_one(c.macs) for c in counted], "other_ops": [_one(c.other) for c in counted],
              "weights": [_exact(c.weights) for c in counted], "biases": [_exact(c.biases) for c in counted]}
    for key, v in values.items():
        if any(abs(x) >= INT_LIMIT for x in v):
            raise UsageError("the counts are too large for 64-bit integers: alpha or resolution far too large")
        cols[key] = np.array(v, dtype=geo_dtype if key in ("mult_adds", "other_ops") else np.int64)
    has_bn = np.array([l.bn for l in layers], dtype=bool)
    bn = np.where(has_bn, rules.bn_params * cols["c_out"], 0)
    cols.update(
        bn=has_bn, act=np.array([l.act for l in layers], dtype=object), macs=cols["mult_adds"] + cols["other_ops"],
        bn_params=bn, params=cols["weights"] + cols["biases"] + bn,
        trainable=cols["weights"] + cols["biases"] + np.where(has_bn, rules.bn_trainable * cols["c_out"], 0),
        activations=cols["h_out"] * cols["w_out"] * cols["c_out"],
    )
    return cols


def _factor_key(f):
    return f.tobytes() if isinstance(f, np.ndarray) else f


def _grid_block(s: Setup, alpha, res, stage_alpha, weigh=None):
    """``grid`` for one chunk of configurations."""
    n = len(alpha)
    layers = s.expand(alpha, res, stage_alpha)
    factors = weigh(layers) if weigh is not None else [(1, 1)] * len(layers)
    rules = s.rules
    terms: dict = {}  # area key -> [area values per resolution, coefficient per configuration]
    params = np.zeros(n)

    def collect(t: Terms, weight):
        for key, (area, coef) in t.items.items():
            slot = terms.get(key)
            if slot is None:
                slot = terms[key] = [np.broadcast_to(area.values, res.shape), np.zeros(n)]
            slot[1] += coef if isinstance(weight, int) and weight == 1 else weight * coef

    # identical layers (a row's repeats share their width arrays) are evaluated once, times their count
    groups: dict[tuple, list] = {}
    for l, (f_macs, f_params) in zip(layers, factors):
        key = (l.op, l.kernel, l.bias, l.bn, l.act, id(l.c_in), id(l.c_out), id(l.c_mid), id(l.groups), id(l.present),
               np.asarray(l.h_in * l.w_in).tobytes(), np.asarray(l.h_out * l.w_out).tobytes(), tuple(l.args.items()),
               _factor_key(f_macs), _factor_key(f_params))
        groups.setdefault(key, [l, 0, f_macs, f_params])[1] += 1
    for l, count, f_macs, f_params in groups.values():
        if l.present is True or np.all(l.present):
            weight = count
        elif not np.any(l.present):
            continue  # absent in every configuration of this chunk
        else:
            weight = count * np.asarray(l.present, dtype=float)
        c = op_cost(l, rules)
        w_macs = weight if isinstance(f_macs, int) and f_macs == 1 else weight * f_macs
        collect(c.macs, w_macs)
        if rules.counts_other_ops:
            collect(c.other, w_macs)
        layer_params = c.weights + c.biases + (rules.bn_params * l.c_out if l.bn else 0)
        w_params = weight if isinstance(f_params, int) and f_params == 1 else weight * f_params
        params += layer_params if isinstance(w_params, int) and w_params == 1 else w_params * layer_params
    areas = np.array([a for a, _ in terms.values()], dtype=float).reshape(len(terms), len(res))  # terms x resolutions
    coefs = np.array([c for _, c in terms.values()], dtype=float).reshape(len(terms), n).T  # configurations x terms
    if np.abs(coefs).max(initial=0) >= EXACT_LIMIT or params.max(initial=0) >= EXACT_LIMIT:
        raise UsageError("the counts are too large for exact arithmetic: alpha or resolution far too large")
    macs = coefs @ areas
    if s.spatial == "exact":
        bound = np.abs(coefs).sum(axis=1).max(initial=0) * np.abs(areas).max(initial=0)
        if bound >= EXACT_LIMIT:  # beyond float64's exact integers: add the terms in int64 instead
            if bound >= INT_LIMIT:
                raise UsageError("the counts are too large for 64-bit integers: alpha or resolution far too large")
            macs = sum(np.outer(c.astype(np.int64), a.astype(np.int64)) for a, c in zip(areas, coefs.T))
        macs = np.asarray(macs).round().astype(np.int64)
    return macs, params.astype(np.int64)


def grid(model, alphas=None, resolutions=None, *, convention="paper", classes=None, spatial: str = "exact",
         top: bool = True, head=None, stage_alpha=None, aux: bool = False, reduced_tail: bool = False,
         symbols=None, weigh=None):
    """Costs of many configurations at once: ``(macs, params)`` with ``macs`` of shape
    configurations x resolutions and ``params`` of shape configurations.

    Configurations are ``alphas`` (one multiplier each) or the rows of ``stage_alpha`` (a multiplier
    per table row). The expansion and the cost functions are those of ``cost``, run once on arrays;
    each op's counts come as per-configuration coefficients of per-resolution areas (``ops.Terms``),
    added over layers and combined with every resolution's areas by one matrix product. Identical to
    ``cost`` point by point. ``weigh(layers)`` may give each layer a (MACs, params) multiplier (a number, or
    an array over configurations): the training sweep's forward-plus-backward factors."""
    s = setup(model, convention, classes, spatial, top, head, aux, reduced_tail, symbols)
    if stage_alpha is not None:
        stage_alpha = check_stage_alpha(stage_alpha, len(s.table.rows))
        alpha_arg = np.ones(len(stage_alpha))
    else:
        alpha_arg = np.asarray([check_alpha(a) for a in np.atleast_1d(alphas)], dtype=float)
        if not len(alpha_arg):
            raise UsageError("a sweep needs at least one alpha")
    res = check_resolutions(s.table, resolutions, spatial)
    chunk = 1 << 15  # configurations per pass: keeps the element-wise work in cache
    blocks = [_grid_block(s, alpha_arg[i:i + chunk], res, None if stage_alpha is None else stage_alpha[i:i + chunk],
                          weigh) for i in range(0, len(alpha_arg), chunk)]
    return np.concatenate([b[0] for b in blocks]), np.concatenate([b[1] for b in blocks])
