"""Start-up time of the CLI: each command run N times in fresh subprocesses, the median wall time, beside
`python -c "import typer, rich, numpy"` measured in the same run (interleaved, so that a busy machine slows
both alike). The commands whose answer mnetcost keeps between runs (reference, models, choose: mnetcost.memo)
are timed with the kept answer, as every run after the first has it, and again without it. Writes a Markdown
table (stdout, or --output FILE).

    python benchmarks/startup.py            # 15 runs each
    python benchmarks/startup.py -n 31 -o startup.md
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ("import typer, rich, numpy", [sys.executable, "-c", "import typer, rich, numpy"])
# (name, arguments, target ratio to the baseline); None: no target (reads or measures user data)
COMMANDS = [
    ("table", "table v2 --alpha 0.75 --rho 0.714 -f json", 1.5),
    ("table (rich)", "table v2 --alpha 0.75 --rho 0.714", 2.5),
    ("reference", "reference", 2.5),
    ("choose", "choose --device pixel1-big-core --max-latency 20ms", 2.5),
    ("compare", "compare v2 --convention paper,torchvision,keras,tf-slim,timm", 2.5),
    ("compare (ptflops)", "compare v2 --convention paper,torchvision,keras,tf-slim,ptflops", 2.5),
    ("models", "models", 2.5),
    ("fit", "fit v2 --max-macs 150M --max-params 2M --max-peak-memory 512K", 2.5),
    ("train", "train v2 --freeze 14 --batch 32", 2.5),
    ("memory", "memory v2", 2.5),
    ("devices", "devices", 2.5),
    ("conventions", "conventions", 2.5),
    ("ratio", "ratio --kernel 3 --in 512 --out 512 --size 14 --alpha 0.75 --rho 0.714", 2.5),
    ("sweep", "sweep v1 --alpha 0.25,0.5,0.75,1.0 --resolution 128:224:32", 2.5),
    ("diff", "diff v3-large-v2tail v3-large", 2.5),
    ("roofline", "roofline v2 --device pixel1-big-core", 2.5),
    ("calibrate --published", "calibrate --published v4-pixel6-cpu", None),
    ("--help", "--help", 2.5),
]
# The commands whose answer mnetcost keeps between runs (mnetcost.memo), once more without it: what a first run
# after installing, upgrading or editing a table takes. No target: the targets are the runs above.
UNCACHED = [(f"{name} (no cache)", line, None) for name, line, _ in COMMANDS if name in ("reference", "models",
                                                                                        "choose")]


# As an installed package runs: with its bytecode cached (pip compiles it; PYTHONDONTWRITEBYTECODE would make
# every run compile mnetcost's sources again, ~0.1 s that no user pays).
# Results kept between runs (mnetcost.memo) in a folder of the benchmark's own, filled by the warm-up runs.
CACHE = tempfile.mkdtemp(prefix="mnetcost-startup-")
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(ROOT),
       "COLUMNS": "120", "MNETCOST_CACHE": CACHE}


def wall(argv: list[str], cache: bool = True) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
                   env=ENV if cache else {**ENV, "MNETCOST_CACHE": "off"})
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=15, help="runs per command (default 15)")
    parser.add_argument("-o", "--output", help="write the Markdown table here too")
    parser.add_argument("-k", "--only", help="only commands whose name contains this")
    args = parser.parse_args()
    commands = [c for c in COMMANDS + UNCACHED if not args.only or args.only in c[0]]
    runs = {name: [] for name, *_ in [BASELINE[:1], *commands]}
    for _name, line, _target in commands:  # warm up: bytecode written, files in the page cache
        wall([sys.executable, "-m", "mnetcost", *line.split()])
    for _ in range(args.n):  # interleaved: every command once per round, the baseline first
        runs[BASELINE[0]].append(wall(BASELINE[1]))
        for name, line, _target in commands:
            runs[name].append(wall([sys.executable, "-m", "mnetcost", *line.split()], "(no cache)" not in name))
    base = statistics.median(runs[BASELINE[0]])
    lines = [f"{args.n} runs each, median wall time; {platform.python_implementation()} {platform.python_version()}, "
             f"{platform.machine()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}.", "",
             "| command | median s | × baseline | target | |", "|---|---:|---:|---:|---|",
             f"| `python -c \"{BASELINE[0]}\"` (baseline) | {base:.3f} | 1.00 | | |"]
    for name, line, target in commands:
        t = statistics.median(runs[name])
        verdict = "" if target is None else ("ok" if t / base <= target else "**over**")
        shown = f"`mnetcost {line}`" + (" (no cache: a first run)" if "(no cache)" in name else "")
        lines.append(f"| {shown} | {t:.3f} | {t / base:.2f} | {'' if target is None else f'≤ {target}'} "
                     f"| {verdict} |")
    text = "\n".join(lines) + "\n"
    shutil.rmtree(CACHE, ignore_errors=True)
    sys.stdout.write(text)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
