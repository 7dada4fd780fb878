"""Measure MobileNet latencies on this machine with ONNX Runtime (one thread), for the calibration
benchmark of benchmarks/README.md. On demand; needs ``pip install -e ".[measure]"``.

    python benchmarks/latency_measure.py [OUT.csv] [--passes 5]

The configurations: seven networks (V1, V2, V3-Large, V3-Small, MobileNetV4 Conv-S, Conv-M and
Hybrid-M), each at nine (alpha, resolution) pairs drawn with a fixed seed from widths 0.35-1.4 and
resolutions 96-384 (--seed draws them): 63 configurations, timed in one sweep (the protocol of
mnetcost.timing).
"""

import argparse
import random
import sys

from mnetcost.timing import append, measure

MODELS = ("v1", "v2", "v3-large", "v3-small", "v4-conv-small", "v4-conv-medium", "v4-hybrid-medium")
ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.25, 1.4)
RESOLUTIONS = (96, 128, 160, 192, 224, 256, 288, 320, 384)


def configs(per_model: int = 9, seed: int = 2026):
    rng = random.Random(seed)
    out = []
    for model in MODELS:
        pairs = rng.sample([(a, r) for a in ALPHAS for r in RESOLUTIONS], per_model)
        out += [dict(model=model, alpha=a, resolution=r, convention="paper") for a, r in sorted(pairs)]
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("out", nargs="?", default="benchmarks/results/measurements.csv")
    parser.add_argument("--passes", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2026, help="draws the configurations")
    args = parser.parse_args()
    rows = measure(configs(seed=args.seed), passes=args.passes, seed=1, progress=lambda m: print(m, file=sys.stderr, flush=True))
    append(rows, args.out)
    print(f"{len(rows)} configurations -> {args.out}")
