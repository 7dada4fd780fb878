"""The cost engine: a table, a width multiplier, a resolution and a convention in; per-layer
mult-adds, parameters and activations out, as raw integers (floats in continuous mode)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .config import SPATIAL_MODES, Config, configure, number, pixels  # noqa: F401 (SPATIAL_MODES re-exported)
from .conventions import Rules, get_convention
from .errors import UsageError
from .expand import Layer, expand, single
from .ops import BUILTIN, Terms, op_cost
from .tables import Table, load_table
from .vocab import MAX_VALUE
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
    config: Config | None = field(default=None, repr=False)  # the configuration costed

    @property
    def ops(self):
        return self.config.ops if self.config is not None else BUILTIN

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


def hw(resolution) -> tuple:
    """(height, width) of a resolution: a number (square) or an (H, W) pair."""
    return tuple(resolution) if isinstance(resolution, tuple) else (resolution, resolution)


@dataclass(frozen=True)
class Setup:
    """A configuration bound to its table: the table, the convention's rules for its family, and the
    configuration's checked values. What every path (one configuration, a grid, memory, training, latency,
    the PyTorch builder) runs on."""

    table: Table
    rules: Rules
    config: Config
    classes: int
    switches: tuple

    @property
    def spatial(self) -> str:
        return self.config.spatial

    @property
    def ops(self):
        return self.config.ops

    def expand(self, alpha, resolutions, stage_alpha=None, widths=None) -> list[Layer]:
        """Layers for configurations ``alpha`` at input heights ``resolutions`` (and ``widths``: square by default)."""
        c = self.config
        h = np.asarray(resolutions)
        w = h if widths is None else np.asarray(widths)
        return expand(self.table, self.rules, alpha, h, w, self.classes, c.spatial, top=c.top, head=c.head,
                      stage_alpha=stage_alpha, switches=self.switches, reduced_tail=c.reduced_tail,
                      symbols=dict(self.symbols), ops=self.ops)

    @property
    def symbols(self) -> tuple:
        values = dict(self.table.params)
        values.update(self.config.symbols)
        return tuple(values.items())

    def resolution(self) -> tuple[float, object]:
        """(rho, resolution) of the one configuration: either given; exact mode rounds rho x base to pixels."""
        c, base = self.config, self.table.resolution
        if c.resolution is not None:
            res = c.resolution
            rho = hw(res)[0] / base
        else:
            rho = 1.0 if c.rho is None else c.rho
            if rho * base > MAX_VALUE:
                raise UsageError(f"rho {rho:g} gives more than {MAX_VALUE:,} pixels")
            res = round(rho * base) if c.spatial == "exact" else rho * base
            if c.spatial == "exact" and res < 1:
                raise UsageError(f"rho {rho:g} gives less than one pixel")
        self.check_size(min(hw(res)))
        return rho, res

    def check_size(self, smallest):
        if self.config.spatial == "exact" and smallest < self.table.total_stride:
            raise UsageError(f"resolution {smallest:g} px is too small for {self.table.name}: its total stride is "
                             f"{self.table.total_stride}, so it needs at least {self.table.total_stride} px")


def rules_for(table: Table, convention) -> Rules:
    """A convention's rules for the table's family (or given rules, possibly altered: see explore.explain)."""
    return convention if isinstance(convention, Rules) else get_convention(convention).rules(table.family)


def bind(model, config: Config) -> Setup:
    """``config`` bound to ``model``'s table, with the checks that need the table."""
    table = load_table(model, config.ops)
    rules = rules_for(table, config.convention)
    if config.stage_alpha is not None and config.stage_alpha.shape[-1] != len(table.rows):
        raise UsageError(f"stage_alpha must have one multiplier per table row: {table.name} has {len(table.rows)} "
                         f"rows, got shape {config.stage_alpha.shape}")
    names = dict(table.params)
    for name, _ in config.symbols:
        if name not in names:
            raise UsageError(f"{table.name} has no param {name!r} (its params: {', '.join(names) or 'none'}; a "
                             f"table declares them with '# param: NAME=WIDTH')")
    classes = config.classes if config.classes is not None else table.classes or rules.classes
    return Setup(table, rules, config, classes, ("aux",) if config.aux else ())


def setup(model, config: Config | None = None, **options) -> Setup:
    """The ``Setup`` of ``model`` under a configuration (``config``, or keyword options)."""
    return bind(model, configure(config, **options))


def cost(model, config: Config | None = None, **options) -> Cost:
    """Per-layer and total costs of ``model`` (a shipped table name or a CSV path) under one configuration:
    ``config`` (a ``mnetcost.Config``) or its fields as keywords (``alpha``, ``rho`` or ``resolution``,
    ``convention``, ``classes``, ``spatial``, ``top``, ``head``, ``stage_alpha``, ``aux``, ``reduced_tail``,
    ``symbols``, ``ops``). The layers' counts are those ``grid`` adds up.

    >>> r = cost("v1")
    >>> r.macs, r.params
    (568740352, 4210088)
    """
    return cost_layers(model, config, **options)[0]


def cost_layers(model, config: Config | None = None, **options):
    """``cost``, with the primitive layers it counted and its ``Setup``: ``(Cost, layers, setup)``."""
    s = setup(model, config, **options)
    c = s.config
    rho_value, res = s.resolution()
    h, w = hw(res)
    stage_alpha = None if c.stage_alpha is None else c.stage_alpha.reshape(1, -1)
    if stage_alpha is not None and stage_alpha.size != len(s.table.rows):
        raise UsageError("one configuration takes one multiplier per table row (a grid takes several rows)")
    layers = single(s.expand(np.array([c.alpha]), np.array([h]), stage_alpha, widths=np.array([w])))
    result = Cost(
        model=s.table.name, title=s.table.title, family=s.table.family, alpha=c.alpha, rho=rho_value, resolution=res,
        convention=s.rules.convention, classes=s.classes, spatial=c.spatial, columns=evaluate(layers, s),
        top=list(c.head) if c.head is not None else c.top, rules=s.rules, aux=c.aux, channels=s.table.channels,
        reduced_tail=c.reduced_tail, symbols=dict(s.symbols), config=c,
    )
    return result, layers, s


def check_resolutions(s: Setup, resolutions) -> np.ndarray:
    """A grid's resolutions (square, whole pixels), validated as one configuration's are."""
    try:
        values = np.asarray(resolutions if resolutions is not None else [s.table.resolution])
        if values.dtype.kind not in "iuf" or values.ndim > 1:
            raise TypeError
        res = np.atleast_1d(values.astype(float))
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"resolutions must be a list of whole numbers of pixels, got {resolutions!r:.80}") from None
    if not len(res):
        raise UsageError("a sweep needs at least one resolution")
    for bad in res[~np.isfinite(res) | (res <= 0) | (res != np.round(res)) | (res > MAX_VALUE)][:1]:
        pixels(float(bad))  # raises, naming the value
    s.check_size(res.min())
    return res.astype(np.int64) if s.spatial == "exact" else res


def check_alphas(alphas) -> np.ndarray:
    """A grid's width multipliers, each checked as one configuration's alpha is."""
    try:
        values = np.atleast_1d(np.asarray(alphas))
        if values.dtype.kind not in "iuf" or values.ndim != 1:
            raise TypeError
        a = values.astype(float)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(f"alphas must be a list of numbers > 0, got {alphas!r:.80}") from None
    if not len(a):
        raise UsageError("a sweep needs at least one alpha")
    for bad in a[~np.isfinite(a) | (a <= 0)][:1]:
        number(float(bad), "alpha")  # raises, naming the value
    return a


def _exact(x):
    """A count of one configuration as a Python number: an int when whole (exact, unbounded)."""
    if type(x) is int:
        return x
    x = x.item() if isinstance(x, np.generic) or (isinstance(x, np.ndarray) and x.size == 1) else x
    if isinstance(x, float) and x.is_integer() and abs(x) < EXACT_LIMIT:
        return int(x)
    return x


def _one(terms: Terms):
    """The value of a one-configuration, one-resolution count, in exact Python arithmetic."""
    return sum(_exact(coef) * _exact(area.values) for area, coef in terms.items.values())


@dataclass(frozen=True)
class LayerCount:
    """What one layer counts under a convention: the one source of every total, for one configuration
    (``evaluate``) and for a grid (``grid_counts``)."""

    mult_adds: Terms
    other: Terms  # zero unless the convention counts other operations
    weights: object
    biases: object
    bn: object  # BatchNorm values counted as parameters
    trainable: object  # parameters that train: weights, biases and the trainable BatchNorm values

    @property
    def params(self):
        return self.weights + self.biases + self.bn


def trains(layer, s: Setup, weights) -> object:
    """Whether the layer's parameters train: its op's ``trains`` facet, or, for a user's op that did not
    say, whether it has weights."""
    spec = s.ops[layer.op]
    return spec.trains if spec.trains is not None else np.asarray(weights) > 0


def count(layer: Layer, s: Setup) -> LayerCount:
    c = op_cost(layer, s.rules, s.ops)
    bn = s.rules.bn_params * layer.c_out if layer.bn else 0
    bn_trainable = s.rules.bn_trainable * layer.c_out if layer.bn else 0
    trained = trains(layer, s, c.weights)
    if type(trained) is bool and all(type(x) is int for x in (c.weights, c.biases, bn_trainable)):
        learned = c.weights + c.biases + bn_trainable if trained else 0  # one configuration: np.where's value, faster
        return LayerCount(c.macs, c.other, c.weights, c.biases, bn, learned)
    learned = np.where(trained, c.weights + c.biases + bn_trainable, 0)
    return LayerCount(c.macs, c.other, c.weights, c.biases, bn, learned if np.ndim(learned) else learned.item())


def _exact_column(values, dtype):
    if any(abs(x) >= INT_LIMIT for x in values):
        raise UsageError("the counts are too large for 64-bit integers: alpha or resolution far too large")
    return np.array(values, dtype=dtype)


def evaluate(layers: list[Layer], s: Setup) -> dict:
    """Each layer's counts (``count``) and shapes, for one configuration at one resolution: the columns of
    ``Cost``."""
    counted = [count(l, s) for l in layers]
    geo_dtype = np.int64 if s.spatial == "exact" else np.float64
    cols = {key: np.array([getattr(l, key) for l in layers], dtype=object)
            for key in ("name", "stage", "block", "op", "part", "act")}
    cols["inputs"] = [l.inputs for l in layers]
    cols["from"] = np.array([",".join(l.inputs) for l in layers], dtype=object)
    for key in ("kernel", "stride", "groups", "c_in", "c_out", "c_mid", "dilation"):
        cols[key] = np.array([getattr(l, key) for l in layers], dtype=np.int64)
    for key in ("h_in", "w_in", "h_out", "w_out"):
        cols[key] = np.array([_exact(getattr(l, key)) for l in layers], dtype=geo_dtype)
    for key in ("mult_adds", "other"):
        cols["other_ops" if key == "other" else key] = _exact_column([_one(getattr(c, key)) for c in counted],
                                                                     geo_dtype)
    for key in ("weights", "biases", "bn", "trainable"):
        cols["bn_params" if key == "bn" else key] = _exact_column([_exact(getattr(c, key)) for c in counted],
                                                                  np.int64)
    cols.update(bn=np.array([l.bn for l in layers], dtype=bool), macs=cols["mult_adds"] + cols["other_ops"],
                params=cols["weights"] + cols["biases"] + cols["bn_params"],
                activations=cols["h_out"] * cols["w_out"] * cols["c_out"])
    return cols


def _factor_key(f):
    return f.tobytes() if isinstance(f, np.ndarray) else f


def _groups(s: Setup, layers, factors) -> list:
    """Identical layers (a row's repeats share their width arrays) once each, with their count; layers
    absent from every configuration dropped; each with its weight over configurations."""
    groups: dict[tuple, list] = {}
    for l, f in zip(layers, factors):
        key = (l.op, l.kernel, l.bias, l.bn, l.act, id(l.c_in), id(l.c_out), id(l.c_mid), id(l.groups), id(l.present),
               l.area_in.key, l.area_out.key, tuple(l.args.items()),
               tuple(_factor_key(x) for x in f))
        groups.setdefault(key, [l, 0, f])[1] += 1
    out = []
    for l, n, f in groups.values():
        if l.present is True or np.all(l.present):
            out.append((l, n, f))
        elif np.any(l.present):
            out.append((l, n * np.asarray(l.present, dtype=float), f))
    return out


def _times(weight, factor):
    return weight if isinstance(factor, int) and factor == 1 else weight * factor


def _sum_terms(terms: dict, n: int, res, exact: bool) -> np.ndarray:
    """Configurations x resolutions from per-area coefficients: one matrix product, exact to the integer
    (float64 below 2^53, int64 beyond, an error past int64)."""
    areas = np.array([a for a, _ in terms.values()], dtype=float).reshape(len(terms), len(res))
    coefs = np.array([c for _, c in terms.values()], dtype=float).reshape(len(terms), n).T
    if np.abs(coefs).max(initial=0) >= EXACT_LIMIT:
        raise UsageError("the counts are too large for exact arithmetic: alpha or resolution far too large")
    total = coefs @ areas
    if not exact:
        return total
    bound = (np.abs(coefs) @ np.abs(areas)).max(initial=0)  # |total| of every configuration and resolution
    if bound >= EXACT_LIMIT:  # beyond float64's exact integers: add the terms in int64 instead
        if bound >= INT_LIMIT:
            raise UsageError("the counts are too large for 64-bit integers: alpha or resolution far too large")
        total = sum(np.outer(c.astype(np.int64), a.astype(np.int64)) for a, c in zip(areas, coefs.T))
    return np.asarray(total).round().astype(np.int64)


def _grid_block(s: Setup, alpha, res, stage_alpha, weigh=None, layers=None):
    """``grid_counts`` for one chunk of configurations (``layers``: their expansion, when done already)."""
    n = len(alpha)
    layers = s.expand(alpha, res, stage_alpha) if layers is None else layers
    factors = weigh(layers) if weigh is not None else [(1, 1, 1)] * len(layers)
    terms: dict = {}  # area key -> [area values per resolution, coefficient per configuration]
    params, trainable = np.zeros(n), np.zeros(n)

    def collect(t: Terms, weight):
        for key, (area, coef) in t.items.items():
            slot = terms.get(key)
            if slot is None:
                slot = terms[key] = [np.broadcast_to(area.values, res.shape), np.zeros(n)]
            slot[1] += _times(coef, weight)

    for l, weight, (f_macs, f_other, f_params) in _groups(s, layers, factors):
        c = count(l, s)
        collect(c.mult_adds, _times(weight, f_macs))
        collect(c.other, _times(weight, f_other))
        params += _times(_times(weight, f_params), c.params)
        trainable += _times(_times(weight, f_params), c.trainable)
    if max(params.max(initial=0), trainable.max(initial=0)) >= EXACT_LIMIT:
        raise UsageError("the counts are too large for exact arithmetic: alpha or resolution far too large")
    return _sum_terms(terms, n, res, s.spatial == "exact"), params.astype(np.int64), trainable.astype(np.int64)


def grid_of(s: Setup, layers, alphas, res):
    """``(macs, params, trainable)`` of an expansion already made (``s.expand(alphas, res)``): for a caller that
    needs the layers for more than the counts (``explore.fit``: peak memory and latency too)."""
    return _grid_block(s, alphas, res, None, layers=layers)


def grid_counts(s: Setup, alphas, res, weigh=None):
    """``(macs, params, trainable)`` of configurations ``alphas`` (or ``s.config.stage_alpha``'s rows) at
    resolutions ``res``, by chunks; ``weigh(layers)`` may give each layer (mult-adds, other ops, params)
    multipliers (numbers, or arrays over configurations): the training sweep's backward factors."""
    stage_alpha = s.config.stage_alpha
    if stage_alpha is not None:
        stage_alpha = stage_alpha.reshape(-1, len(s.table.rows))
        alphas = np.ones(len(stage_alpha))
    chunk = 1 << 15  # configurations per pass: keeps the element-wise work in cache
    blocks = [_grid_block(s, alphas[i:i + chunk], res, None if stage_alpha is None else stage_alpha[i:i + chunk],
                          weigh) for i in range(0, len(alphas), chunk)]
    return tuple(np.concatenate([b[k] for b in blocks]) for k in range(3))


def grid(model, alphas=None, resolutions=None, config: Config | None = None, **options):
    """Costs of many configurations at once: ``(macs, params)`` with ``macs`` of shape
    configurations x resolutions and ``params`` of shape configurations.

    Configurations are ``alphas`` (one multiplier each) or the rows of ``stage_alpha`` (a multiplier per
    table row); the rest of the configuration is ``config`` or keywords, as for ``cost``. Each layer's
    counts are ``cost``'s (``count``), kept as per-configuration coefficients of per-resolution areas
    (``ops.Terms``), added over layers and combined with every resolution's areas by one matrix product.
    Identical to ``cost`` point by point (tested by property)."""
    s = setup(model, config, **options)
    alphas = np.ones(1) if s.config.stage_alpha is not None else check_alphas(1.0 if alphas is None else alphas)
    macs, params, _ = grid_counts(s, alphas, check_resolutions(s, resolutions))
    return macs, params
