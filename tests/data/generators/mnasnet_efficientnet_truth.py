"""Ground truth params/MACs for torchvision MnasNet and EfficientNet-B0.

Usage (torch 2.14.1, torchvision 0.29.1): python tests/data/generators/mnasnet_efficientnet_truth.py
Writes totals.csv and layers.csv next to this script.
"""
import csv
import os
import time

import torch
import torch.nn as nn
import torchvision
from torch.utils.flop_counter import FlopCounterMode

OUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # writes into tests/data
MODELS = [
    ("mnasnet0_5", 0.5),
    ("mnasnet0_75", 0.75),
    ("mnasnet1_0", 1.0),
    ("mnasnet1_3", 1.3),
    ("efficientnet_b0", 1.0),
]
RESOLUTIONS = [96, 97, 128, 160, 224, 240, 331]
NUM_CLASSES = [10, 1000, 1001]
LAYER_MODELS = ["mnasnet1_0", "mnasnet0_5", "efficientnet_b0"]


def build(name, num_classes):
    fn = getattr(torchvision.models, name)
    return fn(weights=None, num_classes=num_classes).eval()


def count_params(m):
    return sum(p.numel() for p in m.parameters())


def total_macs(model, res):
    x = torch.zeros(1, 3, res, res)
    with torch.no_grad():
        fc = FlopCounterMode(display=False)
        with fc:
            model(x)
    flops = fc.get_total_flops()
    assert flops % 2 == 0, flops
    return flops // 2


def totals():
    rows = []
    for name, alpha in MODELS:
        for nc in NUM_CLASSES:
            torch.manual_seed(0)
            model = build(name, nc)
            params = count_params(model)
            for res in RESOLUTIONS:
                macs = total_macs(model, res)
                rows.append([name, alpha, res, nc, params, macs])
                print(name, alpha, res, nc, params, macs, flush=True)
    with open(os.path.join(OUT, "torchvision_mnasnet_efficientnet_totals.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "alpha", "resolution", "num_classes", "params", "macs"])
        w.writerows(rows)
    return rows


def layers():
    rows = []
    for name in LAYER_MODELS:
        model = build(name, 1000)
        leaves = [(n, m) for n, m in model.named_modules()
                  if isinstance(m, (nn.Conv2d, nn.BatchNorm2d, nn.Linear))]
        shapes = {}
        hooks = []
        for n, m in leaves:
            def hook(mod, inp, out, n=n):
                shapes[n] = tuple(out.shape)
            hooks.append(m.register_forward_hook(hook))
        x = torch.zeros(1, 3, 224, 224)
        with torch.no_grad():
            fc = FlopCounterMode(display=False, depth=None)
            with fc:
                model(x)
        for h in hooks:
            h.remove()
        per_mod = fc.get_flop_counts()  # keys: "Global", "<ClassName>", "features.0.0", ...
        macs_sum = 0
        for n, m in leaves:
            flops = sum(per_mod.get(f"{type(model).__name__}.{n}", {}).values())
            macs = flops // 2
            macs_sum += macs
            s = shapes[n]
            if len(s) == 4:
                oshape = f"{s[2]}x{s[3]}x{s[1]}"
            else:
                oshape = f"1x1x{s[1]}"
            if isinstance(m, nn.Conv2d):
                r = [m.in_channels, m.out_channels, f"{m.kernel_size[0]}x{m.kernel_size[1]}",
                     m.stride[0], m.groups, m.bias is not None]
            elif isinstance(m, nn.BatchNorm2d):
                r = [m.num_features, m.num_features, "", "", "", m.affine]
            else:
                r = [m.in_features, m.out_features, "", "", "", m.bias is not None]
            rows.append([name, n, type(m).__name__] + r + [count_params(m), macs, oshape])
        glob = sum(per_mod["Global"].values()) // 2
        leaf_params = sum(count_params(m) for _, m in leaves)
        print(f"{name}: leaf MACs sum={macs_sum} global={glob}; leaf params={leaf_params} "
              f"total params={count_params(model)}; leaves={len(leaves)}", flush=True)
    with open(os.path.join(OUT, "torchvision_mnasnet_efficientnet_layers.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "module", "type", "in_ch", "out_ch", "kernel", "stride", "groups",
                    "bias", "params", "macs", "out_hwc"])
        w.writerows(rows)
    return rows


if __name__ == "__main__":
    torch.set_num_threads(2)
    print("torch", torch.__version__, "torchvision", torchvision.__version__)
    t0 = time.time()
    rows = totals()
    t1 = time.time()
    lrows = layers()
    t2 = time.time()
    d = {(r[0], r[2], r[3]): r for r in rows}
    assert d[("mnasnet1_0", 224, 1000)][4] == 4383312, d[("mnasnet1_0", 224, 1000)]
    assert d[("efficientnet_b0", 224, 1000)][4] == 5288548, d[("efficientnet_b0", 224, 1000)]
    print("CONFIRMED params mnasnet1_0=4383312 efficientnet_b0=5288548")
    print(f"totals rows={len(rows)} in {t1 - t0:.1f}s; layers rows={len(lrows)} in {t2 - t1:.1f}s")
