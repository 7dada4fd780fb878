"""Ground-truth params / MACs for timm's MobileNet family (MobileNetV4 conv + hybrid, V1, V2, V3, MnasNet, EfficientNet-B0).

Usage (torch 2.14.1, torchvision 0.29.1, timm 1.0.31, pandas; CPU, no weights are downloaded):
    python3 -m venv .venv-timm
    .venv-timm/bin/pip install torch==2.14.1 torchvision==0.29.1 timm==1.0.31 pandas
    .venv-timm/bin/python tests/data/generators/timm_truth.py
Writes timm_totals.csv and timm_layers.csv into tests/data (about 5 minutes on 2 CPU threads).

params = sum(p.numel() for p in model.parameters()) of timm.create_model(name, pretrained=False,
num_classes=K) (BatchNorm running stats are buffers, not counted; LayerScale gammas are parameters).
macs = torch.utils.flop_counter.FlopCounterMode total flops // 2 (2 flops per multiply-add; the total
is asserted even) for a forward of zeros(1, 3, R, R) in eval mode under torch.no_grad(). FlopCounterMode
counts only aten.convolution, aten.addmm (the classifier) and aten.bmm/mm (attention); BatchNorm,
activations, pooling, residual adds, softmax, LayerScale and SE gating multiplies count 0.

Fused attention is turned OFF: timm.layers.set_fused_attn(False) before any model is built (it sets
timm.layers.config._USE_FUSED_ATTN = 0, which MultiQueryAttention2d.__init__ reads through
use_fused_attn(), timm/layers/attention2d.py:146; env TIMM_FUSED_ATTN=0, read at import in
timm/layers/config.py:32, works too). Every attention module's fused_attn is asserted False, so the
forward runs the explicit `q @ k.transpose(-1, -2)` and `attn @ v` (attention2d.py:305-312), which
FlopCounterMode counts as aten.bmm. attention_macs = the aten.bmm/mm flops // 2 that FlopCounterMode
attributes to the MultiQueryAttention2d / Attention2d module paths themselves (QK^T and AV; their 1x1
and depthwise convs are counted in macs but not in attention_macs); 0 for conv-only models.

With fused attention ON (timm's default), on CPU F.scaled_dot_product_attention dispatches to
aten._scaled_dot_product_flash_attention_for_cpu, which has no FlopCounterMode formula, so the attention
matmuls count 0. Measured for mobilenetv4_hybrid_medium, 256 px, 1000 classes (re-checked by
fused_on_check below):
    fused ON : params 11,074,648, macs 1,229,240,320 (attention 0)
    fused OFF: params 11,074,648, macs 1,271,183,360 (attention 41,943,040 = the difference)

Grid: the 17 MODELS below (all exist in timm 1.0.31) x resolutions 96, 128, 160, 193, 224, 256, 320,
384 x num_classes 10, 1000. No model refuses any of these resolutions (the script would report and skip
a resolution whose forward raises). Known values asserted (timm docs / the MobileNetV4 issue):
mobilenetv4_conv_small 224/1000: 3,774,024 params, 186,005,568 MACs; mobilenetv4_hybrid_medium
256/1000: 11,074,648 params, 1,271,183,360 MACs of which 41,943,040 in the attention matmuls.
Cross-check: timm's mobilenetv2_050/100/140, mobilenetv3_large_100/small_100, mnasnet_100 and
efficientnet_b0 give exactly the params and MACs of torchvision's mobilenet_v2(width_mult=0.5/1.0/1.4),
mobilenet_v3_large/small, mnasnet1_0 and efficientnet_b0 at every resolution and class count of the grid
(asserted).

Padding: every conv in these 17 models is a plain nn.Conv2d with static symmetric padding
((stride - 1) + dilation * (kernel - 1)) // 2 (timm/layers/padding.py get_padding, pad_type '').
timm's dynamic TF-"same" padding (Conv2dSame, pad_type='same') is used only by the tf_* variants, none
of which is here; the script asserts no Conv2dSame is built, so the padding column is what is applied.

Layer rows (timm_layers.csv, LAYER_CASES): one row per "row module" executed in the forward, in
forward-execution order (pre-hook order): every leaf module except nn.Identity / nn.Dropout (no-ops in
eval), plus every module that owns parameters itself although it has children, i.e. timm's
BatchNormAct2d (BN weight + bias; its activation child -- ReLU, GELU -- gets its own row right after it;
an Identity act, e.g. after pw_proj, has no row). type = the module class name (BatchNormAct2d,
BatchNorm2d, Conv2d, ReLU, GELU, LayerScale2d, AdaptiveAvgPool2d, Flatten, Linear). params = the module's
own parameters (recurse=False). macs = FlopCounterMode flops // 2 attributed to the module path minus
those of its child modules. output_shape = HxWxC for 4-D outputs, C for (1, C). For BatchNorm bias =
affine shift present; for Conv2d / Linear bias = has a bias.
Plus one row per torch function call made outside every row module for which FlopCounterMode counts
flops (the total grows across the call): only the attention matmuls of MultiQueryAttention2d.
module_name "<enclosing module path>/<aten op>.<k>" (e.g. "blocks.2.4.attn/bmm.1", the 2nd bmm in that
module = attn @ v), type = the aten op (aten.bmm), in_channels = the contracted length
(macs / output elements), out_channels = the output's last dim, output_shape = the full output tensor
shape including the batch dim, joined by 'x'. Calls FlopCounterMode counts as 0 (residual adds, SE
mean, q * scale, softmax, reshapes) get no row. Checked: rows' params sum to the model's params, rows'
macs sum to the total, every row module runs exactly once, and for every non-row module its own flops
(path minus children) equal the sum of its functional rows.
"""
import os
import sys
import time
from collections import Counter

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pandas as pd
import timm
import timm.layers
import timm.models._builder
import timm.models._hub
import torch
import torch.hub
import torch.nn as nn
import torchvision
import torchvision.models as tvm
from timm.layers import Attention2d, MultiQueryAttention2d, set_fused_attn, use_fused_attn
from timm.layers.conv2d_same import Conv2dSame, Conv2dSameExport
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # writes into tests/data
MODELS = [
    "mobilenetv4_conv_small", "mobilenetv4_conv_medium", "mobilenetv4_conv_large",
    "mobilenetv4_hybrid_medium", "mobilenetv4_hybrid_large",
    "mobilenetv4_conv_small_035", "mobilenetv4_conv_small_050",
    "mobilenetv4_hybrid_medium_075", "mobilenetv4_hybrid_large_075",
    "mobilenetv1_100", "mobilenetv2_050", "mobilenetv2_100", "mobilenetv2_140",
    "mobilenetv3_large_100", "mobilenetv3_small_100", "mnasnet_100", "efficientnet_b0",
]
RESOLUTIONS = [96, 128, 160, 193, 224, 256, 320, 384]
NUM_CLASSES = [10, 1000]
# (model, resolution, num_classes)
LAYER_CASES = [
    ("mobilenetv4_conv_small", 224, 1000),
    ("mobilenetv4_hybrid_medium", 256, 1000),
    ("mobilenetv4_conv_medium", 256, 1000),
    ("mobilenetv4_hybrid_large", 384, 1000),
    ("mobilenetv4_conv_small_050", 224, 10),
]
# (model, resolution, num_classes): params, macs, attention_macs
KNOWN = {
    ("mobilenetv4_conv_small", 224, 1000): (3774024, 186005568, 0),
    ("mobilenetv4_hybrid_medium", 256, 1000): (11074648, 1271183360, 41943040),
}
FUSED_ON = {("mobilenetv4_hybrid_medium", 256, 1000): (11074648, 1229240320, 0)}
TORCHVISION_TWINS = {
    "mobilenetv2_050": lambda k: tvm.mobilenet_v2(weights=None, width_mult=0.5, num_classes=k),
    "mobilenetv2_100": lambda k: tvm.mobilenet_v2(weights=None, num_classes=k),
    "mobilenetv2_140": lambda k: tvm.mobilenet_v2(weights=None, width_mult=1.4, num_classes=k),
    "mobilenetv3_large_100": lambda k: tvm.mobilenet_v3_large(weights=None, num_classes=k),
    "mobilenetv3_small_100": lambda k: tvm.mobilenet_v3_small(weights=None, num_classes=k),
    "mnasnet_100": lambda k: tvm.mnasnet1_0(weights=None, num_classes=k),
    "efficientnet_b0": lambda k: tvm.efficientnet_b0(weights=None, num_classes=k),
}
KEYS = ["model", "resolution", "num_classes"]
ATTN_TYPES = (MultiQueryAttention2d, Attention2d)
MATMUL_OPS = {"aten.bmm", "aten.mm", "aten.baddbmm"}

TORCH_V = torch.__version__
TIMM_V = timm.__version__
OPS_SEEN = Counter()  # aten op -> number of forwards in which it was counted
SKIPPED = []  # (model, resolution, num_classes, reason)


def _no_download(*a, **k):
    raise RuntimeError("this script must not download weights")


for _mod, _names in [(torch.hub, ["load_state_dict_from_url", "download_url_to_file"]),
                     (timm.models._builder, ["load_state_dict_from_url", "download_cached_file",
                                             "load_state_dict_from_hf", "load_pretrained"]),
                     (timm.models._hub, ["download_cached_file", "load_state_dict_from_hf",
                                         "hf_hub_download"])]:
    for _n in _names:
        if hasattr(_mod, _n):
            setattr(_mod, _n, _no_download)


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def build(name, classes):
    assert not use_fused_attn(), "fused attention must be off"
    torch.manual_seed(0)
    m = timm.create_model(name, pretrained=False, num_classes=classes).eval()
    attn = [x for x in m.modules() if isinstance(x, ATTN_TYPES)]
    assert all(x.fused_attn is False for x in attn), name
    assert not any(isinstance(x, (Conv2dSame, Conv2dSameExport)) for x in m.modules()), name
    return m, len(attn)


def count(model, res):
    x = torch.zeros(1, 3, res, res)
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        out = model(x)
    total = fc.get_total_flops()
    assert total % 2 == 0, total
    return total // 2, fc, out


def attention_macs(model, fc):
    counts = fc.get_flop_counts()
    root = type(model).__name__
    fl = 0
    for mname, mod in model.named_modules():
        if isinstance(mod, ATTN_TYPES):
            ops = {str(k): v for k, v in counts.get(f"{root}.{mname}", {}).items()}
            assert set(ops) <= MATMUL_OPS | {"aten.convolution"}, (mname, ops)
            fl += sum(v for k, v in ops.items() if k in MATMUL_OPS)
    assert fl % 2 == 0
    return fl // 2


def totals():
    rows = []
    t0 = time.time()
    for name in MODELS:
        if not timm.is_model(name):
            print(f"SKIP {name}: not a model in timm {TIMM_V}", flush=True)
            SKIPPED.append((name, "", "", "not in timm"))
            continue
        for classes in NUM_CLASSES:
            model, n_attn = build(name, classes)
            params = n_params(model)
            for res in RESOLUTIONS:
                try:
                    macs, fc, out = count(model, res)
                except Exception as e:  # a resolution the model refuses
                    print(f"SKIP {name} r={res} c={classes}: {type(e).__name__}: {e}", flush=True)
                    SKIPPED.append((name, res, classes, f"{type(e).__name__}: {e}"))
                    continue
                assert tuple(out.shape) == (1, classes)
                for op in fc.get_flop_counts()["Global"]:
                    OPS_SEEN[str(op)] += 1
                am = attention_macs(model, fc)
                assert (am > 0) == (n_attn > 0), (name, am, n_attn)
                rows.append(dict(model=name, resolution=res, num_classes=classes, params=params,
                                 macs=macs, attention_macs=am, torch_version=TORCH_V,
                                 timm_version=TIMM_V))
            print(f"{name} c={classes} params={params} attn_modules={n_attn} t={time.time() - t0:.0f}s",
                  flush=True)
    df = pd.DataFrame(rows).sort_values(KEYS, kind="mergesort").reset_index(drop=True)
    df.to_csv(os.path.join(HERE, "timm_totals.csv"), index=False)
    return df


SKIP_LEAVES = (nn.Identity, nn.Dropout)


def fmt_shape(shape):
    if len(shape) == 4:
        return f"{shape[2]}x{shape[3]}x{shape[1]}"
    return "x".join(map(str, shape[1:]))


def global_counts(fc):
    """{aten op: flops so far}; reads FlopCounterMode.flop_counts (get_flop_counts() copies every module)."""
    return dict(fc.flop_counts.get("Global", {}))


class FunctionalRecorder(TorchFunctionMode):
    """Records torch function calls made outside every row module that FlopCounterMode counts."""

    def __init__(self, stack, row_depth, fc, events):
        super().__init__()
        self.stack, self.row_depth, self.fc, self.events = stack, row_depth, fc, events

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if self.row_depth[0]:
            return func(*args, **(kwargs or {}))
        before = global_counts(self.fc)
        out = func(*args, **(kwargs or {}))
        after = global_counts(self.fc)
        delta = {str(k): v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        if delta:
            assert len(delta) == 1 and isinstance(out, torch.Tensor), (func, delta)
            (op, fl), = delta.items()
            self.events.append(["func", self.stack[-1] if self.stack else "", op, tuple(out.shape), fl])
        return out


def layers(total_by_key):
    rows = []
    for name, res, classes in LAYER_CASES:
        model, _ = build(name, classes)
        root = type(model).__name__
        mods = dict(model.named_modules())
        row_mods = {n for n, m in mods.items()
                    if n and not isinstance(m, SKIP_LEAVES)
                    and (not list(m.children()) or list(m.parameters(recurse=False)))}
        stack, row_depth, events, hooks = [], [0], [], []
        open_rows = {}
        for mname, mod in mods.items():
            def pre(m, i, mname=mname):
                stack.append(mname)
                if mname in row_mods:
                    row_depth[0] += 1
                    ev = ["module", mname, None, None, None]
                    events.append(ev)
                    open_rows[mname] = ev

            def post(m, i, o, mname=mname):
                assert stack.pop() == mname
                if mname in row_mods:
                    row_depth[0] -= 1
                    open_rows.pop(mname)[3] = tuple(o.shape)
            hooks += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
        x = torch.zeros(1, 3, res, res)
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            with FunctionalRecorder(stack, row_depth, fc, events):
                model(x)
        for h in hooks:
            h.remove()
        total = fc.get_total_flops()
        assert total % 2 == 0 and total // 2 == total_by_key[(name, res, classes)]
        called = [e[1] for e in events if e[0] == "module"]
        assert sorted(called) == sorted(row_mods), ("every row module runs exactly once",
                                                    set(row_mods) ^ set(called))
        counts = fc.get_flop_counts()

        def path_flops(mname):
            return sum(counts.get(f"{root}.{mname}" if mname else root, {}).values())

        def own_flops(mname):
            kids = [f"{mname}.{c}" if mname else c for c, _ in mods[mname].named_children()]
            return path_flops(mname) - sum(path_flops(k) for k in kids)

        func_by_enc = Counter()
        for e in events:
            if e[0] == "func":
                func_by_enc[e[1]] += e[4]
        for mname in mods:
            if mname not in row_mods:
                assert own_flops(mname) == func_by_enc.get(mname, 0), (mname, own_flops(mname))
        layer_sum, seen = 0, Counter()
        base = dict(model=name, resolution=res, num_classes=classes)
        for kind, mname, op, shp, fl in events:
            if kind == "func":
                enc = mname or "(root)"
                short = op.split(".")[-1]
                k = seen[(enc, short)]
                seen[(enc, short)] += 1
                numel = 1
                for d in shp:
                    numel *= d
                assert fl % 2 == 0 and (fl // 2) % numel == 0
                layer_sum += fl // 2
                rows.append(dict(base, module_name=f"{enc}/{short}.{k}", type=op,
                                 in_channels=fl // 2 // numel, out_channels=shp[-1], kernel="",
                                 stride="", dilation="", padding="", groups="", bias="", params=0,
                                 macs=fl // 2, output_shape="x".join(map(str, shp))))
                continue
            mod = mods[mname]
            fl = own_flops(mname)
            assert fl % 2 == 0
            layer_sum += fl // 2
            r = dict(base, module_name=mname, type=type(mod).__name__, in_channels=shp[1],
                     out_channels=shp[1], kernel="", stride="", dilation="", padding="", groups="",
                     bias="", params=sum(q.numel() for q in mod.parameters(recurse=False)),
                     macs=fl // 2, output_shape=fmt_shape(shp))
            if isinstance(mod, nn.Conv2d):
                assert type(mod) is nn.Conv2d, type(mod)  # static padding only
                r.update(in_channels=mod.in_channels, out_channels=mod.out_channels,
                         kernel="x".join(map(str, mod.kernel_size)),
                         stride="x".join(map(str, mod.stride)),
                         dilation="x".join(map(str, mod.dilation)),
                         padding="x".join(map(str, mod.padding)), groups=mod.groups,
                         bias=mod.bias is not None)
            elif isinstance(mod, nn.BatchNorm2d):  # includes timm's BatchNormAct2d
                r.update(in_channels=mod.num_features, out_channels=mod.num_features,
                         bias=mod.bias is not None)
            elif isinstance(mod, nn.Linear):
                r.update(in_channels=mod.in_features, out_channels=mod.out_features,
                         bias=mod.bias is not None)
            else:
                assert fl == 0, (mname, fl)
            rows.append(r)
        assert layer_sum * 2 == total, (name, layer_sum, total)
        assert sum(r["params"] for r in rows if r["model"] == name and r["resolution"] == res
                   and r["num_classes"] == classes) == n_params(model)
        n_func = sum(1 for e in events if e[0] == "func")
        print(f"layers {name} r={res} c={classes}: {len(called)} row modules, {n_func} counted "
              f"functional ops, total macs {total // 2} == sum of rows", flush=True)
    df = pd.DataFrame(rows)
    df["order"] = range(len(df))
    df = df.sort_values(KEYS + ["order"], kind="mergesort").drop(columns="order")
    df.to_csv(os.path.join(HERE, "timm_layers.csv"), index=False)
    return df


class OpLog(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


def fused_on_check():
    """The docstring's fused-attention-ON numbers (timm's default), measured the same way."""
    ok = True
    set_fused_attn(True)
    try:
        for (name, res, classes), (params, macs, am) in FUSED_ON.items():
            torch.manual_seed(0)
            m = timm.create_model(name, pretrained=False, num_classes=classes).eval()
            assert all(x.fused_attn for x in m.modules() if isinstance(x, ATTN_TYPES))
            with torch.no_grad(), FlopCounterMode(display=False) as fc, OpLog() as log:
                m(torch.zeros(1, 3, res, res))
            got = (n_params(m), fc.get_total_flops() // 2, attention_macs(m, fc))
            sdpa = {k: v for k, v in log.ops.items() if "scaled_dot_product" in k}
            good = got == (params, macs, am)
            ok &= good
            print(f"{'PASS' if good else 'FAIL'} fused ON {name} r={res} c={classes}: params, macs, "
                  f"attention = {got} (docstring {(params, macs, am)}); SDPA ops run: {sdpa}", flush=True)
    finally:
        set_fused_attn(False)
    assert not use_fused_attn()
    return ok


def known_checks(tf):
    ok = True
    for (name, res, classes), want in KNOWN.items():
        row = tf[(tf.model == name) & (tf.resolution == res) & (tf.num_classes == classes)]
        assert len(row) == 1
        got = (int(row.params.iloc[0]), int(row.macs.iloc[0]), int(row.attention_macs.iloc[0]))
        good = got == want
        ok &= good
        print(f"{'PASS' if good else 'FAIL'} {name} r={res} c={classes}: params, macs, attention = "
              f"{got} (known {want})", flush=True)
    return ok


def torchvision_crosscheck(tf):
    """timm's V2/V3/MnasNet/EfficientNet-B0 == torchvision's twins, params and MACs, whole grid."""
    ok = True
    for name, make in TORCHVISION_TWINS.items():
        diffs = []
        for classes in NUM_CLASSES:
            torch.manual_seed(0)
            tv = make(classes).eval()
            p = n_params(tv)
            for res in RESOLUTIONS:
                row = tf[(tf.model == name) & (tf.resolution == res) & (tf.num_classes == classes)]
                if len(row) != 1:
                    continue
                with torch.no_grad(), FlopCounterMode(display=False) as fc:
                    tv(torch.zeros(1, 3, res, res))
                got = (int(row.params.iloc[0]), int(row.macs.iloc[0]))
                if got != (p, fc.get_total_flops() // 2):
                    diffs.append((res, classes, got, (p, fc.get_total_flops() // 2)))
        ok &= not diffs
        print(f"{'PASS' if not diffs else 'FAIL'} timm {name} == torchvision twin on the grid"
              + (f": {diffs}" if diffs else ""), flush=True)
    return ok


if __name__ == "__main__":
    torch.set_num_threads(2)
    set_fused_attn(False)
    assert not use_fused_attn()
    print(f"torch {TORCH_V} torchvision {torchvision.__version__} timm {TIMM_V} "
          f"python {sys.version.split()[0]}", flush=True)
    t_all = time.time()
    t = time.time()
    tf = totals()
    print(f"totals: {len(tf)} rows, {time.time() - t:.0f}s", flush=True)
    t = time.time()
    lf = layers({tuple(r[k] for k in KEYS): r["macs"] for r in tf.to_dict("records")})
    print(f"layers: {len(lf)} rows, {time.time() - t:.0f}s", flush=True)
    print("aten ops counted by FlopCounterMode (op: #forwards):", dict(OPS_SEEN))
    print("skipped:", SKIPPED or "none")
    ok_known = known_checks(tf)
    ok_fused = fused_on_check()
    ok_tv = torchvision_crosscheck(tf)
    print(f"all done in {time.time() - t_all:.0f}s", flush=True)
    assert ok_known, "a known timm figure is not reproduced"
    assert ok_fused, "the fused-attention-ON figures in the docstring are not reproduced"
    assert ok_tv, "a timm model differs from its torchvision twin"
