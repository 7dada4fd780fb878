"""Fit a device model (``latency.Device``) to measured latencies, and say honestly how well it predicts
latencies it was not fitted to.

The fit: non-negative least squares on relative error, over the terms the measurements contain (a MAC
rate per layer class, the cost per layer, per squeeze-excite block and per element of each
element-wise operator), for a bandwidth that is either given (as a ridge point) or chosen by a scan
(infinite included: memory never bounds a layer). Where a layer is memory-bound under the current
fit its time is its bytes over the bandwidth, and the fit is repeated until that split settles.

Held-out error: cross-validation by groups -- a network (one model at one alpha, all its resolutions)
or a whole model -- each group predicted by a fit to all the others, beside the MACs-only proxy
t = a x MACs + b fitted and tested on the same splits. A held-out prediction that needs a term its
fit never saw (an operator only that network has) is marked: it is an extrapolation, and usually
misses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import TableError, UsageError
from .latency import ELEMENT_TERMS, ITEM_TERMS, MAC_CLASSES, Device, HeldOut, layer_terms

from .vocab import FORMS, HOLDOUTS  # noqa: E402  (one definition, shared with the CLI)
BANDWIDTHS = np.concatenate([[np.inf], np.logspace(12, 8, 17)])  # bytes/s tried when none is given: 4 per decade
MAX_OBSERVATIONS = 2000
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


@dataclass
class _Features:
    """Every layer of every observation in flat arrays (``obs``: whose layer it is), and per
    observation the counts of the other terms."""

    obs: np.ndarray
    cls: np.ndarray  # index into MAC_CLASSES, -1 for a layer without MACs
    macs: np.ndarray
    moved: np.ndarray
    counts: np.ndarray  # observations x count_terms
    count_terms: list
    total_macs: np.ndarray
    y: np.ndarray


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

    classes = list(MAC_CLASSES)
    obs, cls, macs, moved, rows = [], [], [], [], []
    setups = {}
    for j, o in enumerate(observations):
        key = (o.model, o.convention)
        if key not in setups:
            setups[key] = setup(o.model, o.convention, None, "exact", True, None)
        t = layer_terms(setups[key], o.alpha, np.array([o.resolution]), np.array([o.resolution]), dtype)
        obs.append(np.full(len(t.names), j))
        cls.append(np.array([classes.index(c) if c else -1 for c in t.classes], dtype=np.int64))
        macs.append(t.macs[:, 0])
        moved.append(t.moved[:, 0])
        rows.append({k: float(v[:, 0].sum()) for k, v in t.counts.items()})
    names = [t for t in (*ITEM_TERMS, *ELEMENT_TERMS) if any(r.get(t, 0) > 0 for r in rows)]
    counts = np.array([[r.get(t, 0.0) for t in names] for r in rows]).reshape(len(rows), len(names))
    macs_all = np.concatenate(macs)
    obs_all = np.concatenate(obs)
    return _Features(obs_all, np.concatenate(cls), macs_all, np.concatenate(moved), counts, names,
                     np.bincount(obs_all, weights=macs_all, minlength=len(rows)),
                     np.array([o.latency_s for o in observations]))


@dataclass
class _Model:
    form: str
    mac_terms: list  # fitted MAC classes ("all": one rate for every class)
    count_terms: list
    theta: np.ndarray  # seconds per MAC for each mac term, then seconds per count
    bandwidth: float
    ridge_point: float | None

    def term_of(self, f: _Features) -> np.ndarray:
        """Per layer, the index of the MAC term whose rate it takes."""
        if self.mac_terms == ["all"]:
            return np.zeros(len(f.cls), dtype=np.int64)
        lookup = np.full(len(MAC_CLASSES), self.mac_terms.index(MAIN))
        for k, c in enumerate(self.mac_terms):
            lookup[list(MAC_CLASSES).index(c)] = k
        return lookup[np.maximum(f.cls, 0)]

    def predict(self, f: _Features, idx) -> np.ndarray:
        idx = np.asarray(idx)
        per_mac = self.theta[: len(self.mac_terms)][self.term_of(f)]
        if self.ridge_point is not None:
            t = per_mac * np.maximum(f.macs, self.ridge_point * f.moved)
        else:
            t = np.maximum(per_mac * f.macs, f.moved / self.bandwidth)
        total = np.bincount(f.obs, weights=t, minlength=len(f.y))
        cols = [f.count_terms.index(t_) for t_ in self.count_terms]
        return total[idx] + f.counts[np.ix_(idx, cols)] @ self.theta[len(self.mac_terms):]


def _terms_for(form: str, f: _Features, idx) -> tuple[list, list]:
    # a class gets a rate of its own where it holds MIN_SHARE of some network's MACs; the others
    # (a stem's few dense MACs, say) cannot be told apart and share the main rate
    if form == "roofline":
        return ["all"], []
    if form == "overhead":
        return ["all"], ["layer"]
    mine = np.isin(f.obs, idx)
    present = [MAIN]
    for k, c in enumerate(MAC_CLASSES):
        share = np.bincount(f.obs[mine], weights=np.where(f.cls[mine] == k, f.macs[mine], 0.0), minlength=len(f.y))
        if c != MAIN and (share[idx] / np.maximum(f.total_macs[idx], 1.0)).max(initial=0) >= MIN_SHARE:
            present.append(c)
    counts = [t for k, t in enumerate(f.count_terms) if f.counts[idx, k].sum() > 0]
    if form == "classes":
        return present, [t for t in counts if t == "layer"]
    return present, counts


def _solve(form, terms, f: _Features, idx, bandwidth, ridge_point) -> tuple[_Model, float]:
    mac_terms, count_terms = terms
    cols = [f.count_terms.index(t) for t in count_terms]
    y = f.y[idx]
    position = np.full(len(f.y), -1)
    position[idx] = np.arange(len(idx))
    mine = position[f.obs] >= 0
    rows = position[f.obs[mine]]
    model = _Model(form, mac_terms, count_terms, np.zeros(len(mac_terms) + len(count_terms)), bandwidth, ridge_point)
    term = model.term_of(f)[mine]
    macs, moved = f.macs[mine], f.moved[mine]
    memory_bound = (macs == 0) & np.isfinite(bandwidth)
    best = None
    for _ in range(30):
        if ridge_point is not None:
            work, offset = np.maximum(macs, ridge_point * moved), np.zeros(len(idx))
        else:
            work = np.where(memory_bound, 0.0, macs)
            offset = (np.bincount(rows, weights=np.where(memory_bound, moved / bandwidth, 0.0), minlength=len(idx))
                      if np.isfinite(bandwidth) else np.zeros(len(idx)))
        a = np.zeros((len(idx), len(mac_terms) + len(count_terms)))
        for k in range(len(mac_terms)):
            a[:, k] = np.bincount(rows, weights=np.where(term == k, work, 0.0), minlength=len(idx))
        a[:, len(mac_terms):] = f.counts[np.ix_(idx, cols)]
        model = _Model(form, mac_terms, count_terms, nnls(a / y[:, None], (y - offset) / y), bandwidth, ridge_point)
        loss = float((((model.predict(f, idx) - y) / y) ** 2).sum())
        if best is None or loss < best[1]:
            best = (model, loss)
        if ridge_point is not None or not np.isfinite(bandwidth):
            break
        new = model.theta[term] * macs < moved / bandwidth
        if np.array_equal(new, memory_bound):
            break
        memory_bound = new
    return best


def _fit(form, f: _Features, idx, ridge_point=None, bandwidth=None) -> _Model:
    terms = _terms_for(form, f, idx)
    if ridge_point is not None:
        return _solve(form, terms, f, idx, np.inf, ridge_point)[0]
    if bandwidth is not None:
        return _solve(form, terms, f, idx, bandwidth, None)[0]
    best = min((_solve(form, terms, f, idx, b, None) for b in BANDWIDTHS), key=lambda m: m[1])
    b = best[0].bandwidth
    if np.isfinite(b):  # refine between the neighbouring grid points
        step = BANDWIDTHS[1] / BANDWIDTHS[2]
        best = min([best] + [_solve(form, terms, f, idx, b * step ** x, None) for x in np.linspace(-0.75, 0.75, 7)],
                   key=lambda m: m[1])
    return best[0]


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


def calibrate(observations, *, name: str = "calibrated", form: str = "full", holdout: str = "network",
              dtype: str = "float32", ridge_point=None, bandwidth=None, source: str = "") -> Calibration:
    """A device profile fitted to ``observations`` (``Observation``s, or what ``read_measurements``
    and ``published_latencies`` return), with its held-out error under ``holdout``."""
    import pandas as pd

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
    observations = list(observations)
    if not 2 <= len(observations) <= MAX_OBSERVATIONS:
        raise UsageError(f"a calibration needs 2 to {MAX_OBSERVATIONS} measurements, got {len(observations)}")
    f = _features(observations, dtype)
    everything = np.arange(len(observations))
    model = _fit(form, f, everything, ridge_point, bandwidth)
    fitted = model.predict(f, everything)
    keys = [_group(o, holdout) for o in observations]
    groups = sorted(set(keys), key=keys.index)
    held = np.full(len(observations), np.nan)
    proxy = np.full(len(observations), np.nan)
    unseen = [""] * len(observations)
    fitted_terms = set(_terms_for(form, f, everything)[1])
    if len(groups) > 1:
        for g in groups:
            test = np.array([i for i, k in enumerate(keys) if k == g])
            train = np.array([i for i, k in enumerate(keys) if k != g])
            held[test] = _fit(form, f, train, ridge_point, bandwidth).predict(f, test)
            proxy[test] = _proxy(f, train, test)
            new = [t for k, t in enumerate(f.count_terms) if t in fitted_terms
                   and f.counts[test, k].sum() > 0 and f.counts[train, k].sum() == 0]
            for i in test:
                unseen[i] = ", ".join(new)
    y = f.y
    error, proxy_error = (held - y) / y, (proxy - y) / y
    held_out = None
    if len(groups) > 1:
        held_out = HeldOut(HOLDOUTS[holdout], len(y), float(np.mean(np.abs(error) <= 0.1)),
                           float(np.mean(np.abs(error))), float(np.mean(np.abs(proxy_error) <= 0.1)),
                           float(np.mean(np.abs(proxy_error))))
    device = _device(model, name, dtype, source or f"fit by mnetcost calibrate ({FORMS[form]}) to {len(y)} latencies",
                     held_out)
    table = pd.DataFrame({"source": [o.source for o in observations], "model": [o.model for o in observations],
                          "alpha": [o.alpha for o in observations], "resolution": [o.resolution for o in observations],
                          "group": [" ".join(map(str, k)) for k in keys], "measured_ms": y * 1e3,
                          "fitted_ms": fitted * 1e3, "predicted_ms": held * 1e3, "error": error,
                          "proxy_ms": proxy * 1e3, "proxy_error": proxy_error,
                          "unseen": unseen})  # terms a held-out prediction needed that its fit never saw
    return Calibration(device, table, form, holdout, float(np.mean(np.abs(fitted - y) / y)), held_out)


def _group(o: Observation, holdout: str) -> tuple:
    if holdout == "model":
        return (o.model,)
    if holdout == "network":
        return (o.model, f"{o.alpha:g}")
    return (o.model, f"{o.alpha:g}", o.resolution, o.source)


def _device(model: _Model, name, dtype, source, held_out) -> Device:
    def rate(per_mac):
        return float(1.0 / per_mac) if per_mac > 0 else np.inf

    costs = tuple((t, float(v)) for t, v in zip(model.count_terms, model.theta[len(model.mac_terms):]))
    if model.mac_terms == ["all"]:
        peak, rates = rate(model.theta[0]), ()
    else:
        lookup = dict(zip(model.mac_terms, model.theta))
        peak = rate(lookup[MAIN])
        rates = tuple((c, rate(lookup[c])) for c in model.mac_terms if c != MAIN)
    bandwidth = model.bandwidth if model.ridge_point is None else peak / model.ridge_point
    if not np.isfinite(peak) and not np.isfinite(bandwidth) and not any(v > 0 for _, v in costs):
        raise UsageError("the measurements determine no term of the model (every one fitted as free): "
                         "measure more configurations, or larger ones")
    return Device(name, peak, float(bandwidth), dtype, source, rates, costs, held_out)


# ---- where observations come from ------------------------------------------------------------------------------

def read_measurements(path, convention: str | None = None) -> list[Observation]:
    """The measurements of a CSV file (format: docs/latency.md; ``mnetcost measure`` writes it): at
    least ``model, alpha, resolution, latency_ms``; ``convention`` defaults to paper."""
    from .engine import setup
    from .timing import COLUMNS, REQUIRED
    from .records import number, read_records

    out = []
    checked = {}
    for line, r in read_records(path, REQUIRED, tuple(c for c in COLUMNS if c not in REQUIRED) + ("source",),
                                "measurements"):
        where = f"{_name(path)}, line {line}"
        conv = r.get("convention") or convention or "paper"
        key = (r["model"], conv)
        if key not in checked:
            try:
                checked[key] = setup(r["model"], conv, None, "exact", True, None)
            except UsageError as e:
                raise TableError(f"{where}: {e}") from None
        alpha = number(r["alpha"], where, "alpha")
        res = number(r["resolution"], where, "resolution")
        if not res.is_integer() or not 8 <= res <= 4096 or not 0.01 <= alpha <= 10:
            raise TableError(f"{where}: alpha must be 0.01 to 10 and resolution a whole number 8 to 4096, "
                             f"got {r['alpha']!r:.20} and {r['resolution']!r:.20}")
        latency = number(r["latency_ms"], where, "latency_ms")
        if latency > 1e7:
            raise TableError(f"{where}, column latency_ms: more than 10,000 s, got {r['latency_ms']!r:.20}")
        out.append(Observation(r.get("source") or r.get("host") or "measured", checked[key].table.name, alpha,
                               int(res), conv, latency / 1e3))
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
    if name not in sets.index:
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
