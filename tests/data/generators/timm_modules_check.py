"""On-demand check (not a test, writes nothing): mnetcost.torch.build(..., convention="timm") gives the
same PyTorch module, parameter for parameter, as timm's own MobileNets.

Usage (torch 2.14.1, timm 1.0.31, numpy, pandas, typer, rich; CPU, no weights are downloaded -- importing
timm_truth beside this script replaces every download entry point of torch.hub / timm by one that raises),
in the environment of timm_truth.py:
    .venv-timm/bin/pip install typer rich   # mnetcost's own dependencies, next to timm's
    PYTHONPATH=. .venv-timm/bin/python tests/data/generators/timm_modules_check.py
Prints one PASS/FAIL line per configuration and a summary line; exit code 1 on any FAIL.

For each (timm model, mnetcost table, alpha) of CASES, each resolution R of RESOLUTIONS and each class
count K of NUM_CLASSES it builds
    timm.create_model(name, pretrained=False, num_classes=K)         (timm's fused attention OFF:
                                                                       timm.layers.set_fused_attn(False))
    mnetcost.torch.build(table, alpha=a, resolution=R, convention="timm", classes=K)
both in eval mode, and compares
  (1) params: sum(p.numel() for p in model.parameters()) (BatchNorm running statistics are buffers, not
      counted; LayerScale gammas are parameters);
  (2) shapes: the sorted multiset of parameter tensor shapes, NORMALISED by stripping trailing 1-dims
      (a (C_out, C_in, 1, 1) 1x1-conv weight compares equal to a (C_out, C_in) Linear weight). Needed for
      V3 only: timm's mobilenetv3_* conv_head (960->1280, 576->1024; bias, no BatchNorm, after global
      pooling) is a 1x1 Conv2d, while mnetcost builds a BatchNorm-free "fc" row as a Linear (torchvision's
      layout; mnetcost.torch builds a Conv2d only for a BatchNorm'd fc, as V4's conv_head, which matches
      timm exactly). Same parameters, same MACs (a 1x1 conv on a 1x1 map is a matmul). Where the raw
      shapes differ, the line lists them ("layout (raw shapes): timm only ...; mnetcost only ...");
  (3) macs: torch.utils.flop_counter.FlopCounterMode total flops // 2 for a forward of zeros(1, 3, R, R)
      under torch.no_grad(). With fused attention off timm's MultiQueryAttention2d runs explicit matmuls
      (aten.bmm), which FlopCounterMode counts, as it counts mnetcost's Attention module.
On a shape FAIL the differing normalised shapes are printed (timm-only and mnetcost-only, with
multiplicities).
"""
import os
import sys
import time
from collections import Counter

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import timm  # noqa: E402
import timm.layers  # noqa: E402
import torch  # noqa: E402
from timm.layers import Attention2d, MultiQueryAttention2d, set_fused_attn, use_fused_attn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import mnetcost.torch as mt  # noqa: E402

CASES = [  # timm model, mnetcost table, alpha
    ("mobilenetv4_conv_small", "v4-conv-small", 1.0),
    ("mobilenetv4_conv_medium", "v4-conv-medium", 1.0),
    ("mobilenetv4_conv_large", "v4-conv-large", 1.0),
    ("mobilenetv4_hybrid_medium", "v4-hybrid-medium", 1.0),
    ("mobilenetv4_hybrid_large", "v4-hybrid-large", 1.0),
    ("mobilenetv4_conv_small_035", "v4-conv-small", 0.35),
    ("mobilenetv4_conv_small_050", "v4-conv-small", 0.5),
    ("mobilenetv4_hybrid_medium_075", "v4-hybrid-medium", 0.75),
    ("mobilenetv4_hybrid_large_075", "v4-hybrid-large", 0.75),
    ("mobilenetv1_100", "v1", 1.0),
    ("mobilenetv2_100", "v2", 1.0),
    ("mobilenetv2_140", "v2", 1.4),
    ("mobilenetv3_large_100", "v3-large", 1.0),
    ("mobilenetv3_small_100", "v3-small", 1.0),
]
RESOLUTIONS = [224, 193]
NUM_CLASSES = [1000, 10]
ATTN_TYPES = (MultiQueryAttention2d, Attention2d)


# timm_truth (beside this script) blocks every weight download when it is imported, and counts parameters
from timm_truth import n_params  # noqa: E402


def shapes(m):
    return sorted(tuple(p.shape) for p in m.parameters())


def strip1(shape):
    s = list(shape)
    while s and s[-1] == 1:
        s.pop()
    return tuple(s)


def macs(m, res):
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        m(torch.zeros(1, 3, res, res))
    total = fc.get_total_flops()
    assert total % 2 == 0, total
    return total // 2


def timm_model(name, classes):
    assert not use_fused_attn(), "fused attention must be off"
    torch.manual_seed(0)
    m = timm.create_model(name, pretrained=False, num_classes=classes).eval()
    assert all(x.fused_attn is False for x in m.modules() if isinstance(x, ATTN_TYPES)), name
    return m


def shape_diff(a, b):
    ca, cb = Counter(a), Counter(b)
    return dict(ca - cb), dict(cb - ca)


def main():
    torch.set_num_threads(2)
    set_fused_attn(False)
    print(f"torch {torch.__version__} timm {timm.__version__} python {sys.version.split()[0]}", flush=True)
    t0 = time.time()
    n_pass = n_fail = n_layout = 0
    for name, table, alpha in CASES:
        for classes in NUM_CLASSES:
            tm = timm_model(name, classes)
            tp, ts = n_params(tm), shapes(tm)
            for res in RESOLUTIONS:
                mm = mt.build(table, alpha=alpha, resolution=res, convention="timm", classes=classes)
                mp, ms = n_params(mm), shapes(mm)
                t_macs, m_macs = macs(tm, res), macs(mm, res)
                ok_p, ok_m = tp == mp, t_macs == m_macs
                ok_s = sorted(map(strip1, ts)) == sorted(map(strip1, ms))
                ok = ok_p and ok_s and ok_m
                n_pass += ok
                n_fail += not ok
                line = (f"{'PASS' if ok else 'FAIL'} {name} <-> {table} alpha={alpha} r={res} c={classes}: "
                        f"params timm={tp} mnetcost={mp} {'ok' if ok_p else 'DIFF'}; "
                        f"shapes ({len(ts)} tensors) {'ok' if ok_s else 'DIFF'}; "
                        f"macs timm={t_macs} mnetcost={m_macs} {'ok' if ok_m else 'DIFF'}")
                if ts != ms:
                    only_t, only_m = shape_diff(ts, ms)
                    n_layout += ok_s
                    line += f"\n    layout (raw shapes): timm only {only_t}; mnetcost only {only_m}"
                if not ok_s:
                    only_t, only_m = shape_diff(sorted(map(strip1, ts)), sorted(map(strip1, ms)))
                    line += f"\n    normalised shapes differ: timm only {only_t}; mnetcost only {only_m}"
                print(line, flush=True)
    print(f"SUMMARY: {n_pass} PASS, {n_fail} FAIL of {n_pass + n_fail} configurations "
          f"({n_layout} with layout-only shape differences) in {time.time() - t0:.0f}s", flush=True)
    return 1 if n_fail else 0


if __name__ == "__main__":
    sys.exit(main())
