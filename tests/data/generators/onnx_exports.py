"""Real ONNX exports for the importer's tests (mnetcost import), with the frameworks' own counts.

Usage (torch 2.14.1, torchvision 0.29.1, timm 1.0.31, onnx 1.23; CPU, no weights are downloaded):
    /work/venv-timm/bin/python tests/data/generators/onnx_exports.py
Writes tests/data/onnx/NAME.onnx.xz (one per model) and tests/data/onnx/truth.csv.

Each model is built with random initial weights (weights=None / pretrained=False), put in eval mode and
exported by torch's TorchScript exporter (dynamo=False, opset 17, as mnetcost's own `measure` exports),
at the resolution named in EXPORTS. Eval-mode export folds every BatchNorm that follows a conv into
that conv (the conv gains a bias). Counts do not depend on weight values, so every float initializer is
then overwritten with zeros (same type and shape) and the file compressed with xz: a few KB each.

truth.csv, one row per (model, width, resolution):
  * macs = torch.utils.flop_counter.FlopCounterMode total flops // 2 for a forward of zeros(1, 3, R, R)
    under torch.no_grad() in eval mode (for ssdlite: backbone + head, as torchvision_heads_truth.py);
  * params = sum(p.numel() for p in model.parameters());
  * file_params (export rows only): the float initializer elements the exported file's nodes read, counted
    once per node that reads an initializer (an Identity node that re-exposes an initializer is its one
    reader; integer shape and axis constants are not counted), computed here with onnx only;
  * exported = 1 for the row whose (width, resolution) is the file's.
The width_mult=0.75 rows (torchvision mobilenet_v2 / _v3_large / _v3_small at 160 px) are the targets
of the importer's alpha-scaling test.
"""
import csv
import io
import lzma
import os
import warnings

import numpy as np
import onnx
import torch
import torchvision
from onnx import numpy_helper
from torch.utils.flop_counter import FlopCounterMode

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "onnx")
FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}


def tv(name, **kw):
    return getattr(torchvision.models, name)(weights=None, **kw)


def lraspp(**kw):
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large
    return lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, **kw)


class SsdParts(torch.nn.Module):
    """ssdlite320_mobilenet_v3_large's backbone and head, without the transform and the box decoding."""

    def __init__(self):
        super().__init__()
        from torchvision.models.detection import ssdlite320_mobilenet_v3_large
        m = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)
        self.backbone, self.head = m.backbone, m.head

    def forward(self, x):
        out = self.head(list(self.backbone(x).values()))
        return out["bbox_regression"], out["cls_logits"]


class SegOut(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.m = m

    def forward(self, x):
        return self.m(x)["out"]


def timm_model(name):
    import timm
    return timm.create_model(name, pretrained=False)


EXPORTS = {  # name -> (builder, export resolution, other resolutions, widths at 160 px)
    "mobilenet_v2": (lambda **k: tv("mobilenet_v2", **k), 224, [160, 192, 97], [0.75]),
    "mobilenet_v3_large": (lambda **k: tv("mobilenet_v3_large", **k), 224, [160, 192, 97], [0.75]),
    "mobilenet_v3_small": (lambda **k: tv("mobilenet_v3_small", **k), 224, [160, 192, 97], [0.75]),
    "lraspp_mobilenet_v3_large": (lambda **k: SegOut(lraspp(**k)), 224, [320], []),
    "ssdlite320_mobilenet_v3_large": (lambda **k: SsdParts(), 320, [256], []),
    "mobilenetv4_conv_small": (lambda **k: timm_model("mobilenetv4_conv_small"), 224, [160, 256], []),
    "mobilenetv4_hybrid_medium": (lambda **k: timm_model("mobilenetv4_hybrid_medium"), 256, [224], []),
}


def counts(model, r):
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.zeros(1, 3, r, r))
    return fc.get_total_flops() // 2, sum(p.numel() for p in model.parameters())


def export(model, r) -> onnx.ModelProto:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), (torch.zeros(1, 3, r, r),), buffer, dynamo=False, opset_version=17,
                          input_names=["x"])
    return onnx.load_from_string(buffer.getvalue())


def zeroed(m: onnx.ModelProto) -> onnx.ModelProto:
    for i, t in enumerate(m.graph.initializer):
        if t.data_type in FLOATS:
            z = numpy_helper.from_array(np.zeros(tuple(t.dims), dtype=numpy_helper.to_array(t).dtype), t.name)
            m.graph.initializer[i].CopyFrom(z)
    return m


def file_params(m: onnx.ModelProto) -> int:
    sizes = {t.name: int(np.prod(t.dims)) for t in m.graph.initializer if t.data_type in FLOATS}
    total = 0
    for node in m.graph.node:
        for name in node.input:
            total += sizes.get(name, 0)
    return total


def main():
    os.makedirs(HERE, exist_ok=True)
    rows = []
    for name, (build, r0, others, widths) in EXPORTS.items():
        torch.manual_seed(0)
        model = build()
        m = zeroed(export(model, r0))
        with open(os.path.join(HERE, f"{name}.onnx.xz"), "wb") as f:
            f.write(lzma.compress(m.SerializeToString(), preset=9 | lzma.PRESET_EXTREME))
        for r in [r0] + others:
            macs, params = counts(model, r)
            rows.append(dict(model=name, width=1.0, resolution=r, macs=macs, params=params,
                             file_params=file_params(m) if r == r0 else "", exported=int(r == r0)))
        for w in widths:
            macs, params = counts(build(width_mult=w), 160)
            rows.append(dict(model=name, width=w, resolution=160, macs=macs, params=params, file_params="",
                             exported=0))
        print(name, rows[-1])
    with open(os.path.join(HERE, "truth.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    main()
