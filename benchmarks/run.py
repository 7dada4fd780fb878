"""mnetcost benchmarks, run on demand (not part of the tests): python benchmarks/run.py [--quick]

Measures, on one core (pinned, single-threaded BLAS):
  1. sweep: MobileNetV2 mult-adds and params for 1,000 alphas x 10,000 resolutions (a tidy DataFrame);
  2. per-stage widths: 3,000,000 MobileNetV2 configurations, one multiplier per table row, at 224 px;
  3. the budget solver (mnetcost.fit) on a 24 x 15 grid;
  4. CLI start: `mnetcost table v2 --format json`, a new process each run, against `python -c pass`;
  5. when torch is installed, the framework route for the same kind of question: build the module
     (mnetcost.torch.build) and count with FlopCounterMode, per configuration.
Also the training sweep (forward + backward MACs of a step) and the sweep of MobileNetV4-Conv-S and Hybrid-M (whose attention adds terms in the square of the area).
Targets (issue #8): sweep >= 10M configurations/s (v2 and v4-conv-small), per-stage >= 3M/s, CLI start < 0.25 s median.
"""

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"
if hasattr(os, "sched_setaffinity"):
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

import platform  # noqa: E402
import shutil  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from mnetcost.explore import fit, stage_sweep, sweep  # noqa: E402
from mnetcost.tables import load_table  # noqa: E402
from mnetcost.train import training_sweep  # noqa: E402

QUICK = "--quick" in sys.argv


def timed(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def machine():
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"{cpu}; {os.cpu_count()} cores (benchmark pinned to one); Python {platform.python_version()}, "
            f"numpy {np.__version__}, {platform.system()} {platform.release()}")


def main():
    print("machine:", machine())
    results = []

    alphas = np.linspace(0.2, 1.5, 1000)
    resolutions = np.arange(32, 32 + (1000 if QUICK else 10_000))
    n = len(alphas) * len(resolutions)
    med, best = timed(lambda: sweep("v2", alphas, resolutions), 2 if QUICK else 5)
    results.append(("sweep: v2, alpha x resolution grid", f"{n:,} configurations", med, n / med / 1e6, ">= 10"))
    med, best = timed(lambda: training_sweep("v2", alphas, resolutions, freeze=14, batch=32, count="torch"), 2 if QUICK else 5)
    results.append(("training sweep: v2, freeze 14, torch count", f"{n:,} configurations", med, n / med / 1e6, ""))
    for model, target in (("v4-conv-small", ">= 10"), ("v4-hybrid-medium", "")):  # attention: area^2 terms
        med, best = timed(lambda: sweep(model, alphas, resolutions, convention="timm"), 2 if QUICK else 5)
        results.append((f"sweep: {model} (timm)", f"{n:,} configurations", med, n / med / 1e6, target))

    rows = len(load_table("v2").rows)
    stages = np.random.default_rng(0).uniform(0.25, 1.5, ((300_000 if QUICK else 3_000_000), rows))
    med, best = timed(lambda: stage_sweep("v2", stages, 224), 2 if QUICK else 5)
    results.append(("per-stage widths: v2 at 224 px", f"{len(stages):,} configurations", med, len(stages) / med / 1e6, ">= 3"))

    grid_a, grid_r = np.round(np.arange(0.25, 1.41, 0.05), 2), list(range(96, 321, 16))
    med, _ = timed(lambda: fit("v2", grid_a, grid_r, max_macs=150e6, max_params=3e6, max_peak_bytes=512_000), 5)
    results.append(("fit: v2, budget solver", f"{len(grid_a) * len(grid_r)} configurations", med,
                    len(grid_a) * len(grid_r) / med / 1e6, ""))

    print(f"\n{'what':40s} {'size':>24s} {'median s':>10s} {'M configs/s':>12s} {'target':>8s}")
    for what, size, med, rate, target in results:
        print(f"{what:40s} {size:>24s} {med:10.3f} {rate:12.2f} {target:>8s}")

    exe = shutil.which("mnetcost")
    cmd = [exe] if exe else [sys.executable, "-m", "mnetcost"]
    runs = 10 if QUICK else 30
    floor = [subprocess_time([sys.executable, "-c", "pass"]) for _ in range(runs)]
    start = [subprocess_time(cmd + ["table", "v2", "--format", "json"]) for _ in range(runs)]
    print(f"\nCLI start ({runs} runs each, a new process every run):")
    print(f"  python -c pass                     median {statistics.median(floor) * 1e3:6.1f} ms")
    print(f"  mnetcost table v2 --format json    median {statistics.median(start) * 1e3:6.1f} ms   (target < 250 ms)")

    try:
        import torch  # noqa: F401
        from torch.utils.flop_counter import FlopCounterMode

        from mnetcost.torch import build
    except ImportError:
        print("\nframework route: torch is not installed (pip install torch) - skipped")
        return
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import torch"], check=True)
    torch_import = time.perf_counter() - t0
    configs = [(a, r) for a in (0.35, 0.5, 0.75, 1.0) for r in (128, 160, 192, 224)]

    def framework():
        for a, r in configs:
            net = build("v2", alpha=a)
            with torch.no_grad(), FlopCounterMode(display=False) as counter:
                net(torch.zeros(1, 3, r, r))
            counter.get_total_flops()

    med, _ = timed(framework, 3)
    per = med / len(configs)
    analytic = results[0][3] * 1e6
    print(f"\nframework route (torch {torch.__version__}): build the module and count with FlopCounterMode")
    print(f"  import torch in a new process: {torch_import:.2f} s")
    print(f"  {per * 1e3:.1f} ms per configuration ({1 / per:,.0f} configurations/s); "
          f"the analytical sweep is {analytic * per:,.0f} times faster")


def subprocess_time(cmd):
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
