"""A roofline latency estimate: each layer takes max(MACs / peak MAC rate, bytes moved / bandwidth),
and the network takes the sum. A layer is memory-bound when its bytes take longer than its MACs.

Assumptions: one core, no overlap between layers, every layer reads its input and weights and writes
its output once (no cache reuse across layers), activations and weights at one dtype, no cost for
activations, BatchNorm (folded) or pooling beyond their bytes. Device profiles live in
``tables/devices.csv``; ``calibrate`` fits a profile's two numbers to measured latencies.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .errors import UsageError
from .traffic import memory
from .tables import tables_dir

SUFFIXES = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


@dataclass(frozen=True)
class Device:
    name: str
    peak_macs: float  # MAC/s
    bandwidth: float  # bytes/s
    dtype: str = "float32"
    source: str = ""


@lru_cache(maxsize=1)
def devices() -> dict[str, Device]:
    with open(tables_dir() / "devices.csv", encoding="utf-8", newline="") as f:
        return {r["name"]: Device(r["name"], float(r["peak_macs"]), float(r["bandwidth"]), r["dtype"], r["source"])
                for r in csv.DictReader(f)}


def parse_rate(value, name: str) -> float:
    """A positive rate: a number, or one with a k/M/G/T suffix ('17.2G')."""
    text = str(value).strip()
    scale = 1.0
    if text and text[-1] in SUFFIXES:
        text, scale = text[:-1], SUFFIXES[text[-1]]
    try:
        rate = float(text) * scale
    except ValueError:
        raise UsageError(f"{name} must be a positive number (suffixes k, M, G, T allowed), got {value!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise UsageError(f"{name} must be a positive number, got {value!r}")
    return rate


def get_device(device=None, peak_macs=None, bandwidth=None) -> Device:
    if isinstance(device, Device):
        return device
    if device is not None and (peak_macs is not None or bandwidth is not None):
        raise UsageError("give a device name or --peak-macs and --bandwidth, not both")
    if device is not None:
        try:
            return devices()[device]
        except (KeyError, TypeError):
            raise UsageError(f"unknown device {device!r}; choose one of {', '.join(devices())} "
                             "or give --peak-macs and --bandwidth") from None
    if peak_macs is None or bandwidth is None:
        raise UsageError("a roofline needs a device: a name, or both a peak MAC rate and a bandwidth")
    return Device("custom", parse_rate(peak_macs, "peak MAC rate"), parse_rate(bandwidth, "bandwidth"), source="given inline")


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


def layer_times(mult_adds, bytes_moved, peak_macs, bandwidth):
    """Per-layer (compute time, memory time): MACs / peak and bytes / bandwidth."""
    return np.asarray(mult_adds, dtype=float) / peak_macs, np.asarray(bytes_moved, dtype=float) / bandwidth


def roofline(model, *, alpha: float = 1.0, rho=None, resolution=None, dtype=None, device=None, peak_macs=None,
             bandwidth=None, convention="paper", classes=None, top=True, head=None, aux=False,
             reduced_tail=False, symbols=None) -> Roofline:
    """Roofline latency of ``model`` on ``device`` (a name from devices.csv or a Device), or on an
    inline profile (``peak_macs`` MAC/s and ``bandwidth`` bytes/s). ``dtype`` defaults to the device's."""
    dev = get_device(device, peak_macs, bandwidth)
    mem = memory(model, alpha=alpha, rho=rho, resolution=resolution, dtype=dtype or dev.dtype, convention=convention,
                 classes=classes, top=top, head=head, aux=aux, reduced_tail=reduced_tail, symbols=symbols)
    c = mem.columns
    t_compute, t_memory = layer_times(c["mult_adds"], c["bytes_moved"], dev.peak_macs, dev.bandwidth)
    if not math.isfinite(float(np.maximum(t_compute, t_memory).sum())):
        raise UsageError(f"the rates {dev.peak_macs:g} MAC/s and {dev.bandwidth:g} B/s are too small: "
                         "a layer's time is not a finite number of seconds")
    columns = {"name": c["name"], "op": c["op"], "mult_adds": c["mult_adds"], "bytes_moved": c["bytes_moved"],
               "intensity": c["intensity"], "compute_s": t_compute, "memory_s": t_memory,
               "time_s": np.maximum(t_compute, t_memory),
               "bound": np.where(t_memory > t_compute, "memory", "compute")}
    return Roofline(device=dev, dtype=mem.dtype, columns=columns)


@dataclass
class Calibration:
    device: Device
    table: object  # DataFrame: source, model, alpha, resolution, measured_ms, predicted_ms, error, fitted
    train_error: float  # mean absolute relative error on the measurements used to fit
    test_error: float | None  # ... on the others (None when every measurement was fitted)


def _latencies():
    with open(tables_dir() / "reference" / "latency.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def calibrate(fit_sources=("tf_slim",), fit_models=("v2",), dtype: str = "float32", convention="paper") -> Calibration:
    """Fit a device's peak MAC rate and bandwidth to the published Pixel-1 latencies
    (tables/reference/latency.csv) of the rows from ``fit_sources`` and ``fit_models``, by least squares
    on log latency; report the relative error on the fitted rows and on all the others."""
    import pandas as pd

    rows = _latencies()
    known = sorted({r["source"] for r in rows})
    if isinstance(fit_sources, str) or isinstance(fit_models, str):
        raise UsageError("fit_sources and fit_models are lists of names")
    sources = {str(x).replace("-", "_").lower() for x in fit_sources}  # tf-slim and tf_slim alike
    unknown = sorted(sources - set(known))
    if unknown:
        raise UsageError(f"unknown latency source(s) {', '.join(unknown)}; the sources: "
                         f"{', '.join(k.replace('_', '-') for k in known)}")
    fitted = [r["source"] in sources and r["model"] in fit_models for r in rows]
    if not any(fitted):
        raise UsageError(f"no latency measurements from sources {', '.join(fit_sources)} for models {', '.join(fit_models)}")
    layers = []
    for r in rows:
        m = memory(r["model"], alpha=float(r["alpha"]), resolution=int(r["resolution"]), dtype=dtype, convention=convention)
        layers.append((m.columns["mult_adds"].astype(float), m.columns["bytes_moved"].astype(float)))
    measured = np.array([float(r["latency_ms"]) / 1e3 for r in rows])
    fit_idx = np.flatnonzero(fitted)

    def loss(log_p, log_b):
        p, b = 10.0 ** log_p[:, None], 10.0 ** log_b[None, :]
        total = 0.0
        for i in fit_idx:
            m, y = layers[i]
            pred = np.maximum(m[None, None, :] / p[..., None], y[None, None, :] / b[..., None]).sum(-1)
            total = total + (np.log(pred) - np.log(measured[i])) ** 2
        return total

    # a coarse grid over log10 rates, then ever finer grids around the best point
    log_p, log_b = np.linspace(7, 13, 121), np.linspace(7, 12, 101)
    for span in (0.2, 0.05, 0.01, 0.002, 0.0004, None):
        grid = loss(log_p, log_b)
        i, j = np.unravel_index(np.argmin(grid), grid.shape)
        best_p, best_b = log_p[i], log_b[j]
        if span is not None:
            log_p = np.linspace(best_p - span, best_p + span, 41)
            log_b = np.linspace(best_b - span, best_b + span, 41)
    dev = Device("calibrated", 10.0 ** best_p, 10.0 ** best_b, dtype,
                 f"fit to {len(fit_idx)} published latencies ({', '.join(fit_sources)}: {', '.join(fit_models)})")
    predicted = np.array([layer_times(m, y, dev.peak_macs, dev.bandwidth) for m, y in layers], dtype=object)
    pred = np.array([np.maximum(tc, tm).sum() for tc, tm in predicted])
    err = (pred - measured) / measured
    table = pd.DataFrame({"source": [r["source"] for r in rows], "model": [r["model"] for r in rows],
                          "alpha": [float(r["alpha"]) for r in rows], "resolution": [int(r["resolution"]) for r in rows],
                          "measured_ms": measured * 1e3, "predicted_ms": pred * 1e3, "error": err, "fitted": fitted})
    fitted_mask = np.array(fitted)
    test = float(np.abs(err[~fitted_mask]).mean()) if (~fitted_mask).any() else None  # None: nothing held out
    return Calibration(dev, table, float(np.abs(err[fitted_mask]).mean()), test)


def attainable(intensity, device: Device):
    """The roofline: the MAC rate a layer of ``intensity`` (MACs per byte) can reach on ``device``,
    min(peak MAC rate, intensity x bandwidth)."""
    return np.minimum(device.peak_macs, np.asarray(intensity, dtype=float) * device.bandwidth)


def ridge_sweep(configs: dict, ridge_points, dtype: str = "int8"):
    """MobileNetV4's roofline (its Eq. 1) over hardware ridge points RP = peak MACs / bandwidth: for
    each configuration (name -> keyword arguments of ``memory``, e.g. ``{"model": "v2"}``) the time
    sum_i max(MACs_i, RP x bytes_i) in units of one MAC at peak rate, so that models rank by it on any
    hardware of that ridge point. RP = 0 is counting MACs. Returns a DataFrame: ridge points x names."""
    import pandas as pd

    ridge = np.asarray(ridge_points, dtype=float)
    if ridge.ndim != 1 or not np.all(np.isfinite(ridge)) or np.any(ridge < 0):
        raise UsageError("ridge points are finite numbers >= 0")
    times = {}
    for name, kwargs in configs.items():
        c = memory(dtype=dtype, **kwargs).columns
        macs, moved = np.asarray(c["mult_adds"], dtype=float), np.asarray(c["bytes_moved"], dtype=float)
        times[name] = np.maximum(macs[None, :], ridge[:, None] * moved[None, :]).sum(axis=1)
    return pd.DataFrame(times, index=pd.Index(ridge, name="ridge point (MACs/byte)"))
