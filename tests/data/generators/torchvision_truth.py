"""Ground-truth params / MACs for torchvision MobileNet models.

Writes torchvision_totals.csv and torchvision_layers.csv into tests/data.
MACs = FlopCounterMode total flops // 2 (FlopCounterMode counts 2 flops per multiply-add).
"""
import os
import sys
import time
from collections import Counter

import pandas as pd
import torch
import torch.nn as nn
import torchvision
from torch.utils.flop_counter import FlopCounterMode

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # writes into tests/data
MODELS = ["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"]
WIDTHS = [0.25, 0.35, 0.5, 0.75, 1.0, 1.3, 1.4]
RESOLUTIONS = [96, 97, 128, 160, 192, 224, 331]
CLASSES = [10, 1000, 1001]
LAYER_CASES = [
    ("mobilenet_v2", 1.0, 224),
    ("mobilenet_v2", 0.35, 97),
    ("mobilenet_v3_large", 1.0, 224),
    ("mobilenet_v3_large", 0.75, 224),
    ("mobilenet_v3_small", 1.0, 224),
    ("mobilenet_v3_small", 0.35, 97),
    ("mobilenet_v3_small", 1.3, 160),
]

TORCH_V = torch.__version__
TV_V = torchvision.__version__
OPS_SEEN = Counter()  # aten op -> number of runs in which it was counted


def build(name, width, classes):
    torch.manual_seed(0)
    m = getattr(torchvision.models, name)(weights=None, width_mult=width, num_classes=classes)
    return m.eval()


def count(model, res):
    x = torch.zeros(1, 3, res, res)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        out = model(x)
    total = fc.get_total_flops()
    assert total % 2 == 0, total
    for op in fc.get_flop_counts()["Global"]:
        OPS_SEEN[str(op)] += 1
    return total // 2, fc, out


def totals():
    rows = []
    t0 = time.time()
    for name in MODELS:
        for width in WIDTHS:
            for classes in CLASSES:
                model = build(name, width, classes)
                params = sum(p.numel() for p in model.parameters())
                for res in RESOLUTIONS:
                    macs, _, out = count(model, res)
                    assert tuple(out.shape) == (1, classes)
                    rows.append(dict(model=name, width_mult=width, resolution=res,
                                     num_classes=classes, params=params, macs=macs,
                                     torch_version=TORCH_V, torchvision_version=TV_V))
                print(f"{name} w={width} c={classes} params={params} "
                      f"t={time.time() - t0:.0f}s", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(os.path.join(HERE, "torchvision_totals.csv"), index=False)
    return df


def layers():
    rows = []
    for name, width, res in LAYER_CASES:
        model = build(name, width, 1000)
        prefix = type(model).__name__ + "."
        shapes = {}
        hooks = []
        leaf_types = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)
        for mname, mod in model.named_modules():
            if isinstance(mod, leaf_types):
                def hook(m, i, o, mname=mname):
                    assert mname not in shapes, f"module {mname} called twice"
                    shapes[mname] = tuple(o.shape)
                hooks.append(mod.register_forward_hook(hook))
        total, fc, _ = count(model, res)
        for h in hooks:
            h.remove()
        counts = fc.get_flop_counts()
        layer_sum = 0
        for mname, mod in model.named_modules():
            if not isinstance(mod, leaf_types):
                continue
            fl = sum(counts.get(prefix + mname, {}).values())
            assert fl % 2 == 0
            shp = shapes[mname]
            if isinstance(mod, nn.Linear):
                typ, cin, cout = "Linear", mod.in_features, mod.out_features
                kernel = stride = groups = ""
                bias = mod.bias is not None
                oshape = f"{shp[1]}"
            else:
                oshape = f"{shp[2]}x{shp[3]}x{shp[1]}"
                if isinstance(mod, nn.Conv2d):
                    typ, cin, cout = "Conv2d", mod.in_channels, mod.out_channels
                    kernel = "x".join(map(str, mod.kernel_size))
                    stride = "x".join(map(str, mod.stride))
                    groups = mod.groups
                    bias = mod.bias is not None
                else:
                    typ, cin, cout = "BatchNorm2d", mod.num_features, mod.num_features
                    kernel = stride = groups = ""
                    bias = mod.bias is not None  # affine shift (beta)
            p = sum(q.numel() for q in mod.parameters(recurse=False))
            layer_sum += fl // 2
            rows.append(dict(model=name, width_mult=width, resolution=res, module_name=mname,
                             type=typ, in_channels=cin, out_channels=cout, kernel=kernel,
                             stride=stride, groups=groups, bias=bias, params=p, macs=fl // 2,
                             output_shape=oshape))
        assert layer_sum == total, (name, width, res, layer_sum, total)
        print(f"layers {name} w={width} r={res}: total macs {total} == sum of layers", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(os.path.join(HERE, "torchvision_layers.csv"), index=False)
    return df


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(f"torch {TORCH_V} torchvision {TV_V} python {sys.version.split()[0]}", flush=True)
    t = time.time()
    lf = layers()
    print(f"layers: {len(lf)} rows, {time.time() - t:.0f}s", flush=True)
    t = time.time()
    tf = totals()
    print(f"totals: {len(tf)} rows, {time.time() - t:.0f}s", flush=True)
    print("aten ops counted by FlopCounterMode (op: #runs):", dict(OPS_SEEN))
