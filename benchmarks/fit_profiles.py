"""Regenerate the fitted device profiles of tables/devices.csv, each with its held-out error: one per
latency set of tables/reference/latency_sets.csv (the published ones, and this project's own ONNX
Runtime measurements), fitted with the set's own form, holdout, dtype and ridge point. The
assumption profiles (hardware peaks) are left as they are.

    python benchmarks/fit_profiles.py
"""

from pathlib import Path

from mnetcost.calibration import calibrate_published, latency_sets
from mnetcost.latency import write_device

DEVICES = Path(__file__).resolve().parent.parent / "tables" / "devices.csv"

if __name__ == "__main__":
    for name in latency_sets().index:
        c = calibrate_published(name)
        write_device(c.device, DEVICES)
        print(f"{c.device.name}: {c.held_out}")
