"""Latency from a device model. Per layer, the roofline of MobileNetV4's Eq. 1,
max(MACs / rate, bytes moved / bandwidth), plus the terms that measured latencies show a runtime
needs: a MAC rate per layer class (dense, depthwise, pointwise, fully connected, attention), a fixed
cost per layer, and a cost per element for each element-wise operator that runs as its own kernel
(activations such as ReLU6 or Hardswish, squeeze-excite's rescaling, residual additions, pooling).
The network takes the sum. A plain roofline profile -- a peak MAC rate and a bandwidth -- is the case
of one rate and no other terms.

Assumptions: one core, no overlap between layers, every layer reads its input and weights and writes
its output once (no cache reuse across layers), activations and weights at one dtype. A profile fitted
to an operator suite also keeps its cache curve: every layer of a network takes the factor the suite
measured for the bytes that network touches per call (``cache_factor``). Device profiles
live in ``tables/devices.csv`` (format: docs/latency.md); ``mnetcost.calibrate`` fits one to measured
latencies.
"""

from __future__ import annotations

__all__ = ["Device", "HeldOut", "Roofline", "roofline", "latency_grid", "devices", "get_device", "read_devices", "write_device", "parse_rate", "parse_duration", "attainable", "ridge_sweep"]  # the public API: the rest are the modules' own parts

import csv
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from .errors import TableError, UsageError
from .tables import tables_dir

SUFFIXES = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}

# the terms of a device model: MAC classes (a rate in MAC/s), per-item and per-element costs (seconds)
MAC_CLASSES = {"conv": "dense convolutions (and ops without a class of their own)", "dw": "depthwise convolutions",
               "pw": "pointwise (1x1) convolutions", "fc": "fully connected layers and squeeze-excite's 1x1s",
               "attn": "attention matmuls",
               "dilated": "dilated dense convolutions (DeepLab's ASPP): a runtime skips the taps that fall in the "
                          "padding, so their time per counted MAC is their own (a profile without it: the conv rate)"}
FALLBACK = {"dilated": "conv"}  # a class a profile has no rate for takes this one's
ITEM_TERMS = {"layer": "fixed cost of every layer (a kernel's launch and the runtime's overhead)",
              "se_block": "fixed cost of a squeeze-excite block beyond its layer (its small ops and layout changes)",
              "attn_block": "fixed cost of an attention layer beyond its layer (its reshapes, transposes and softmax launch)",
              "network": "fixed cost of one call of the network (the runtime's own overhead: the suite's null graph)"}
ELEMENT_TERMS = {"relu": "ReLU", "relu6": "ReLU6 (a clip)", "hswish": "Hardswish", "silu": "SiLU (swish)",
                 "gelu": "GELU", "sigmoid": "sigmoid", "hsigmoid": "hard sigmoid",
                 "se": "squeeze-excite's pooling and rescaling", "add": "element-wise sums (residuals)",
                 "mul": "element-wise products", "concat": "concatenation", "pool": "pooling (per input element)",
                 "upsample": "upsampling", "norm": "a BatchNorm on its own", "scale": "layer scale",
                 "softmax": "attention's softmax (per attention score)",
                 "conv_out": "dense convolutions' outputs (activation traffic beside the MACs)",
                 "pw_out": "pointwise convolutions' outputs (activation traffic beside the MACs)",
                 "dw_out": "depthwise convolutions' outputs (activation traffic beside the MACs)",
                 "weights": "weights read, every layer's on each call (weight traffic beside the MACs)",
                 "unaligned_dw": "depthwise convolutions whose channels are not a multiple of 8 (a SIMD register of "
                                 "8 floats): they miss the blocked kernels and run channel by channel",
                 "unaligned_dw_channels": "channels of those depthwise convolutions (their channel-by-channel "
                                          "kernel's cost per channel)",
                 "unaligned16_dw": "depthwise convolutions whose channels are not a multiple of 16 (an AVX-512 "
                                   "register of 16 floats; the suite learns whether this machine's kernels need it)",
                 "conv_in": "dense convolutions' inputs (activation traffic beside the MACs)",
                 "pw_in": "pointwise convolutions' inputs (activation traffic beside the MACs)",
                 "dw_in": "depthwise convolutions' inputs (a strided one reads 4 inputs per output)",
                 "nearest": "nearest-neighbour upsampling (per output element)",
                 "unaligned_upsample": "upsampling onto channels not a multiple of 8 (per output element: the "
                                       "runtime pads them to its blocks and reorders the layout after)",
                 "gridpool": "pooling or interpolating down to a grid (per input element)"}
SUITE_TERMS = ("network", "conv_in", "pw_in", "dw_in", "unaligned16_dw", "unaligned_dw_channels", "unaligned_upsample")  # fitted only from an operator suite (calibrate's form suite)
TERMS = tuple(MAC_CLASSES) + tuple(ITEM_TERMS) + tuple(ELEMENT_TERMS)


@dataclass(frozen=True)
class HeldOut:
    """How well a fitted profile predicts latencies it was not fitted to."""

    method: str  # e.g. "leave one network out (model and alpha)"
    n: int  # held-out predictions
    within_10: float  # fraction within +-10%
    mean_error: float  # mean |relative error|
    proxy_within_10: float  # the same for the MACs-only proxy (t = a x MACs + b) under the same split
    proxy_mean_error: float

    def __str__(self):
        return (f"{self.method}: {100 * self.within_10:.0f}% of {self.n} within ±10%, mean |error| "
                f"{100 * self.mean_error:.1f}% (MACs-only proxy: {100 * self.proxy_within_10:.0f}%, "
                f"{100 * self.proxy_mean_error:.1f}%)")


@dataclass(frozen=True)
class Device:
    name: str
    peak_macs: float  # MAC/s: the rate of every class not in ``rates``
    bandwidth: float  # bytes/s (inf: memory never bounds a layer)
    dtype: str = "float32"
    source: str = ""
    rates: tuple = ()  # (class, MAC/s) pairs
    costs: tuple = ()  # (term, seconds per item or per element) pairs
    held_out: HeldOut | None = None
    coverage: tuple = ()  # (class or term, lowest, highest count per layer) the operator suite measured
    cache: tuple = ()  # (bytes, factor) pairs: a network touching that many bytes per call runs its layers factor
    # times as long as the operator suite timed them (its cache curve; empty: 1)

    def __post_init__(self):
        """Every parameter checked once, here: rates positive (inf: unbounded), costs finite and >= 0."""
        from .traffic import DTYPE_BYTES

        device_text(self.name, "name")
        device_text(self.source, "source")
        if self.dtype not in DTYPE_BYTES:
            raise UsageError(f"device {self.name!r:.80}: dtype must be one of {', '.join(DTYPE_BYTES)}, "
                             f"got {self.dtype!r:.40}")
        rates = _pairs(self, self.rates, MAC_CLASSES, "rates")
        costs = _pairs(self, self.costs, TERMS[len(MAC_CLASSES):], "costs")
        for label, value in (("peak_macs", self.peak_macs), ("bandwidth", self.bandwidth), *rates):
            _check_parameter(self, label, value, rate=True)
        for label, value in costs:
            _check_parameter(self, label, value, rate=False)
        object.__setattr__(self, "peak_macs", float(self.peak_macs))
        object.__setattr__(self, "bandwidth", float(self.bandwidth))
        object.__setattr__(self, "rates", tuple((k, float(v)) for k, v in rates))
        object.__setattr__(self, "costs", tuple((k, float(v)) for k, v in costs))
        object.__setattr__(self, "coverage", _coverage(self, self.coverage))
        object.__setattr__(self, "cache", _cache(self, self.cache))

    @property
    def bounded(self) -> bool:
        """Whether the device gives a network any time at all: a finite rate or bandwidth, or a cost > 0."""
        return any(math.isfinite(v) for v in (self.peak_macs, self.bandwidth, *dict(self.rates).values())) \
            or any(v > 0 for _, v in self.costs)

    def rate(self, mac_class: str) -> float:
        rates = dict(self.rates)
        if mac_class not in rates and mac_class in FALLBACK:
            return self.rate(FALLBACK[mac_class])
        return rates.get(mac_class, self.peak_macs)

    def cost(self, term: str) -> float:
        return dict(self.costs).get(term, 0.0)

    @property
    def ridge_point(self) -> float:
        """MACs per byte at which a layer at peak rate turns memory-bound."""
        return self.peak_macs / self.bandwidth

    @property
    def parameters(self):
        """Each parameter with its value, unit and meaning (a DataFrame)."""
        import pandas as pd

        rows = [("peak_macs", self.peak_macs, "MAC/s", "the MAC rate of every class not listed below"),
                ("bandwidth", self.bandwidth, "B/s", "memory bandwidth: a layer takes at least bytes moved / bandwidth")]
        rows += [(c, r, "MAC/s", f"MAC rate of {MAC_CLASSES[c]}") for c, r in self.rates]
        rows += [(t, v, "s", ITEM_TERMS[t]) if t in ITEM_TERMS
                 else (t, v, "s/weight" if t == "weights" else "s/element", ELEMENT_TERMS[t]) for t, v in self.costs]
        rows += [(f"cache {b / 2 ** 20:g} MB", f, "x", f"every layer's time in a network that touches {b / 2 ** 20:g} MB "
                  "per call, as a multiple of the operator suite's") for b, f in self.cache]
        return pd.DataFrame(rows, columns=["parameter", "value", "unit", "meaning"])

    def terms_text(self) -> str:
        """The ``terms`` cell of a device file: ``class=MAC/s`` and ``term=seconds``, separated by ';'."""
        return "; ".join(f"{k}={exact(v)}" for k, v in self.rates + self.costs)


NAME_LENGTH = 80
SOURCE_LENGTH = 2000


def device_text(value, what: str = "name") -> str:
    """A device's ``name`` (1 to 80 characters) or ``source`` (at most 2,000; may be empty) as a device file
    holds it and reads it back: text without control characters (no tab, newline or escape) and without
    surrounding blanks. The one check of the writer (a ``Device``) and of the reader (``read_devices``)."""
    top, low = (NAME_LENGTH, 1) if what == "name" else (SOURCE_LENGTH, 0)
    if not isinstance(value, str):
        raise UsageError(f"a device's {what} is text, got {value!r:.40}")
    if not low <= len(value) <= top or value != value.strip() or not value.isprintable() or (low and not value.strip()):
        raise UsageError(f"a device's {what} is {low} to {top:,} printable characters without control characters "
                         f"or surrounding blanks, got {value!r:.100}")
    return value


def exact(value: float) -> str:
    """A number as a device file holds it: 6 significant digits where they are the number, else every
    digit it takes to read back the same float (a profile reads back as the very model written)."""
    short = f"{value:.6g}"
    if float(short) == value or not math.isfinite(value):
        return short
    return np.format_float_scientific(value, unique=True, trim="-")


def _pairs(device, pairs, names, what: str) -> list:
    try:
        out = [(k, v) for k, v in pairs]
    except (TypeError, ValueError):
        raise UsageError(f"device {device.name!r:.80}: {what} are (name, value) pairs, got {pairs!r:.80}") from None
    for k, _ in out:
        if k not in names:
            raise UsageError(f"device {device.name!r:.80}: {what} are named {', '.join(names)}, got {k!r:.40}")
    if len({k for k, _ in out}) < len(out):
        raise UsageError(f"device {device.name!r:.80}: a term appears twice in its {what}")
    return out


def _check_parameter(device, label: str, value, *, rate: bool) -> None:
    """A rate (MAC/s, B/s) is a number > 0, inf for unbounded; a cost (seconds) a finite number >= 0."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if ok:
        v = float(value)
        ok = v > 0 if rate else (math.isfinite(v) and v >= 0)
    if not ok:
        kind = "a number > 0 (inf: unbounded)" if rate else "a finite number >= 0 (seconds)"
        raise UsageError(f"device {device.name!r:.80}: {label} must be {kind}, got {value!r:.40}")


def _coverage(device, coverage) -> tuple:
    """(class or term, lowest, highest) triples: a MAC class's MACs or a term's count per layer, as the
    operator suite measured them (0 <= lowest <= highest, finite)."""
    try:
        out = tuple((str(k), float(lo), float(hi)) for k, lo, hi in coverage)
    except (TypeError, ValueError):
        raise UsageError(f"device {device.name!r:.80}: coverage is (term, lowest, highest) triples, "
                         f"got {coverage!r:.80}") from None
    for k, lo, hi in out:
        if k not in TERMS or not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
            raise UsageError(f"device {device.name!r:.80}: coverage of {k!r:.40} must name a term and a range "
                             f"0 <= lowest <= highest, got {lo!r} to {hi!r}")
    return out


def _entries(text: str):
    """The non-empty ``;``-separated entries of a device file's cell (terms, coverage, cache), stripped."""
    return filter(None, (p.strip() for p in text.split(";")))


def _cache(device, cache) -> tuple:
    """(bytes, factor) pairs of a cache curve: bytes finite, > 0 and rising, factors finite and > 0."""
    try:
        out = tuple((float(b), float(f)) for b, f in cache)
    except (TypeError, ValueError):
        raise UsageError(f"device {device.name!r:.80}: a cache curve is (bytes, factor) pairs, got {cache!r:.80}") from None
    sizes = [b for b, _ in out]
    if not all(math.isfinite(x) and x > 0 for pair in out for x in pair) or sizes != sorted(set(sizes)):
        raise UsageError(f"device {device.name!r:.80}: a cache curve's bytes rise, and bytes and factors are finite "
                         f"numbers > 0, got {cache!r:.120}")
    return out


def cache_factor(device, footprint) -> np.ndarray:
    """How many times as long a network's layers run as the operator suite timed them, for a network that
    touches ``footprint`` bytes per call (weights and activations written: what passes through the caches
    between one call of a layer and the next): the device's cache curve interpolated in log bytes, flat
    beyond its ends; 1 without a curve."""
    footprint = np.asarray(footprint, dtype=float)
    if not device.cache:
        return np.ones_like(footprint)
    sizes, factors = zip(*device.cache)
    return np.interp(np.log2(np.maximum(footprint, 1.0)), np.log2(sizes), factors)


def cache_text(device) -> str:
    """The ``cache`` cell of a device file: ``bytes=factor``, separated by ';'."""
    return "; ".join(f"{exact(b)}={exact(f)}" for b, f in device.cache)


def _parse_cache(text: str, where: str) -> tuple:
    from .records import number

    out = []
    for part in _entries(text):
        size, sep, factor = part.partition("=")
        if not sep:
            raise TableError(f"{where}, column cache: each entry is BYTES=FACTOR, got {part!r:.60}")
        out.append((number(size.strip(), where, "cache"), number(factor.strip(), where, "cache")))
    return tuple(out)


def coverage_text(device) -> str:
    """The ``coverage`` cell of a device file: ``term=lowest..highest``, separated by ';'."""
    return "; ".join(f"{k}={exact(lo)}..{exact(hi)}" for k, lo, hi in device.coverage)


def _parse_coverage(text: str, where: str) -> tuple:
    from .records import number

    out = []
    for part in _entries(text):
        key, _, span = part.partition("=")
        lo, dots, hi = span.partition("..")
        if key.strip() not in TERMS or not dots:
            raise TableError(f"{where}, column coverage: each entry is TERM=LOWEST..HIGHEST with TERM one of "
                             f"{', '.join(TERMS)}, got {part!r:.60}")
        out.append((key.strip(), number(lo.strip(), where, "coverage", positive=False),
                    number(hi.strip(), where, "coverage", positive=False)))
    return tuple(out)


def confidence(t: "LayerTerms", device) -> list[str]:
    """Per layer of ``t`` (its first resolution): "" without a suite's coverage in ``device``, else
    "covered", or what the suite never measured ("unseen: gelu") or measured only smaller or larger
    ("beyond: pw MACs"): a prediction that extrapolates says so."""
    if not device.coverage:
        return [""] * len(t.names)
    span = {k: (lo, hi) for k, lo, hi in device.coverage}
    out = []
    for i, cls in enumerate(t.classes):
        needs = [(cls, float(t.macs[i, 0]), "MACs")] if cls else []
        needs += [(k, float(v[i, 0]), "elements") for k, v in t.counts.items()
                  if k not in ("layer", "network", "weights") and v[i, 0] > 0]
        unseen = [k for k, _, _ in needs if k not in span]
        beyond = [f"{k} {what}" for k, x, what in needs if k in span
                  and not span[k][0] * (1 - COVER_SLACK) <= x <= span[k][1] * (1 + COVER_SLACK)]
        beyond += ["network bytes"] if not _on_curve(device, t.footprint[i, 0]) else []
        out.append("unseen: " + ", ".join(unseen) if unseen else "beyond: " + ", ".join(beyond) if beyond
                   else "covered")
    return out


COVER_SLACK = 0.05  # a count within 5% of the suite's range counts as measured


def covered(t: "LayerTerms", device) -> np.ndarray:
    """Per resolution of ``t``: whether every layer lies within what the device's operator suite measured
    (``confidence`` says which layer does not and why); all True for a profile without coverage."""
    ok = np.ones(t.macs.shape[1], dtype=bool)
    if not device.coverage:
        return ok
    span = {k: (lo * (1 - COVER_SLACK), hi * (1 + COVER_SLACK)) for k, lo, hi in device.coverage}
    distinct, index = t.class_index
    for k, cls in enumerate(distinct):
        rows = t.macs[index == k]
        if cls:
            lo, hi = span.get(cls, (np.inf, -np.inf))
            ok &= np.all((rows == 0) | ((rows >= lo) & (rows <= hi)), axis=0)
    for term, count in t.counts.items():
        if term not in ("layer", "network", "weights"):
            lo, hi = span.get(term, (np.inf, -np.inf))
            ok &= np.all((count == 0) | ((count >= lo) & (count <= hi)), axis=0)
    return ok & np.all(_on_curve(device, t.footprint), axis=0)


def _on_curve(device, footprint) -> np.ndarray:
    """Whether a network touching ``footprint`` bytes per call lies within the bytes the device's cache
    curve measured (always, without a curve)."""
    if not device.cache:
        return np.ones_like(np.asarray(footprint), dtype=bool)
    lo, hi = device.cache[0][0], device.cache[-1][0]
    return (footprint >= lo * (1 - COVER_SLACK)) & (footprint <= hi * (1 + COVER_SLACK))


DURATIONS = {"us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0}


def _suffixed(value, units: dict, default: float, name: str, examples: str) -> float:
    """A positive finite number, scaled by its unit suffix (the longest that matches)."""
    text = str(value).strip()
    scale = default
    for suffix in sorted(units, key=len, reverse=True):
        if text.endswith(suffix):
            text, scale = text[: -len(suffix)], units[suffix]
            break
    try:
        number = float(text) * scale
    except ValueError:
        raise UsageError(f"{name} must be a positive number ({examples}), got {value!r:.40}") from None
    if not math.isfinite(number) or number <= 0:
        raise UsageError(f"{name} must be a positive number, got {value!r:.40}")
    return number


def parse_rate(value, name: str) -> float:
    """A positive rate: a number, or one with a k/M/G/T suffix ('17.2G')."""
    return _suffixed(value, SUFFIXES, 1.0, name, "suffixes k, M, G, T allowed")


def parse_duration(value, name: str) -> float:
    """Seconds from '20ms', '0.5s', '800us' or a bare number of milliseconds."""
    return _suffixed(str(value).lower(), DURATIONS, 1e-3, name, "a time such as 20ms, 0.5s or 800us; bare: ms")


DEVICE_COLUMNS = ("name", "peak_macs", "bandwidth")
DEVICE_OPTIONAL = ("dtype", "terms", "holdout", "n", "within_10", "mean_error", "proxy_within_10", "proxy_mean_error",
                   "source", "coverage", "cache")


DTYPE_SPELLINGS = {"fp32": "float32", "fp16": "float16"}  # as `mnetcost devices` shows them


def read_devices(path) -> dict[str, Device]:
    """The device profiles of a CSV file (the format of tables/devices.csv, docs/latency.md), and what
    ``mnetcost devices -f csv`` writes: a dtype spelled fp32 or fp16, an empty rate for an unbounded one."""
    from .records import number, read_records
    from .traffic import DTYPE_BYTES

    out = {}
    for line, r in read_records(path, DEVICE_COLUMNS, DEVICE_OPTIONAL, "device"):
        where = f"{_base(path)}, line {line}"
        name = r["name"]
        for column in ("name", "source"):
            try:
                device_text(r.get(column, ""), column)
            except UsageError as e:
                raise TableError(f"{where}, column {column}: {e}") from None
        if name in out:
            raise TableError(f"{where}, column name: device {name!r} appears twice")
        dtype = r.get("dtype") or "float32"
        dtype = DTYPE_SPELLINGS.get(dtype, dtype)
        if dtype not in DTYPE_BYTES:
            raise TableError(f"{where}, column dtype: one of {', '.join(DTYPE_BYTES)} (or fp32, fp16), got {dtype!r:.40}")
        rates, costs = _parse_terms(r.get("terms", ""), where)
        held = None
        if r.get("holdout"):
            stats = [number(r.get(k, ""), where, k, positive=False)
                     for k in ("n", "within_10", "mean_error", "proxy_within_10", "proxy_mean_error")]
            held = HeldOut(r["holdout"], int(stats[0]), *stats[1:])
        values = (number(r["peak_macs"] or "inf", where, "peak_macs", allow_inf=True),
                  number(r["bandwidth"] or "inf", where, "bandwidth", allow_inf=True), dtype, r.get("source", ""),
                  rates, costs, held, _parse_coverage(r.get("coverage", ""), where), _parse_cache(r.get("cache", ""), where))
        try:
            device = Device(name, *values)
        except UsageError as e:  # a range or a curve out of order: the file's fault, named by its line
            raise TableError(f"{where}: {e}") from None
        if not device.bounded:
            raise TableError(f"{where}: device {name!r:.80} bounds no time (every rate and the bandwidth unbounded, "
                             "no cost): give at least one finite rate or a cost > 0")
        out[name] = device
    return out


def _base(path) -> str:
    from pathlib import Path

    return Path(str(path)).name


def _parse_terms(text: str, where: str) -> tuple[tuple, tuple]:
    from .records import number

    rates, costs = [], []
    for part in _entries(text):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in TERMS:
            raise TableError(f"{where}, column terms: each term is NAME=VALUE with NAME one of {', '.join(TERMS)}, "
                             f"got {part!r:.60}")
        if key in MAC_CLASSES:
            rates.append((key, number(value.strip(), where, f"terms ({key})", allow_inf=True)))
        else:
            costs.append((key, number(value.strip(), where, f"terms ({key})", positive=False)))
    if len({k for k, _ in rates + costs}) < len(rates) + len(costs):
        raise TableError(f"{where}, column terms: a term appears twice")
    return tuple(rates), tuple(costs)


def _device_value(device) -> "Device":
    if not isinstance(device, Device):
        raise UsageError(f"a device is a mnetcost.latency.Device (see get_device), got {device!r:.80}")
    return device


def write_device(device: Device, path) -> None:
    """Add ``device`` to the device file at ``path`` (created with its header if absent; a profile of
    the same name is replaced)."""
    from pathlib import Path

    from .errors import EnvironmentProblem

    _device_value(device)
    if not isinstance(path, (str, Path)):
        raise UsageError(f"a device file is a path, got {path!r:.80}")
    p = Path(str(path)).expanduser()
    existing = read_devices(p) if p.is_file() else {}
    existing[device.name] = device
    rows = [_device_row(d) for d in existing.values()]
    try:
        with open(p, "w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, DEVICE_COLUMNS + DEVICE_OPTIONAL, lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    except OSError as e:
        raise EnvironmentProblem(f"cannot write the device file {str(path)!r:.300}: {e.strerror or e}") from None


def _device_row(d: Device) -> dict:
    h = d.held_out
    row = {"name": d.name, "peak_macs": exact(d.peak_macs), "bandwidth": exact(d.bandwidth), "dtype": d.dtype,
           "terms": d.terms_text(), "source": d.source, "coverage": coverage_text(d),
           "cache": cache_text(d)}
    if h is not None:
        row.update(holdout=h.method, n=h.n, within_10=exact(h.within_10), mean_error=exact(h.mean_error),
                   proxy_within_10=exact(h.proxy_within_10), proxy_mean_error=exact(h.proxy_mean_error))
    return row


@lru_cache(maxsize=1)
def devices(device_file=None) -> dict[str, Device]:
    """The shipped device profiles (tables/devices.csv), or those of ``device_file``."""
    return read_devices(tables_dir() / "devices.csv" if device_file is None else device_file)


def get_device(device=None, peak_macs=None, bandwidth=None, device_file=None) -> Device:
    """A Device: given, by name (shipped, or in ``device_file``), the one profile of ``device_file``,
    or an inline roofline profile."""
    if isinstance(device, Device):
        return device
    if (device is not None or device_file is not None) and (peak_macs is not None or bandwidth is not None):
        raise UsageError("give a device (a name or a device file) or --peak-macs and --bandwidth, not both")
    if device_file is not None:
        found = read_devices(device_file)
        if device is None:
            if len(found) > 1:
                raise UsageError(f"{_base(device_file)} holds {len(found)} devices; name one with --device: "
                                 f"{', '.join(found)}")
            return next(iter(found.values()))
        if device not in found:
            raise UsageError(f"no device {device!r:.80} in {_base(device_file)}; it holds {', '.join(found)}")
        return found[device]
    if device is not None:
        try:
            return devices()[device]
        except (KeyError, TypeError):
            raise UsageError(f"unknown device {device!r:.80}; choose one of {', '.join(devices())}, "
                             "give a device file, or give --peak-macs and --bandwidth") from None
    if peak_macs is None or bandwidth is None:
        raise UsageError("a latency needs a device: a name, a device file, or both a peak MAC rate and a bandwidth")
    return Device("custom", parse_rate(peak_macs, "peak MAC rate"), parse_rate(bandwidth, "bandwidth"),
                  source="given inline")


# ---- the per-layer terms, for one configuration or a grid ---------------------------------------------------

@dataclass
class LayerTerms:
    """One configuration's layers at one or more resolutions (arrays: layers x resolutions)."""

    names: list
    ops: list
    classes: list  # MAC class of each layer ("" for a layer without MACs)
    macs: np.ndarray
    moved: np.ndarray  # bytes moved
    intensity: np.ndarray
    counts: dict  # term -> layers x resolutions: items (layer, se_block) or elements
    footprint: np.ndarray  # layers x resolutions: bytes the layer's network touches per call (``cache_factor``)

    @cached_property
    def class_index(self) -> tuple[list, np.ndarray]:
        """(the distinct classes, each layer's index into them)."""
        distinct = sorted(set(self.classes))
        where = {c: i for i, c in enumerate(distinct)}
        return distinct, np.array([where[c] for c in self.classes], dtype=np.int64)


def layer_terms(s, alpha: float, h, w, dtype: str, layers=None) -> LayerTerms:
    """The terms of a device model for configuration ``alpha`` of setup ``s`` at heights ``h`` and
    widths ``w`` (arrays of resolutions): each layer's MAC class and terms from its op spec's ``latency``
    facet, its MACs and bytes moved from the cost and memory models. ``layers``: the configuration's
    layers when they are expanded already."""
    from .expand import single
    from .ops import op_cost
    from .traffic import Plan, dtype_bytes, roles, tensor_sizes, traffic_bytes

    size = dtype_bytes(dtype)
    h, w = np.atleast_1d(h), np.atleast_1d(w)
    layers = single(s.expand(np.array([float(alpha)]), h, widths=w)) if layers is None else layers
    shape = (len(layers), len(h))
    _check_sizes(layers, h, w, s.table.channels)
    costs = [op_cost(l, s.rules, s.ops) for l in layers]
    macs = np.empty(shape)
    for i, c in enumerate(costs):  # each layer's MACs broadcast to the resolutions by assignment
        macs[i] = _per_resolution(c.macs)
    if macs.max(initial=0) >= INT_LIMIT:
        raise UsageError(TOO_LARGE)
    plan = Plan([l.name for l in layers], [l.inputs for l in layers], [l.block for l in layers],
                roles(s.ops, [l.op for l in layers]))
    sizes = tensor_sizes(s.table.channels, h, w, [l.h_out for l in layers], [l.w_out for l in layers],
                         [l.c_out for l in layers]).astype(float).reshape((len(layers) + 1,) + h.shape)
    read, weights, written = traffic_bytes(plan, sizes, [c.weights for c in costs], [c.biases for c in costs],
                                           [l.bn for l in layers], [l.c_out for l in layers], size)
    moved = read.reshape(shape) + np.asarray(weights, dtype=float)[:, None] + written.reshape(shape)
    outputs, inputs = sizes[1:], read.reshape(shape) / size
    counts = {"layer": np.ones(shape), "network": (np.arange(len(layers)) == 0)[:, None] * np.ones(shape),
              "weights": np.repeat(np.asarray([float(c.weights) for c in costs])[:, None],
                                                             len(h), axis=1).reshape(shape)}
    kinds = []
    for i, l in enumerate(layers):
        kind, terms = s.ops[l.op].facet("latency")(l, outputs[i], inputs[i], macs[i])
        if kind and kind not in MAC_CLASSES:
            raise UsageError(f"op {l.op!r}'s latency facet names MAC class {kind!r}; one of {', '.join(MAC_CLASSES)}")
        kinds.append(kind)
        for term, value in terms:
            if term not in ELEMENT_TERMS and term not in ITEM_TERMS:
                raise UsageError(f"op {l.op!r}'s latency facet names term {term!r}; one of "
                                 f"{', '.join(tuple(ITEM_TERMS) + tuple(ELEMENT_TERMS))}")
            counts.setdefault(term, np.zeros(shape))[i] += value
    intensity = np.divide(macs, moved, out=np.zeros(shape), where=moved > 0)
    touched = float(np.sum(np.asarray(weights, dtype=float))) + written.reshape(shape).sum(axis=0)
    return LayerTerms([l.name for l in layers], [l.op for l in layers],
                      [kind if computes else "" for kind, computes in zip(kinds, (macs > 0).any(axis=1).tolist())],
                      macs, moved, intensity, counts, np.broadcast_to(touched, shape).copy())


INT_LIMIT = 2 ** 62  # counts stay inside int64, as the cost and memory models require
TOO_LARGE = "the counts are too large for 64-bit integers: alpha or resolution far too large"


def _check_sizes(layers, h, w, channels) -> None:
    """Refuse, before any integer arithmetic, tensors whose bytes would overflow 64-bit integers."""
    biggest = float(np.max(h)) * float(np.max(w)) * channels
    for l in layers:
        biggest = max(biggest, _largest(l.h_out) * _largest(l.w_out) * _largest(l.c_out))
    if not biggest * 8 * max(len(layers), 1) < INT_LIMIT:
        raise UsageError(TOO_LARGE)


def _largest(value) -> float:
    """The largest of a number or an array of them, as a float (a plain number without numpy's dispatch)."""
    return float(value) if type(value) in (int, float) else float(np.asarray(value).max())


def _per_resolution(terms) -> np.ndarray:
    value = np.asarray(terms.value() if terms.items else 0.0, dtype=float)
    return value[0] if value.ndim == 2 else value


def layer_seconds(t: LayerTerms, device: Device) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per layer (compute time, memory time, time of the other terms), layers x resolutions: MACs over
    the rate of the layer's class (a layer without MACs computes nothing), bytes moved over the
    bandwidth, and each other term's count times its cost; each times the device's cache factor for the
    bytes the layer's network touches per call (``cache_factor``: 1 but for a profile fitted to an
    operator suite's cache curve)."""
    distinct, index = t.class_index
    rates = np.array([device.rate(c) if c else np.inf for c in distinct])
    compute = t.macs / rates[index].reshape(-1, 1)
    memory = t.moved / device.bandwidth
    costs = dict(device.costs)
    other = np.zeros_like(compute)
    for term, count in t.counts.items():
        if costs.get(term):
            other += costs[term] * count
    if device.cache:  # the suite timed a layer after writing over its caches; a network passes its own bytes
        factor = cache_factor(device, t.footprint)
        compute, memory, other = compute * factor, memory * factor, other * factor
    return compute, memory, other


def layer_time(t: LayerTerms, device: Device) -> np.ndarray:
    """The device model, per layer: max(compute time, memory time) + the other terms' time (layers x
    resolutions). The one formula: roofline, the grid, the ridge sweep and calibration all use it."""
    return combine(*layer_seconds(t, device))


def combine(compute, memory, other):
    """A layer's time from its compute, memory and other terms' times: the roofline's max, plus the rest."""
    return np.maximum(compute, memory) + other


def seconds(t: LayerTerms, device: Device) -> np.ndarray:
    """The network's time at each resolution."""
    return layer_time(t, device).sum(axis=0)


# ---- the front doors -------------------------------------------------------------------------------------------

@dataclass
class Roofline:
    device: Device
    dtype: str
    columns: dict

    def __repr__(self):
        return (f"Roofline(device={self.device.name!r}, dtype={self.dtype!r}: {self.latency_s * 1e3:.4g} ms over "
                f"{len(self.columns['name'])} layers)")

    @property
    def latency_s(self) -> float:
        return float(self.columns["time_s"].sum())

    @property
    def layers(self):
        import pandas as pd

        return pd.DataFrame(self.columns)

    @property
    def memory_bound(self) -> list[str]:
        return [n for n, b in zip(self.columns["name"], self.columns["bound"]) if b == "memory"]


def roofline(model, config=None, *, dtype=None, device=None, peak_macs=None, bandwidth=None, device_file=None,
             **options) -> Roofline:
    """Predicted latency of ``model`` on ``device`` (a shipped name, a name in ``device_file``, a Device),
    or on an inline roofline profile (``peak_macs`` MAC/s and ``bandwidth`` bytes/s), layer by layer, under
    one configuration (``config`` or keyword options, as for ``cost``). ``dtype`` defaults to the device's."""
    dev = get_device(device, peak_macs, bandwidth, device_file)
    dtype = dtype or dev.dtype
    t = configuration_terms(model, config, dtype=dtype, **options)
    compute, memory, other = (x[:, 0] for x in layer_seconds(t, dev))
    time = combine(compute, memory, other)
    if not np.isfinite(time.sum()):
        raise UsageError(f"the device {dev.name!r} gives a layer no finite time: its rates are too small")
    columns = {"name": np.array(t.names, dtype=object), "op": np.array(t.ops, dtype=object),
               "mult_adds": t.macs[:, 0], "bytes_moved": t.moved[:, 0], "intensity": t.intensity[:, 0],
               "compute_s": compute, "memory_s": memory, "other_s": other, "time_s": time,
               "bound": np.where(memory > compute, "memory", "compute")}
    if dev.coverage:
        columns["confidence"] = np.array(confidence(t, dev), dtype=object)
    return Roofline(device=dev, dtype=dtype, columns=columns)


def configuration_terms(model, config=None, *, dtype: str = "float32", **options) -> LayerTerms:
    """The device model's per-layer terms of one configuration (``config`` or keyword options, as for ``cost``)."""
    from .engine import hw, setup

    s = setup(model, config, **options)
    h, w = hw(s.resolution()[1])
    return layer_terms(s, s.config.alpha, np.array([h]), np.array([w]), dtype)


def latency_grid(model, alphas, resolutions, device, config=None, *, dtype=None, **options) -> np.ndarray:
    """Predicted seconds for every alpha (rows) and resolution (columns): ``roofline(...).latency_s``
    on a grid, each alpha's layers expanded once for all resolutions; alphas and resolutions are
    validated as ``roofline`` validates one."""
    from .engine import check_alphas, check_resolutions, setup

    dev = get_device(device)
    s = setup(model, config, **options)
    alphas, res = check_alphas(alphas), check_resolutions(s, np.atleast_1d(resolutions))
    out = np.array([seconds(layer_terms(s, a, res, res, dtype or dev.dtype), dev) for a in alphas])
    return out.reshape(len(alphas), len(res))


def attainable(intensity, device: Device):
    """The roofline: the MAC rate a layer of ``intensity`` (MACs per byte) can reach on ``device``,
    min(peak MAC rate, intensity x bandwidth)."""
    device = _device_value(device)
    try:
        intensity = np.asarray(intensity, dtype=float)
    except (TypeError, ValueError):
        raise UsageError(f"intensity is MACs per byte (numbers), got {intensity!r:.80}") from None
    return np.minimum(device.peak_macs, np.asarray(intensity, dtype=float) * device.bandwidth)


def ridge_sweep(configs: dict, ridge_points, dtype: str = "int8"):
    """MobileNetV4's roofline (its Eq. 1) over hardware ridge points RP = peak MACs / bandwidth: for
    each configuration (name -> keyword arguments of ``memory``, e.g. ``{"model": "v2"}``) the time
    sum_i max(MACs_i, RP x bytes_i) in units of one MAC at peak rate, so that models rank by it on any
    hardware of that ridge point: the device model's time on a device of 1 MAC/s and 1 / RP bytes/s.
    RP = 0 is counting MACs. ``configs`` map names to keyword arguments of ``roofline`` that pick a
    configuration (model, alpha, resolution, convention, ...). Returns a DataFrame: ridge points x names."""
    import pandas as pd

    if not isinstance(configs, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in configs.items()):
        raise UsageError(f"configs map names to keyword arguments of roofline, e.g. {{'v2': {{'model': 'v2'}}}}, "
                         f"got {configs!r:.80}")
    try:
        ridge = np.asarray(ridge_points, dtype=float)
    except (TypeError, ValueError):
        raise UsageError("ridge points are finite numbers >= 0") from None
    if ridge.ndim != 1 or not np.all(np.isfinite(ridge)) or np.any(ridge < 0):
        raise UsageError("ridge points are finite numbers >= 0")
    units = [Device(f"RP {rp:g}", 1.0, 1.0 / rp if rp > 0 else np.inf, dtype) for rp in ridge]
    times = {}
    for name, kwargs in configs.items():
        t = configuration_terms(**{"dtype": dtype, **kwargs})
        times[name] = np.array([float(seconds(t, unit)[0]) for unit in units])
    return pd.DataFrame(times, index=pd.Index(ridge, name="ridge point (MACs/byte)"))
