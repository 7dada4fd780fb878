"""Issue #24's benchmark: predict networks nobody timed whole from an operator suite, on this machine.

    python benchmarks/suite_eval.py [--out DIR] [--size 400] [--suite-passes 10] [--passes 40]

One command, all in one sitting (on a shared machine run it when `uptime` shows little load, or pin it:
`taskset -c 1 nice -n -5 python benchmarks/suite_eval.py`):

1. the operator suite (``mnetcost measure --suite``: layers of every shipped table, each its own graph in
   a network's context, then a quarter more where a first fit errs most), timed; its minutes are the
   profiling time;
2. whole networks, timed in one run of ``mnetcost measure`` (40 shuffled passes): six families the
   whole-network forms are fitted to (SEEN) and the held-out ones (HELD_OUT, plus a user's table,
   benchmarks/mynet.csv), never used in any fit below;
3. predictions of every held-out network by
   - ``suite``: ``calibrate -m suite.csv`` alone (no network measured whole at all),
   - ``suite + composition``: the suite and the SEEN networks fitted together (form suite),
   - ``full``: the whole-network device model fitted to the SEEN networks (the form before the suite),
   - MACs only: t = a x MACs + b fitted to the SEEN networks;
4. per predictor: share within +-10% and +-5%, mean |error|, Spearman rank correlation, and for the
   suite how many of each network's layers it had to extrapolate (the ``confidence`` column).

Writes DIR/suite.csv, DIR/networks.csv, DIR/predictions.csv, DIR/conditions.txt (clock, load average)
and prints a markdown summary.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mnetcost.calibration import Observation, calibrate, nnls, read_measurements
from mnetcost.engine import cost
from mnetcost.latency import roofline
from mnetcost.suite import run as run_suite
from mnetcost.timing import append, measure

HERE = Path(__file__).resolve().parent
SEEN = ("v1", "v2", "v3-large", "v3-small", "v4-conv-small", "v4-conv-medium")
HELD_OUT = ("efficientnet-b0", "mnasnet-b1", "v3-large-min", "v3-small-min", "v4-hybrid-medium", "v4-hybrid-large",
            "lraspp-v3-large", "ssdlite-v3-large", str(HERE / "mynet.csv"))
CLASSIFIER_CONFIGS = ((1.0, 224), (0.75, 192), (0.5, 160))
HEAD_CONFIGS = ((1.0, 320), (0.75, 256))


def configs():
    out = []
    for model in SEEN + HELD_OUT:
        heads = model.startswith(("lraspp", "ssdlite"))
        pairs = HEAD_CONFIGS if heads else CLASSIFIER_CONFIGS[:2] if model in HELD_OUT else CLASSIFIER_CONFIGS
        out += [dict(model=model, alpha=a, resolution=r, convention="paper") for a, r in pairs]
    return out


def say(message):
    print(message, file=sys.stderr, flush=True)


def metrics(measured, predicted) -> dict:
    err = predicted / measured - 1
    rho = pd.Series(measured).rank().corr(pd.Series(predicted).rank())
    return {"n": len(err), "within_10": np.mean(np.abs(err) <= 0.10), "within_5": np.mean(np.abs(err) <= 0.05),
            "mean_abs_error": np.mean(np.abs(err)), "spearman": rho}


def macs(o) -> float:
    return float(cost(o.model, alpha=o.alpha, resolution=o.resolution, convention=o.convention).macs)


def predictions(suite_obs, nets):
    seen = [o for o in nets if o.model in SEEN]
    held = [o for o in nets if o.model not in SEEN]
    devices = {"suite": calibrate(suite_obs, name="suite").device,
               "suite + composition": calibrate(suite_obs + seen, name="suite-composed").device,
               "full": calibrate(seen, name="full", form="full").device}
    y = np.array([o.latency_s for o in seen])
    a = np.column_stack([[macs(o) for o in seen], np.ones(len(seen))])
    coef = nnls(a / y[:, None], np.ones(len(seen)))
    rows = []
    for o in nets:
        row = dict(model=Path(o.model).stem if o.model.endswith(".csv") else o.model, alpha=o.alpha,
                   resolution=o.resolution, held_out=o.model not in SEEN, measured_ms=o.latency_s * 1e3,
                   macs_only_ms=(coef[0] * macs(o) + coef[1]) * 1e3)
        for name, dev in devices.items():
            r = roofline(o.model, alpha=o.alpha, resolution=o.resolution, convention=o.convention, device=dev)
            row[f"{name}_ms"] = r.latency_s * 1e3
            if name == "suite":
                conf = r.columns["confidence"]
                row["suite_flagged_layers"] = int(sum(c != "covered" for c in conf))
                row["suite_flagged_ms"] = float(r.columns["time_s"][np.array(conf) != "covered"].sum() * 1e3)
        rows.append(row)
    return pd.DataFrame(rows), devices


def summary(table: pd.DataFrame, minutes: float) -> str:
    lines = ["| predictor | networks | within ±10% | within ±5% | mean abs error | Spearman |",
             "|---|---|---|---|---|---|"]
    for scope, mask in (("held-out families", table.held_out), ("all networks", table.held_out | True)):
        for name in ("suite", "suite + composition", "full", "macs_only"):
            if scope == "all networks" and name != "suite":
                continue  # the others are fitted to the SEEN networks: only the suite never saw any
            m = metrics(table.measured_ms[mask].to_numpy(), table[f"{name}_ms"][mask].to_numpy())
            lines.append(f"| {name.replace('_', '-')} ({scope}) | {m['n']} | {100 * m['within_10']:.0f}% | "
                         f"{100 * m['within_5']:.0f}% | {100 * m['mean_abs_error']:.1f}% | {m['spearman']:.2f} |")
    lines.append(f"\nProfiling (the suite): {minutes:.1f} minutes.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(HERE / "results" / "suite"))
    parser.add_argument("--size", type=int, default=400, help="graphs in the suite")
    parser.add_argument("--suite-passes", type=int, default=10)
    parser.add_argument("--passes", type=int, default=40, help="passes over the whole networks")
    parser.add_argument("--reuse", action="store_true", help="re-predict from DIR's measurements, time nothing")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu (default): the thread's CPU time, which a shared machine's other work does not "
                             "inflate (one runtime thread runs in the caller's); wall: the protocol's own clock")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    suite_csv, nets_csv = out / "suite.csv", out / "networks.csv"
    minutes = float("nan")
    if not args.reuse:
        for p in (suite_csv, nets_csv):
            p.unlink(missing_ok=True)
        load = os.getloadavg()
        start = time.perf_counter()
        clock = time.thread_time if args.clock == "cpu" else time.perf_counter
        run_suite(size=args.size, passes=args.suite_passes, seed=1, output=suite_csv, progress=say, clock=clock)
        minutes = (time.perf_counter() - start) / 60
        (out / "profiling_minutes.txt").write_text(f"{minutes:.2f}\n")
        say(f"suite: {minutes:.1f} minutes")
        append(measure(configs(), passes=args.passes, seed=1, progress=say, clock=clock), nets_csv)
        (out / "conditions.txt").write_text(f"clock {args.clock}; load average (1, 5, 15 min) at the start "
                                            f"{', '.join(f'{x:.2f}' for x in load)}, at the end "
                                            f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    elif (out / "profiling_minutes.txt").exists():
        minutes = float((out / "profiling_minutes.txt").read_text())
    table, devices = predictions(read_measurements(suite_csv), read_measurements(nets_csv))
    table.to_csv(out / "predictions.csv", index=False, float_format="%.5g")
    pd.set_option("display.width", 200)
    errors = table.assign(**{k: table[f"{k}_ms"] / table.measured_ms - 1 for k in
                             ("suite", "suite + composition", "full", "macs_only")})
    print(errors[["model", "alpha", "resolution", "held_out", "measured_ms", "suite", "suite + composition", "full",
                  "macs_only", "suite_flagged_layers"]].round(3).to_string(index=False))
    print(summary(table, minutes))
    print(f"suite profile: {devices['suite'].held_out}")


if __name__ == "__main__":
    main()
