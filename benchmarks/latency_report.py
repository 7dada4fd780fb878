"""The calibration benchmark of benchmarks/README.md, from the measurement files it names: held-out
error of each form under both holdouts on the first sweep (the one tables/devices.csv's
epyc-avx2-ort-1thread is fitted to), the same on the confirmation sweep (other configurations, measured
after the model's terms were chosen), and the first sweep's fit predicting the second.

    python benchmarks/latency_report.py [FIRST.csv] [CONFIRMATION.csv]
"""

import sys

import numpy as np
import pandas as pd

from mnetcost.calibration import FORMS, calibrate, read_measurements
from mnetcost.latency import roofline

first = sys.argv[1] if len(sys.argv) > 1 else "benchmarks/results/measurements.csv"
second = sys.argv[2] if len(sys.argv) > 2 else "benchmarks/results/measurements-confirmation.csv"
for path in (first, second):
    m = pd.read_csv(path)
    print(f"{path}: {len(m)} configurations, {m.latency_ms.min():.2f}-{m.latency_ms.max():.1f} ms; noise of the "
          f"latency (pass sd): median {m.pass_sd_pct.median():.1f}%, 90th percentile "
          f"{m.pass_sd_pct.quantile(0.9):.1f}%, max {m.pass_sd_pct.max():.1f}%")
    obs = read_measurements(path)
    for form in FORMS:
        for holdout in ("network", "model"):
            c = calibrate(obs, form=form, holdout=holdout)
            marked = c.table["unseen"] != ""
            rest = c.table.loc[~marked, "error"].abs() <= 0.1
            print(f"  {form:9} {holdout:8} {c.held_out}" + (f"; {int(marked.sum())} needed an unseen term, "
                                                            f"{100 * rest.mean():.0f}% of the others within ±10%"
                                                            if marked.any() else ""))
    c = calibrate(obs)
    worst = c.table.assign(abs_error=c.table["error"].abs()).groupby("model")["abs_error"].agg(["mean", "max"])
    print("  full, network: mean and max |held-out error| per model\n" + worst.round(3).to_string())
device = calibrate(read_measurements(first)).device
b = read_measurements(second)
err = np.array([roofline(o.model, alpha=o.alpha, resolution=o.resolution, device=device).latency_s / o.latency_s - 1
                for o in b])
print(f"fit to {first}, predicting {second}: {100 * np.mean(np.abs(err) <= 0.1):.0f}% within ±10%, mean |error| "
      f"{100 * np.mean(np.abs(err)):.1f}%, mean error {100 * np.mean(err):+.1f}% (the machine's drift between sweeps)")
