"""Fit a device model (``latency.Device``) to measured latencies, and say honestly how well it predicts
latencies it was not fitted to.

The fit: non-negative least squares on relative error, over the terms the measurements contain (a MAC
rate per layer class, the cost per layer, per squeeze-excite block and per element of each
element-wise operator), for a bandwidth that is either given (as a ridge point) or chosen by a scan
(infinite included: memory never bounds a layer). The features are the device model's own per-layer
terms (``latency.layer_terms``), and every prediction -- the fit's loss, the fitted values, the held-out
ones -- is a ``Device``'s time (``latency.layer_time``): the profile saved is the model reported. The
max() of the roofline is fitted by fixing each layer's bound (compute or memory) as the current Device
gives it, solving the then linear model, and repeating until the bounds settle.

Held-out error: cross-validation by groups -- a network (one model at one alpha, all its resolutions)
or a whole model -- each group predicted by a fit to all the others, beside the MACs-only proxy
t = a x MACs + b fitted and tested on the same splits. A held-out prediction that needs a term its
fit never saw (an operator only that network has) is marked: it is an extrapolation, and usually
misses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .errors import TableError, UsageError
from .latency import (ELEMENT_TERMS, FALLBACK, ITEM_TERMS, MAC_CLASSES, SUITE_TERMS, Device, HeldOut, LayerTerms, cache_factor,
                      combine, layer_seconds, layer_terms)

from .vocab import FORMS, HOLDOUTS  # noqa: E402  (one definition, shared with the CLI)
BANDWIDTHS = np.concatenate([[np.inf], np.logspace(12, 8, 17)])  # bytes/s tried when none is given: 4 per decade
MAX_OBSERVATIONS = 2000
MAX_LAYER_ROWS = 50_000  # layers over all measurements (the features: about 45 us each on a 2-core machine)
MAX_FIT_WORK = 250_000  # (held-out groups + 1) x those layers: the fits cross-validation runs (up to ~17 us each)
MIN_SHARE = 0.05
MAIN = "pw"  # the class whose rate is the profile's peak_macs, and that layers without a class of their own share


@dataclass
class Observation:
    source: str
    model: str
    alpha: float
    resolution: int
    convention: str
    latency_s: float
    layer: str = ""  # one layer of the configuration (an operator suite's measurement), or "" the network
    null_s: float = 0.0  # the suite's null graph: the runtime's fixed cost of one call
    evict_bytes: float = 0.0  # the suite's: bytes written over the caches before each run of its graph



@dataclass
class _Features:
    """The device model's per-layer terms (``latency.layer_terms``) of every observation, stacked into
    one LayerTerms (``obs``: whose layer each is), and per observation the sums of the count terms."""

    terms: LayerTerms  # every layer of every observation, layers x 1
    obs: np.ndarray
    cls: np.ndarray  # index into MAC_CLASSES, -1 for a layer without MACs
    counts: np.ndarray  # observations x count_terms
    count_terms: list
    total_macs: np.ndarray
    y: np.ndarray
    floor: float = 0.0  # seconds: an error is relative to max(latency, floor) (an operator suite's tiny layers)
    layer_rows: tuple = ()  # per observation: whether it is one layer (an operator suite's) or a network
    layer_keys: tuple = ()  # per observation: the suite's layer (model, alpha, resolution, convention, layer), or ()
    evicts: tuple = ()  # per observation: the suite's bytes written before each run (0 for a network)

    @property
    def macs(self) -> np.ndarray:
        return self.terms.macs[:, 0]

    @property
    def moved(self) -> np.ndarray:
        return self.terms.moved[:, 0]


def nnls(a: np.ndarray, b: np.ndarray, tol: float = 1e-12) -> np.ndarray:
    """min ||a x - b|| subject to x >= 0 (Lawson and Hanson's active-set method)."""
    m, n = a.shape
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    scale = np.abs(a).max(initial=0) or 1.0
    for _ in range(3 * n + 10):
        grad = a.T @ (b - a @ x)
        if passive.all() or grad[~passive].max(initial=-np.inf) <= tol * scale:
            break
        passive[np.argmax(np.where(passive, -np.inf, grad))] = True
        while True:
            z = np.zeros(n)
            z[passive] = np.linalg.lstsq(a[:, passive], b, rcond=None)[0]
            if z[passive].min(initial=np.inf) > 0:
                x = z
                break
            bad = passive & (z <= 0)
            step = np.min(x[bad] / (x[bad] - z[bad]))
            x = x + step * (z - x)
            passive &= x > tol * np.abs(x).max(initial=1.0)
            x[~passive] = 0.0
    return x




def _features(observations, dtype: str) -> _Features:
    from .engine import setup

    setups, each, whole = {}, [], {}
    for o in observations:
        key = (o.model, o.convention)
        if key not in setups:
            setups[key] = setup(o.model, convention=o.convention)
        config = (key, o.alpha, o.resolution)
        if config not in whole:
            whole[config] = layer_terms(setups[key], o.alpha, np.array([o.resolution]), np.array([o.resolution]), dtype)
        each.append(_one_layer(whole[config], o) if o.layer else whole[config])
    keys = [k for t in each for k in t.counts]
    keys = sorted(set(keys), key=keys.index)
    terms = LayerTerms([n for t in each for n in t.names], [op for t in each for op in t.ops],
                       [c for t in each for c in t.classes], np.concatenate([t.macs for t in each]),
                       np.concatenate([t.moved for t in each]), np.concatenate([t.intensity for t in each]),
                       {k: np.concatenate([t.counts.get(k, np.zeros_like(t.macs)) for t in each]) for k in keys},
                       np.concatenate([t.footprint for t in each]))
    obs = np.concatenate([np.full(len(t.names), j) for j, t in enumerate(each)])
    sums = [{k: float(v[:, 0].sum()) for k, v in t.counts.items()} for t in each]
    names = [t for t in (*ITEM_TERMS, *ELEMENT_TERMS) if any(r.get(t, 0) > 0 for r in sums)]
    counts = np.array([[r.get(t, 0.0) for t in names] for r in sums]).reshape(len(sums), len(names))
    classes = list(MAC_CLASSES)
    return _Features(terms, obs, np.array([classes.index(c) if c else -1 for c in terms.classes], dtype=np.int64),
                     counts, names, np.bincount(obs, weights=terms.macs[:, 0], minlength=len(each)),
                     np.array([o.latency_s for o in observations]),
                     SUITE_FLOOR if any(o.layer for o in observations) else 0.0,
                     tuple(bool(o.layer) for o in observations),
                     tuple((o.model, o.alpha, o.resolution, o.convention, o.layer) if o.layer else () for o in observations),
                     tuple(float(o.evict_bytes) if o.layer else 0.0 for o in observations))


SUITE_FLOOR = 20e-6  # an operator suite's layer of a few microseconds is weighed as one of 20 us (its noise is
# a fixed microsecond or so, not a share)


def _one_layer(t: LayerTerms, o: Observation) -> LayerTerms:
    """The terms of the one layer an operator suite's measurement timed (the null graph subtracted: no
    ``network`` term; the bytes its network touches are those the suite wrote before each run)."""
    if o.layer not in t.names:
        raise TableError(f"{o.source}: {o.model} at alpha {o.alpha:g}, {o.resolution} px has no layer {o.layer!r:.80}")
    i = t.names.index(o.layer)
    counts = {k: v[i:i + 1] * (k != "network") for k, v in t.counts.items()}
    return LayerTerms(t.names[i:i + 1], t.ops[i:i + 1], t.classes[i:i + 1], t.macs[i:i + 1], t.moved[i:i + 1],
                      t.intensity[i:i + 1], counts, np.full_like(t.footprint[i:i + 1], float(o.evict_bytes)))


def _subset(f: _Features, idx) -> _Features:
    """The features of observations ``idx`` alone (renumbered in that order)."""
    idx = np.asarray(idx)
    position = np.full(len(f.y), -1)
    position[idx] = np.arange(len(idx))
    mine = position[f.obs] >= 0
    t = f.terms
    terms = LayerTerms([n for n, m in zip(t.names, mine) if m], [o for o, m in zip(t.ops, mine) if m],
                       [c for c, m in zip(t.classes, mine) if m], t.macs[mine], t.moved[mine], t.intensity[mine],
                       {k: v[mine] for k, v in t.counts.items()}, t.footprint[mine])
    return _Features(terms, position[f.obs[mine]], f.cls[mine], f.counts[idx], f.count_terms, f.total_macs[idx],
                     f.y[idx], f.floor, *(tuple(x[i] for i in idx) for x in (f.layer_rows, f.layer_keys, f.evicts)))


def predict(device: Device, f: _Features, parts=None) -> np.ndarray:
    """Each observation's seconds on ``device``: the device model's layer times summed (``parts``: the
    layers' ``latency.layer_seconds`` on it, when already at hand)."""
    return np.bincount(f.obs, weights=combine(*(parts or layer_seconds(f.terms, device)))[:, 0], minlength=len(f.y))


@dataclass(frozen=True)
class _Spec:
    """What a fit may fit: MAC terms (``["all"]``: one rate for every class), count terms, and either a
    fixed ridge point or a fixed bandwidth."""

    mac_terms: list
    count_terms: list
    ridge_point: float | None = None
    bandwidth: float = np.inf

    def column_of(self, f: _Features) -> np.ndarray:
        """Per layer, the column of the MAC term whose rate it takes (a class without a rate of its own
        takes the main rate, as a Device's classes without a rate take its peak)."""
        if self.mac_terms == ["all"]:
            return np.zeros(len(f.cls), dtype=np.int64)
        classes = list(MAC_CLASSES)
        lookup = np.full(len(classes), self.mac_terms.index(MAIN))
        for k, c in enumerate(self.mac_terms):
            lookup[classes.index(c)] = k
        for c, other in FALLBACK.items():  # as Device.rate: a class without a rate of its own takes its fallback's
            if c not in self.mac_terms and other in self.mac_terms:
                lookup[classes.index(c)] = self.mac_terms.index(other)
        return lookup[np.maximum(f.cls, 0)]

    def device(self, theta: np.ndarray, dtype: str) -> Device:
        """The Device of parameters ``theta`` (seconds per MAC of each MAC term, then each count term's cost)."""
        with np.errstate(divide="ignore", over="ignore"):
            rates = np.where(theta[: len(self.mac_terms)] > 0, 1.0 / theta[: len(self.mac_terms)], np.inf)
        costs = tuple((t, float(v)) for t, v in zip(self.count_terms, theta[len(self.mac_terms):]))
        own = dict(zip(self.mac_terms, (float(r) for r in rates)))
        peak = own.get("all", own.get(MAIN))
        bandwidth = self.bandwidth if self.ridge_point is None else peak / self.ridge_point
        return Device("fit", peak, bandwidth, dtype, "", tuple((c, r) for c, r in own.items() if c not in ("all", MAIN)),
                      costs)


def _terms_for(form: str, f: _Features) -> tuple[list, list]:
    # a class gets a rate of its own where it holds MIN_SHARE of some network's MACs; the others
    # (a stem's few dense MACs, say) cannot be told apart and share the main rate
    if form == "roofline":
        return ["all"], []
    if form == "overhead":
        return ["all"], ["layer"]
    present = [MAIN]
    for k, c in enumerate(MAC_CLASSES):
        share = np.bincount(f.obs, weights=np.where(f.cls == k, f.macs, 0.0), minlength=len(f.y))
        if c != MAIN and (share / np.maximum(f.total_macs, 1.0)).max(initial=0) >= MIN_SHARE:
            present.append(c)
    counts = [t for k, t in enumerate(f.count_terms) if f.counts[:, k].sum() > 0
              and (form == "suite" or t not in SUITE_TERMS)]
    if form == "classes":
        return present, [t for t in counts if t == "layer"]
    return present, counts


def _design(spec: _Spec, f: _Features, memory_bound: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The linear model of the device model's time once each layer's bound is fixed: (columns per
    observation, seconds that need no parameter). A compute-bound layer takes MACs x seconds per MAC of
    its class; a memory-bound one bytes / bandwidth: a constant for a fixed bandwidth, ridge point x
    bytes x seconds per MAC of the main rate for a fixed ridge point (bandwidth = peak / ridge point)."""
    n, k = len(f.y), len(spec.mac_terms)
    column = spec.column_of(f)
    a = np.zeros((n, k + len(spec.count_terms)))
    for j in range(k):
        a[:, j] = np.bincount(f.obs, weights=np.where((column == j) & ~memory_bound, f.macs, 0.0), minlength=n)
    offset = np.zeros(n)
    if spec.ridge_point is not None:
        main = 0 if spec.mac_terms == ["all"] else spec.mac_terms.index(MAIN)
        a[:, main] += np.bincount(f.obs, weights=np.where(memory_bound, spec.ridge_point * f.moved, 0.0), minlength=n)
    elif np.isfinite(spec.bandwidth):
        offset = np.bincount(f.obs, weights=np.where(memory_bound, f.moved / spec.bandwidth, 0.0), minlength=n)
    cols = [f.count_terms.index(t) for t in spec.count_terms]
    a[:, k:] = f.counts[:, cols]
    return a, offset


def _solve(spec: _Spec, f: _Features, dtype: str) -> tuple[Device, float]:
    """NNLS on relative error with each layer's bound fixed, then the bounds the fitted Device gives,
    until they settle: the best Device by its own predictions' loss."""
    y, scale = f.y, np.maximum(f.y, f.floor)
    if spec.ridge_point is not None:
        memory_bound = spec.ridge_point * f.moved > f.macs  # exact for one rate
    else:
        memory_bound = (f.macs == 0) & np.isfinite(spec.bandwidth)
    best = None
    for _ in range(30):
        a, offset = _design(spec, f, memory_bound)
        device = spec.device(nnls(a / scale[:, None], (y - offset) / scale), dtype)
        parts = layer_seconds(f.terms, device)
        loss = float((((predict(device, f, parts) - y) / scale) ** 2).sum())
        if best is None or loss < best[1]:
            best = (device, loss)
        new = parts[1][:, 0] > parts[0][:, 0]  # memory-bound
        if np.array_equal(new, memory_bound):
            break
        memory_bound = new
    return best


COMPOSITION = ("layer", "weights", "se", "network")  # what composing layers into a network adds: each layer's
# launch and glue, weights read cold (a layer timed alone finds them in the caches), the layout reorders around
# squeeze-excite's element-wise product, the call


def _fit(form, f: _Features, dtype: str, ridge_point=None, bandwidth=None) -> Device:
    """The Device fitted to every observation of ``f``. In the form suite with networks measured whole
    beside the suite's layers: the layers' model fitted to the layers alone, then what composing them
    costs (``COMPOSITION``) fitted to the networks' remainder."""
    whole = np.array([not x for x in f.layer_rows], dtype=bool)
    if form == "suite" and whole.any() and not whole.all():
        layers = _fit(form, _subset(f, np.flatnonzero(~whole)), dtype, ridge_point, bandwidth)
        return _compose(layers, _subset(f, np.flatnonzero(whole)))
    curve, probes = _cache_curve(f) if form == "suite" else ((), None)
    if curve:
        layers = _fit(form, _subset(f, np.flatnonzero(~probes)), dtype, ridge_point, bandwidth)
        return dataclasses.replace(layers, cache=curve)
    mac_terms, count_terms = _terms_for(form, f)
    spec = lambda b=np.inf: _Spec(mac_terms, count_terms, ridge_point, b)  # noqa: E731
    if ridge_point is not None:
        return _solve(spec(), f, dtype)[0]
    if bandwidth is not None:
        return _solve(spec(bandwidth), f, dtype)[0]
    fits = [(_solve(spec(b), f, dtype), b) for b in BANDWIDTHS]
    best, b = min(fits, key=lambda x: x[0][1])
    if np.isfinite(b):  # refine between the neighbouring grid points
        step = BANDWIDTHS[1] / BANDWIDTHS[2]
        best = min([best] + [_solve(spec(b * step ** x), f, dtype) for x in np.linspace(-0.75, 0.75, 7)],
                   key=lambda m: m[1])
    return best[0]


def _cache_curve(f: _Features) -> tuple[tuple, np.ndarray | None]:
    """An operator suite's cache curve: where some of its layers were timed again with more or fewer bytes
    written before each run than the suite's own (its most common: the reference), the (bytes, factor)
    knots -- at each size the median over those layers of their time there over their time at the
    reference, the reference at 1 -- and which observations are those other sizes' (left out of the
    layers' fit)."""
    evicts = np.array(f.evicts, dtype=float)
    layer = np.array(f.layer_rows, dtype=bool)
    sizes = np.unique(evicts[layer])
    if len(sizes) < 2:
        return (), None
    reference = _reference(evicts[layer].tolist())
    base: dict = {}
    for i in np.flatnonzero(layer & (evicts == reference)):
        base.setdefault(f.layer_keys[i], []).append(f.y[i])
    knots = {float(reference): 1.0}
    for size in sizes[sizes != reference]:
        ratios = [f.y[i] / np.mean(base[f.layer_keys[i]]) for i in np.flatnonzero(layer & (evicts == size))
                  if f.layer_keys[i] in base]
        if ratios:
            knots[float(size)] = float(np.median(ratios))
    if len(knots) < 2:  # no layer timed at another size was timed at the reference too: no curve
        return (), None
    return tuple(sorted(knots.items())), layer & (evicts != reference)


def _reference(sizes: list) -> float:
    """The suite's own bytes written before each run among its rows' ``sizes``: the most common (the smallest
    of a tie); a cache curve's other sizes are a few graphs each."""
    return max(sorted(set(sizes)), key=sizes.count)


def _compose(device: Device, f: _Features) -> Device:
    """``device`` plus the composition terms that, added to its costs, fit the networks of ``f`` best
    (non-negative least squares on relative error; a term's cost, like every cost, times the cache factor)."""
    y = f.y
    rest = y - predict(device, f)
    factor = cache_factor(device, f.terms.footprint[:, 0])
    counts = np.column_stack([np.bincount(f.obs, weights=f.terms.counts.get(t, np.zeros_like(f.terms.macs))[:, 0]
                                          * factor, minlength=len(y)) for t in COMPOSITION])
    extra = nnls(counts / y[:, None], rest / y)
    costs = dict(device.costs)
    for term, value in zip(COMPOSITION, extra):
        costs[term] = costs.get(term, 0.0) + float(value)
    return dataclasses.replace(device, costs=tuple(costs.items()))


def _proxy(f: _Features, train, test) -> np.ndarray:
    y = f.y[train]
    a = np.column_stack([f.total_macs[train], np.ones(len(train))])
    coef = nnls(a / y[:, None], np.ones(len(train)))
    return coef[0] * f.total_macs[test] + coef[1]


@dataclass
class Calibration:
    device: Device
    table: object  # DataFrame: one row per measurement with its fitted and held-out predictions
    form: str
    holdout: str
    train_error: float  # mean |relative error| of the fit to everything, on everything
    held_out: HeldOut | None  # None when there is only one group

    def __repr__(self):
        return f"Calibration({self.device.name!r}, {self.form}: {self.held_out or 'nothing held out'})"

    def records(self) -> list[dict]:
        """The table's rows as dicts, a value that does not exist (nothing held out) as None, not NaN."""
        return [{k: None if isinstance(v, float) and v != v else v for k, v in rec.items()}
                for rec in self.table.to_dict("records")]


MIN_LATENCY, MAX_LATENCY = 1e-9, 1e4  # seconds: 1 ns to 10,000 s


def calibrate(observations, *, name: str = "calibrated", form: str | None = None, holdout: str = "network",
              dtype: str = "float32", ridge_point=None, bandwidth=None, source: str = "") -> Calibration:
    """A device profile fitted to ``observations`` (``Observation``s, or what ``read_measurements``
    and ``published_latencies`` return), with its held-out error under ``holdout``. The profile is the
    model: its ``roofline`` of each measured configuration is that row's ``fitted_ms``, and each
    ``predicted_ms`` is the same device model fitted without that row's group. An operator suite's
    measurements (``measure --suite``: one layer each) are fitted in the form ``suite`` (the default for
    them; ``full`` for networks): each layer's time by the device model's terms, the null graph's time as
    the cost of a network's call, and the range of every term the suite measured kept as the profile's
    coverage (a prediction beyond it is marked)."""
    from .latency import device_text

    observations = list(observations) if isinstance(observations, (list, tuple)) else observations
    suite = isinstance(observations, list) and any(isinstance(o, Observation) and o.layer for o in observations)
    form = form or ("suite" if suite else "full")

    device_text(name, "name")  # what the device file's reader would refuse is refused before the fit
    if source:
        device_text(source, "source")
    observations = _check(observations, form, holdout, dtype, ridge_point, bandwidth)
    _check_work(observations, holdout)
    f = _features(observations, dtype)
    try:
        device = _fit(form, f, dtype, ridge_point, bandwidth)
        if not device.bounded:
            raise UsageError("the measurements determine no term of the model (every one fitted as free): "
                             "measure more configurations, or larger ones")
        fitted = predict(device, f)
        keys = [_group(o, holdout) for o in observations]
        held, proxy, unseen = _cross_validate(form, f, keys, dtype, ridge_point, bandwidth)
    except np.linalg.LinAlgError as e:
        raise UsageError(f"the measurements cannot be fitted ({e}): are the latencies of one machine, in ms?") from None
    y, scale = f.y, np.maximum(f.y, f.floor)
    error, proxy_error = (held - y) / scale, (proxy - y) / scale
    held_out = None
    if len(set(keys)) > 1:
        method = HOLDOUTS[holdout] + (f"; errors relative to max(latency, {f.floor * 1e6:g} us)" if f.floor else "")
        held_out = HeldOut(method, len(y), float(np.mean(np.abs(error) <= 0.1)),
                           float(np.mean(np.abs(error))), float(np.mean(np.abs(proxy_error) <= 0.1)),
                           float(np.mean(np.abs(proxy_error))))
    device = dataclasses.replace(device, name=name, source=source or f"fit by mnetcost calibrate ({FORMS[form]}) "
                                 f"to {len(y)} latencies", held_out=held_out, **_suite_parts(device, observations, f))
    table = _table(observations, keys, y, fitted, held, error, proxy, proxy_error, unseen)
    return Calibration(device, table, form, holdout, float(np.mean(np.abs(fitted - y) / scale)), held_out)


def _suite_parts(device: Device, observations, f: _Features) -> dict:
    """For an operator suite's measurements: the null graph's time as the cost of a network's call, and
    the range of each MAC class's MACs and each term's count per layer that the suite measured."""
    if not any(o.layer for o in observations):
        return {}
    reference = _reference([o.evict_bytes for o in observations if o.layer])  # a cache curve's others call slower
    null = [o.null_s for o in observations if o.layer and o.null_s > 0 and o.evict_bytes == reference]
    costs = device.costs
    if all(o.layer for o in observations):  # no network measured whole: a network's call costs the null graph's
        costs = tuple((k, v) for k, v in costs if k != "network") + ((("network", float(np.median(null))),)
                                                                     if null else ())
    cover = []
    for k, c in enumerate(MAC_CLASSES):
        macs = f.macs[(f.cls == k) & (f.macs > 0)]
        if macs.size:
            cover.append((c, float(macs.min()), float(macs.max())))
    for term, v in f.terms.counts.items():
        v = v[:, 0][v[:, 0] > 0]
        if term not in ("layer", "network", "weights") and v.size:
            cover.append((term, float(v.min()), float(v.max())))
    return {"costs": costs, "coverage": tuple(cover)}


def _check_work(observations, holdout: str) -> None:
    """Refuse, before any fit, a calibration that would take more than a few seconds: its features cost each
    measurement's layers, and cross-validation fits them once per held-out group and once on everything."""
    from .engine import cost

    layers = {}
    for o in observations:
        key = (o.model, o.convention)
        if key not in layers:
            try:
                layers[key] = len(cost(o.model, convention=o.convention, alpha=o.alpha, resolution=o.resolution).columns["name"])
            except TypeError:
                raise UsageError(f"an observation's model, alpha and resolution are a table, a number and pixels, "
                                 f"got {o!r:.100}") from None
    rows = sum(1 if o.layer else layers[o.model, o.convention] for o in observations)
    groups = len({_group(o, holdout) for o in observations})
    if rows > MAX_LAYER_ROWS or (groups + 1) * rows > MAX_FIT_WORK:
        raise UsageError(f"{len(observations):,} measurements of {rows:,} layers in all, held out in {groups:,} groups, "
                         f"are more than calibrate fits at once (at most {MAX_LAYER_ROWS:,} layers, and {MAX_FIT_WORK:,} "
                         "layers x (groups + 1)): use fewer measurements, or --holdout network or model (fewer groups)")


def _check(observations, form, holdout, dtype, ridge_point, bandwidth) -> list:
    """The arguments of ``calibrate``, validated; the observations as a list."""
    from .traffic import dtype_bytes

    if form not in FORMS:
        raise UsageError(f"unknown form {form!r:.40}; choose one of {', '.join(FORMS)}")
    if holdout not in HOLDOUTS:
        raise UsageError(f"unknown holdout {holdout!r:.40}; choose one of {', '.join(HOLDOUTS)}")
    dtype_bytes(dtype)
    for label, value in (("ridge point", ridge_point), ("bandwidth", bandwidth)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not 0 < value < 1e300):
            raise UsageError(f"the {label} must be a positive number, got {value!r}")
    if ridge_point is not None and bandwidth is not None:
        raise UsageError("give a ridge point or a bandwidth, not both")
    if isinstance(observations, (str, bytes)) or not hasattr(observations, "__iter__"):
        raise UsageError(f"observations are a list of Observation, got {observations!r:.60}")
    observations = list(observations)
    if not 2 <= len(observations) <= MAX_OBSERVATIONS:
        raise UsageError(f"a calibration needs 2 to {MAX_OBSERVATIONS} measurements, got {len(observations)}")
    for o in observations:
        if not isinstance(o, Observation):
            raise UsageError(f"observations are a list of Observation, got {o!r:.60}")
        if isinstance(o.latency_s, bool) or not isinstance(o.latency_s, (int, float, np.floating)) \
                or not MIN_LATENCY <= o.latency_s <= MAX_LATENCY:
            raise UsageError(f"a latency must be 1 ns to 10,000 s, got {o.latency_s!r:.40} s for {o.model} "
                             f"{o.alpha:g} {o.resolution}")
    return observations


def _cross_validate(form, f: _Features, keys, dtype, ridge_point, bandwidth):
    """Per observation: the prediction of the device fitted to every other group, the MACs-only
    proxy's, and the count terms that prediction needed but its fit never saw."""
    n = len(keys)
    held, proxy, unseen = np.full(n, np.nan), np.full(n, np.nan), [""] * n
    groups = sorted(set(keys), key=keys.index)
    if len(groups) < 2:
        return held, proxy, unseen
    fitted_terms = set(_terms_for(form, f)[1])
    for g in groups:
        test = np.array([i for i, k in enumerate(keys) if k == g])
        train = np.array([i for i, k in enumerate(keys) if k != g])
        held[test] = predict(_fit(form, _subset(f, train), dtype, ridge_point, bandwidth), _subset(f, test))
        proxy[test] = _proxy(f, train, test)
        new = [t for k, t in enumerate(f.count_terms) if t in fitted_terms
               and f.counts[test, k].sum() > 0 and f.counts[train, k].sum() == 0]
        for i in test:
            unseen[i] = ", ".join(new)
    return held, proxy, unseen


def _table(observations, keys, y, fitted, held, error, proxy, proxy_error, unseen):
    import pandas as pd

    return pd.DataFrame({"source": [o.source for o in observations], "model": [o.model for o in observations],
                         "alpha": [o.alpha for o in observations], "resolution": [o.resolution for o in observations],
                         "group": [" ".join(map(str, k)) for k in keys], "measured_ms": y * 1e3,
                         "fitted_ms": fitted * 1e3, "predicted_ms": held * 1e3, "error": error,
                         "proxy_ms": proxy * 1e3, "proxy_error": proxy_error,
                         "unseen": unseen})  # terms a held-out prediction needed that its fit never saw


def _group(o: Observation, holdout: str) -> tuple:
    if holdout == "model":
        return (o.model,)
    if holdout == "network":
        return (o.model, f"{o.alpha:g}")
    return (o.model, f"{o.alpha:g}", o.resolution, o.source)


# ---- where observations come from ------------------------------------------------------------------------------

def read_measurements(path, convention: str | None = None) -> list[Observation]:
    """The measurements of a CSV file (format: docs/latency.md; ``mnetcost measure`` writes it): at
    least ``model, alpha, resolution, latency_ms``; ``convention`` defaults to paper."""
    from .engine import setup
    from .vocab import SUITE_COLUMNS
    from .timing import COLUMNS, REQUIRED
    from .records import number, read_records
    from .vocab import SUITE_EVICT as EVICT  # a suite file from before the column was timed after the suite's own
    from .tables import resolve_reference, shipped_name

    out = []
    checked = {}
    optional = tuple(dict.fromkeys(c for c in COLUMNS + SUITE_COLUMNS if c not in REQUIRED)) + ("source",)
    for line, r in read_records(path, REQUIRED, optional, "measurements"):
        where = f"{_name(path)}, line {line}"
        conv = r.get("convention") or convention or "paper"
        try:
            model = resolve_reference(r["model"], path)  # a user's table: its path, beside the measurements file
        except (OSError, RuntimeError, ValueError):
            raise TableError(f"{where}, column model: no table at {r['model']!r:.200}") from None
        key = (model, conv)
        if key not in checked:
            try:
                checked[key] = setup(model, convention=conv)
            except UsageError as e:
                raise TableError(f"{where}: {e}") from None
        alpha = number(r["alpha"], where, "alpha")
        res = number(r["resolution"], where, "resolution")
        if not res.is_integer() or not 8 <= res <= 4096 or not 0.01 <= alpha <= 10:
            raise TableError(f"{where}: alpha must be 0.01 to 10 and resolution a whole number 8 to 4096, "
                             f"got {r['alpha']!r:.20} and {r['resolution']!r:.20}")
        latency = number(r["latency_ms"], where, "latency_ms")
        if not MIN_LATENCY * 1e3 <= latency <= MAX_LATENCY * 1e3:
            raise TableError(f"{where}, column latency_ms: a latency is 1 ns to 10,000 s (0.000001 to 10000000 ms), "
                             f"got {r['latency_ms']!r:.20}")
        name = checked[key].table.name if shipped_name(model) is not None else model  # an alias read as its table
        null = number(r.get("null_ms") or "0", where, "null_ms", positive=False)
        if not null < MAX_LATENCY * 1e3:
            raise TableError(f"{where}, column null_ms: the null graph's time is under 10,000 s, got {r['null_ms']!r:.20}")
        evict = number(r.get("evict_bytes") or str(EVICT), where, "evict_bytes", positive=False) if r.get("layer") else 0.0
        out.append(Observation(r.get("source") or r.get("host") or "measured", name, alpha,
                               int(res), conv, latency / 1e3, r.get("layer", ""), null / 1e3, evict))
    return out


def _name(path) -> str:
    from pathlib import Path

    return Path(str(path)).name


def latency_sets():
    """The published latency sets (tables/reference/latency_sets.csv): per set its device, rows,
    dtype, ridge point (V4 Table 16) and the form and holdout its shipped profile is fitted with."""
    import pandas as pd

    from .tables import tables_dir

    return pd.read_csv(tables_dir() / "reference" / "latency_sets.csv", comment="#", dtype=str,
                       keep_default_na=False).set_index("set")


def _latency_set(name: str):
    sets = latency_sets()
    if not isinstance(name, str) or name not in sets.index:
        raise UsageError(f"unknown latency set {name!r:.40}; the published sets: {', '.join(sets.index)}")
    return sets.loc[name]


def published_latencies(name: str) -> list[Observation]:
    """The latencies of a published set (``latency_sets().index``), each with its configuration."""
    return _observations(name, _latency_set(name))


def _observations(name: str, spec) -> list[Observation]:
    import pandas as pd

    from .tables import tables_dir

    frame = pd.read_csv(tables_dir() / "reference" / spec["file"])
    if spec["source"]:
        frame = frame[frame["source"] == spec["source"]]
        values = frame["latency_ms"]
    else:
        values = frame[spec["column"]]
    return [Observation(name, r["model"], float(r["alpha"]), int(r["resolution"]), r.get("convention", "paper"),
                        float(v) / 1e3) for (_, r), v in zip(frame.iterrows(), values) if pd.notna(v)]


def calibrate_published(name: str, /, **overrides) -> Calibration:
    """``calibrate`` on the published set ``name`` with the form, holdout, dtype and ridge point it is
    shipped with; ``overrides`` are ``calibrate``'s keywords (its own ``name`` included)."""
    spec = _latency_set(name)
    settings = dict(name=spec["profile"], form=spec["form"], holdout=spec["holdout"], dtype=spec["dtype"],
                    ridge_point=float(spec["ridge_point"]) if spec["ridge_point"] else None,
                    source=f"{spec['device']}: fit by mnetcost calibrate --published {name}")
    settings.update(overrides)
    return calibrate(_observations(name, spec), **settings)
