"""Ground-truth params / MACs for torchvision's MobileNetV3-Large heads: LR-ASPP, DeepLabV3, SSDLite.

Usage (torch 2.14.1, torchvision 0.29.1, pandas; CPU, no weights are downloaded):
    python tests/data/generators/torchvision_heads_truth.py
Writes torchvision_heads_totals.csv and torchvision_heads_layers.csv into tests/data.

params = sum(p.numel() for p in model.parameters()) of the whole model, built with weights=None and
weights_backbone=None (for the full-tail SSDLite see build_ssdlite).
macs = torch.utils.flop_counter.FlopCounterMode total flops // 2 (2 flops per multiply-add) for a
forward of zeros(1, 3, R, R) in eval mode under torch.no_grad():
  * lraspp_mobilenet_v3_large, deeplabv3_mobilenet_v3_large: the whole model forward (backbone, head,
    aux head when aux_loss=True, final bilinear upsampling -- which FlopCounterMode counts as 0);
  * ssdlite320_mobilenet_v3_large: backbone + head only,
    feats = list(model.backbone(x).values()); model.head(feats)
    (no GeneralizedRCNNTransform -- which in the real forward resizes every image to 320x320 --,
    no anchors, no box decoding / NMS). The transform and anchor generator have no parameters.

Construction details this script relies on (torchvision 0.29.1):
  * the segmentation builders call mobilenet_v3_large(weights=weights_backbone, dilated=True) and do
    not forward **kwargs, so width_mult is silently ignored: only width 1.0 exists (checked below);
  * ssdlite320_mobilenet_v3_large sets reduced_tail = (weights_backbone is None) and passes **kwargs
    (here width_mult) to mobilenet_v3_large (and, unused, to SSD/GeneralizedRCNNTransform). The
    SSDLite extra blocks are NOT width-scaled (512, 256, 256, 128 at every width_mult). To get the
    full tail without downloading the ImageNet backbone we call the public builder with
    weights_backbone=IMAGENET1K_V1 while ssdlite.mobilenet_v3_large is patched to build with
    weights=None; every SSDLite build is also cross-checked against a rebuild from torchvision's
    internals (mobilenet_v3_large -> _mobilenet_extractor -> SSDLiteHead -> SSD). Any attempt to
    fetch weights raises.

Layer rows: every leaf module executed in the forward (Conv2d, BatchNorm2d, activations,
AdaptiveAvgPool2d; Dropout, a no-op in eval, is left out), with its own params and the FlopCounterMode
flops // 2 attributed to it (get_flop_counts() keyed by module path); plus rows for the functional ops
run outside leaf modules (type interpolate / cat / mul / add; module_name
"<enclosing module>/<op>.<k>", "(root)" for the top-level forward), which FlopCounterMode counts as 0.
Rows are in forward-execution order within each configuration. output_shape is HxWxC (NxC for the
SSD head's (1, anchors, C) concatenations).
"""
import os
import sys
import time
from collections import Counter
from functools import partial

import pandas as pd
import torch
import torch.nn as nn
import torchvision
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models import MobileNet_V3_Large_Weights
from torchvision.models._api import WeightsEnum
from torchvision.models.detection import ssdlite
from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large, lraspp_mobilenet_v3_large

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # writes into tests/data
LRASPP, DEEPLAB, SSDLITE = ("lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large",
                            "ssdlite320_mobilenet_v3_large")
GRID = {
    LRASPP: dict(aux=[0], reduced_tail=[0], width_mult=[1.0], num_classes=[21, 10],
                 resolution=[224, 320, 321, 512, 520]),
    DEEPLAB: dict(aux=[0, 1], reduced_tail=[0], width_mult=[1.0], num_classes=[21, 10],
                  resolution=[224, 321, 513, 520]),
    SSDLITE: dict(aux=[0], reduced_tail=[1, 0], width_mult=[0.5, 0.75, 1.0, 1.25], num_classes=[91, 21],
                  resolution=[320, 300, 224, 321]),
}
# (model, aux, reduced_tail, width_mult, num_classes, resolution)
LAYER_CASES = [
    (LRASPP, 0, 0, 1.0, 21, 520),
    (DEEPLAB, 1, 0, 1.0, 21, 520),
    (SSDLITE, 0, 1, 1.0, 91, 320),
    (SSDLITE, 0, 0, 0.75, 21, 320),
]
# torchvision's published figures (weights meta num_params, _ops GFLOPS = GMACs), exact values
PUBLISHED = [
    ((SSDLITE, 0, 1, 1.0, 91, 320), 3440060, 583171904),
    ((LRASPP, 0, 0, 1.0, 21, 520), 3221538, 2086219688),
    ((DEEPLAB, 1, 0, 1.0, 21, 520), 11029328, 10452447938),
]
KEYS = ["model", "aux", "reduced_tail", "width_mult", "resolution", "num_classes"]

TORCH_V = torch.__version__
TV_V = torchvision.__version__
OPS_SEEN = Counter()  # aten op -> number of runs in which it was counted


def _no_download(*a, **k):
    raise RuntimeError("this script must not download weights")


torch.hub.load_state_dict_from_url = _no_download
WeightsEnum.get_state_dict = _no_download


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def build_ssdlite(reduced_tail, width, classes):
    """The public builder; for the full tail the backbone is built with weights=None."""
    if reduced_tail:
        return ssdlite.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None,
                                                     num_classes=classes, width_mult=width)
    real = ssdlite.mobilenet_v3_large

    def backbone_without_weights(*, weights, **kw):
        assert weights is MobileNet_V3_Large_Weights.IMAGENET1K_V1 and kw["reduced_tail"] is False
        return real(weights=None, **kw)

    ssdlite.mobilenet_v3_large = backbone_without_weights
    try:
        return ssdlite.ssdlite320_mobilenet_v3_large(
            weights=None, weights_backbone=MobileNet_V3_Large_Weights.IMAGENET1K_V1,
            num_classes=classes, width_mult=width)
    finally:
        ssdlite.mobilenet_v3_large = real


def build_ssdlite_internals(reduced_tail, width, classes):
    """The same model from torchvision's internals, as the builder assembles it."""
    from torchvision.models.detection import _utils as det_utils
    from torchvision.models.detection.anchor_utils import DefaultBoxGenerator
    from torchvision.models.detection.ssd import SSD
    norm_layer = partial(nn.BatchNorm2d, eps=0.001, momentum=0.03)
    backbone = torchvision.models.mobilenet_v3_large(weights=None, norm_layer=norm_layer,
                                                     reduced_tail=bool(reduced_tail), width_mult=width)
    backbone = ssdlite._mobilenet_extractor(backbone, 6, norm_layer)
    size = (320, 320)
    anchor_generator = DefaultBoxGenerator([[2, 3] for _ in range(6)], min_ratio=0.2, max_ratio=0.95)
    out_channels = det_utils.retrieve_out_channels(backbone, size)
    num_anchors = anchor_generator.num_anchors_per_location()
    head = ssdlite.SSDLiteHead(out_channels, num_anchors, classes, norm_layer)
    return SSD(backbone, anchor_generator, size, classes, head=head, image_mean=[0.5] * 3,
               image_std=[0.5] * 3)


def build(model, aux, reduced_tail, width, classes):
    torch.manual_seed(0)
    if model == LRASPP:
        assert not aux and not reduced_tail and width == 1.0
        m = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=classes)
    elif model == DEEPLAB:
        assert not reduced_tail and width == 1.0
        m = deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=classes,
                                         aux_loss=bool(aux))
    else:
        assert not aux
        m = build_ssdlite(reduced_tail, width, classes)
        ref = build_ssdlite_internals(reduced_tail, width, classes)
        assert [(n, p.shape) for n, p in m.named_parameters()] == \
               [(n, p.shape) for n, p in ref.named_parameters()], "builder != internals"
        assert [(n, type(x)) for n, x in m.named_modules()] == \
               [(n, type(x)) for n, x in ref.named_modules()], "builder != internals"
        assert n_params(m.transform) == 0 and n_params(m.anchor_generator) == 0
    return m.eval()


def forward(model, name, x):
    if name == SSDLITE:
        feats = list(model.backbone(x).values())
        return model.head(feats)
    return model(x)


def count(model, name, res):
    x = torch.zeros(1, 3, res, res)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        out = forward(model, name, x)
    total = fc.get_total_flops()
    assert total % 2 == 0, total
    for op in fc.get_flop_counts()["Global"]:
        OPS_SEEN[str(op)] += 1
    return total // 2, fc, out


def check_output(name, aux, classes, res, out):
    if name == SSDLITE:
        n = out["cls_logits"].shape[1]
        assert tuple(out["cls_logits"].shape) == (1, n, classes)
        assert tuple(out["bbox_regression"].shape) == (1, n, 4)
        return n
    assert tuple(out["out"].shape) == (1, classes, res, res)
    assert ("aux" in out) == bool(aux)
    if aux:
        assert tuple(out["aux"].shape) == (1, classes, res, res)
    return None


def configs():
    for name, g in GRID.items():
        for aux in g["aux"]:
            for rt in g["reduced_tail"]:
                for width in g["width_mult"]:
                    for classes in g["num_classes"]:
                        yield name, aux, rt, width, classes, g["resolution"]


def totals():
    rows = []
    t0 = time.time()
    for name, aux, rt, width, classes, resolutions in configs():
        model = build(name, aux, rt, width, classes)
        params = n_params(model)
        anchors = []
        for res in resolutions:
            macs, _, out = count(model, name, res)
            anchors.append(check_output(name, aux, classes, res, out))
            rows.append(dict(model=name, aux=aux, reduced_tail=rt, width_mult=width, resolution=res,
                             num_classes=classes, params=params, macs=macs,
                             torch_version=TORCH_V, torchvision_version=TV_V))
        extra = f" anchors={anchors}" if name == SSDLITE else ""
        print(f"{name} aux={aux} rt={rt} w={width} c={classes} params={params}{extra} "
              f"t={time.time() - t0:.0f}s", flush=True)
    df = pd.DataFrame(rows).sort_values(KEYS, kind="mergesort").reset_index(drop=True)
    df.to_csv(os.path.join(HERE, "torchvision_heads_totals.csv"), index=False)
    return df


FUNC_OPS = {"interpolate": "interpolate", "cat": "cat", "__mul__": "mul", "__rmul__": "mul",
            "mul": "mul", "__add__": "add", "__radd__": "add", "__iadd__": "add", "add": "add",
            "add_": "add"}
SKIP_LEAVES = (nn.Dropout,)


def fmt_shape(shape):
    if len(shape) == 4:
        return f"{shape[2]}x{shape[3]}x{shape[1]}"
    if len(shape) == 3:
        return f"{shape[1]}x{shape[2]}"
    return "x".join(map(str, shape[1:]))


class FunctionalRecorder(TorchFunctionMode):
    """Records interpolate / cat / mul / add called outside leaf modules."""

    def __init__(self, stack, leaves, events):
        super().__init__()
        self.stack, self.leaves, self.events = stack, leaves, events

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        op = FUNC_OPS.get(getattr(func, "__name__", ""))
        if op and not (self.stack and self.stack[-1] in self.leaves) and isinstance(out, torch.Tensor):
            self.events.append(("func", self.stack[-1] if self.stack else "", op, tuple(out.shape)))
        return out


def flop_key(name, mname):
    """FlopCounterMode's module path for the module called `mname` in the full model."""
    if name == SSDLITE:  # backbone and head are called as two roots
        root, rest = mname.split(".", 1)
        return {"backbone": "SSDLiteFeatureExtractorMobileNet", "head": "SSDLiteHead"}[root] + "." + rest
    return {LRASPP: "LRASPP", DEEPLAB: "DeepLabV3"}[name] + "." + mname


def layers(total_by_key):
    rows = []
    for name, aux, rt, width, classes, res in LAYER_CASES:
        model = build(name, aux, rt, width, classes)
        mods = dict(model.named_modules())
        leaves = {n for n, m in mods.items()
                  if n and not list(m.children()) and not isinstance(m, SKIP_LEAVES)
                  and not (name == SSDLITE and n in ("transform", "anchor_generator"))}
        stack, events, hooks = [], [], []
        for mname, mod in mods.items():
            def pre(m, i, mname=mname):
                stack.append(mname)

            def post(m, i, o, mname=mname):
                assert stack.pop() == mname
                if mname in leaves:
                    events.append(("module", mname, None, tuple(o.shape)))
            hooks += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
        with FunctionalRecorder(stack, leaves, events):
            total, fc, _ = count(model, name, res)
        for h in hooks:
            h.remove()
        assert total == total_by_key[(name, aux, rt, width, res, classes)]
        called = [e[1] for e in events if e[0] == "module"]
        assert sorted(called) == sorted(leaves), ("every leaf module is called exactly once",
                                                  set(leaves) ^ set(called))
        counts = fc.get_flop_counts()
        layer_sum = 0
        seen = Counter()
        base = dict(model=name, aux=aux, reduced_tail=rt, width_mult=width, resolution=res,
                    num_classes=classes)
        for kind, mname, op, shp in events:
            if kind == "func":
                enc = mname or "(root)"
                k = seen[(enc, op)]
                seen[(enc, op)] += 1
                ch = shp[-1] if len(shp) == 3 else shp[1]  # (1, anchors, C) or NCHW
                rows.append(dict(base, module_name=f"{enc}/{op}.{k}", type=op, in_channels=ch,
                                 out_channels=ch, kernel="", stride="", dilation="", padding="",
                                 groups="", bias="", params=0, macs=0, output_shape=fmt_shape(shp)))
                continue
            mod = mods[mname]
            fl = sum(counts.get(flop_key(name, mname), {}).values())
            assert fl % 2 == 0
            layer_sum += fl // 2
            r = dict(base, module_name=mname, type=type(mod).__name__, in_channels=shp[1],
                     out_channels=shp[1], kernel="", stride="", dilation="", padding="", groups="",
                     bias="", params=sum(q.numel() for q in mod.parameters(recurse=False)),
                     macs=fl // 2, output_shape=fmt_shape(shp))
            if isinstance(mod, nn.Conv2d):
                r.update(in_channels=mod.in_channels, out_channels=mod.out_channels,
                         kernel="x".join(map(str, mod.kernel_size)),
                         stride="x".join(map(str, mod.stride)),
                         dilation="x".join(map(str, mod.dilation)),
                         padding="x".join(map(str, mod.padding)), groups=mod.groups,
                         bias=mod.bias is not None)
            elif isinstance(mod, nn.BatchNorm2d):
                r.update(in_channels=mod.num_features, out_channels=mod.num_features,
                         bias=mod.bias is not None)  # affine shift (beta)
            elif isinstance(mod, nn.Linear):
                r.update(in_channels=mod.in_features, out_channels=mod.out_features,
                         bias=mod.bias is not None)
            else:
                assert not list(mod.parameters(recurse=False)), mname
                if fl:
                    print(f"  note: {mname} ({type(mod).__name__}) counted {fl // 2} MACs")
            rows.append(r)
        assert layer_sum == total, (name, layer_sum, total)
        assert sum(r["params"] for r in rows if r["model"] == name and r["aux"] == aux
                   and r["reduced_tail"] == rt and r["width_mult"] == width) == n_params(model)
        print(f"layers {name} aux={aux} rt={rt} w={width} c={classes} r={res}: "
              f"{len(called)} leaf modules, {len(events) - len(called)} functional ops, "
              f"total macs {total} == sum of layers", flush=True)
    df = pd.DataFrame(rows)
    df["order"] = range(len(df))
    df = df.sort_values(KEYS + ["order"], kind="mergesort").drop(columns="order")
    df.to_csv(os.path.join(HERE, "torchvision_heads_layers.csv"), index=False)
    return df


def width_kwarg_check():
    """The segmentation builders accept **kwargs but never pass width_mult to the backbone."""
    for fn in (lraspp_mobilenet_v3_large, deeplabv3_mobilenet_v3_large):
        a = n_params(fn(weights=None, weights_backbone=None))
        try:
            b = n_params(fn(weights=None, weights_backbone=None, width_mult=0.5))
            verdict = "ignored (same params)" if a == b else f"CHANGES params {a} -> {b}"
        except TypeError as e:
            verdict = f"rejected ({e})"
        print(f"{fn.__name__}(width_mult=0.5): {verdict}", flush=True)


def published_checks(tf):
    ok = True
    for (name, aux, rt, width, classes, res), params, macs in PUBLISHED:
        row = tf[(tf.model == name) & (tf.aux == aux) & (tf.reduced_tail == rt)
                 & (tf.width_mult == width) & (tf.num_classes == classes) & (tf.resolution == res)]
        assert len(row) == 1
        got_p, got_m = int(row.params.iloc[0]), int(row.macs.iloc[0])
        good = (got_p, got_m) == (params, macs)
        ok &= good
        print(f"{'PASS' if good else 'FAIL'} {name} aux={aux} rt={rt} w={width} c={classes} r={res}: "
              f"params {got_p} (published {params}), macs {got_m} (published {macs})", flush=True)
    return ok


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(f"torch {TORCH_V} torchvision {TV_V} python {sys.version.split()[0]}", flush=True)
    width_kwarg_check()
    t = time.time()
    tf = totals()
    print(f"totals: {len(tf)} rows, {time.time() - t:.0f}s", flush=True)
    t = time.time()
    lf = layers({tuple(r[k] for k in KEYS): r["macs"] for r in tf.to_dict("records")})
    print(f"layers: {len(lf)} rows, {time.time() - t:.0f}s", flush=True)
    print("aten ops counted by FlopCounterMode (op: #runs):", dict(OPS_SEEN))
    assert published_checks(tf), "a published torchvision figure is not reproduced"
