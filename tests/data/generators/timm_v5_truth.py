"""Ground-truth params / MACs for timm's MobileNetV5 (Gemma 3n's vision encoder and timm's scale-down).

Usage (torch 2.14.1, torchvision 0.29.1, timm 1.0.31; CPU, no weights are downloaded):
    python3 -m venv .venv-timm
    .venv-timm/bin/pip install torch==2.14.1 torchvision==0.29.1 timm==1.0.31 pandas   # pandas: timm_truth, whose download guard and helpers this script imports
    .venv-timm/bin/python tests/data/generators/timm_v5_truth.py              # ~3 minutes on 2 threads
    .venv-timm/bin/python tests/data/generators/timm_v5_truth.py --large      # + 1024x1024 rows
    .venv-timm/bin/python tests/data/generators/timm_v5_truth.py --real       # every row measured by a
                                                                              # full CPU forward (slow)
    .venv-counters/bin/python tests/data/generators/timm_v5_truth.py --counters   # prints only, see below
Writes timm_v5_totals.csv and timm_v5_layers.csv into tests/data (--counters writes nothing).

Models (all three exist in timm 1.0.31, timm/models/mobilenetv5.py:937-960):
  * mobilenetv5_300m_enc: MobileNetV5Encoder, the encoder Gemma 3n uses; pad_type='same' (Conv2dSame on
    every stride-2 conv); output (1, 2048, 16, 16); takes no num_classes (filtered, mobilenetv5.py:691-698),
    recorded as num_classes 0.
  * mobilenetv5_300m: MobileNetV5, the same trunk and MSFA with symmetric padding, then global avg pool ->
    flatten -> classifier; its default cfg (mobilenetv5_300m.gemma3n) has num_classes=0, so by default it
    returns the pooled 2048 vector. Rows for num_classes 0, 10, 1000.
  * mobilenetv5_base: MobileNetV5, timm's own scale-down (512/1024 wide stages, MQA without key/value
    downsampling), MSFA (1536 -> 3072 -> 2048), pool, Linear(2048, K). Rows for num_classes 10, 1000.
Sizes (height x width of the input): 200, 224, 256, 257, 320, 384, 512, 480x640, 640x480, 768
(+ 1024 with --large); channel_multiplier 0.5 / 0.75 / 1.25 for mobilenetv5_300m_enc and
mobilenetv5_base (1000 classes) at 256 (timm.create_model(..., channel_multiplier=m) reaches
_gen_mobilenet_v5's argument, mobilenetv5.py:726-733).

Columns of timm_v5_totals.csv:
  params        = sum(p.numel() for p in model.parameters()); the models have no buffers (asserted).
  macs          = FlopCounterMode total // 2 for a forward of zeros(1, 3, H, W) in eval mode under no_grad,
                  timm's fused attention OFF (timm.layers.set_fused_attn(False) before building: it sets
                  timm.layers.config._USE_FUSED_ATTN = 0, read by MultiQueryAttention2d.__init__ through
                  use_fused_attn(), timm/layers/attention2d.py:146; env TIMM_FUSED_ATTN=0 works too,
                  timm/layers/config.py:32-35). Every MultiQueryAttention2d's fused_attn is asserted False,
                  so attention runs `q @ k.transpose(-1, -2)` and `attn @ v` (attention2d.py:305-312),
                  which FlopCounterMode counts as aten.bmm.
  macs_convolution, macs_bmm, macs_addmm, macs_mm: that total split by aten op (no other op is counted:
                  asserted). macs_addmm is the classifier.
  attention_macs = the aten.bmm/mm MACs inside the MultiQueryAttention2d modules (QK^T and AV); asserted
                  equal to sum over MQA blocks of heads * N * M * (key_dim + value_dim), N = H*W of the
                  block input, M = ceil(H/kv_stride) * ceil(W/kv_stride).
  macs_stem, macs_stage0..3, macs_msfa, macs_head: the fused-off total by part (head = classifier).
  macs_fused    = FlopCounterMode total // 2 with timm's default fused attention ON (on CPU
                  F.scaled_dot_product_attention; what it dispatches to is in sdpa_op_fused).
  attention_macs_fused = what FlopCounterMode attributes to the MQA modules' non-convolution ops with
                  fused attention ON. Measured with torch 2.14.1 CPU: 0 at every size, because SDPA runs
                  aten._scaled_dot_product_flash_attention_for_cpu, which torch 2.14.1's flop_registry
                  (torch/utils/flop_counter.py:822-844) lacks (pytorch/pytorch#195460). So macs_fused =
                  macs - attention_macs (asserted per row, as a consequence, not an assumption).
  msfa_grid_s16 / msfa_grid_s32: the HxW of the two MSFA inputs (stride 16 and 32 stage outputs);
  msfa_resize   = what the MSFA does to reach 16x16 (mobilenetv5.py:115-129): none, avg_pool2d kxk, or
                  bilinear (align_corners=False), read from the aten ops that ran.
  output_shape  = the model output's shape without the batch dim, joined by 'x'.

How the numbers are measured (fast path, the default): every row is a forward on the meta device
(FlopCounterMode counts from shapes). With fused attention ON that alone would be wrong: on meta, SDPA
takes the math path and its bmm ARE counted. So in fused-ON forwards each F.scaled_dot_product_attention
call is intercepted (SdpaOnCpu, a TorchFunctionMode) and executed for real on CPU zeros of the same
shapes, under the same FlopCounterMode: the CPU dispatcher picks the kernel and the counter sees that
kernel. Both paths are asserted equal to full real CPU forwards (REAL_CHECK_OFF / REAL_CHECK_ON:
mobilenetv5_300m_enc at 256 and 257 and mobilenetv5_base at 480x640, fused off; mobilenetv5_300m_enc at
256 and mobilenetv5_base at 320, fused on). --real measures every row with full CPU forwards instead.

Padding: mobilenetv5_300m_enc uses pad_type='same' (mobilenetv5.py:940): stride-1 convs get static
symmetric padding (plain nn.Conv2d), stride-2 convs are Conv2dSame (dynamic TF 'SAME',
timm/layers/padding.py:67-87, conv2d_same.py:128-140). Both paddings give ceil(H/2) outputs for the odd
kernels used here, so mobilenetv5_300m_enc and mobilenetv5_300m (num_classes 0) have equal params and
MACs at every size of the grid, odd ones included (asserted).

Layer rows (timm_v5_layers.csv, LAYER_CASES, fused attention OFF, meta device): one row per "row module"
in forward-execution order: every leaf module except nn.Identity / nn.Dropout, plus every module that
owns parameters although it has children (RmsNormAct2d: the RMSNorm weight; its GELU child gets its own
row right after it, an Identity act has none). type = class name (Conv2d, Conv2dSame, RmsNormAct2d,
RmsNorm2d, GELU, LayerScale2d, AdaptiveAvgPool2d, Flatten, Linear). params = own parameters
(recurse=False); macs = FlopCounterMode flops // 2 of the module path minus its children. For Conv2dSame
padding = "same:l,r,t,b" (the pad F.pad applies for that input). For norms in/out = C, bias = False (a
weight only). Plus one row per torch function call made outside every row module that FlopCounterMode
counts (the attention matmuls: "<module path>/bmm.<k>", type aten.bmm, in_channels = contracted length,
output_shape = the full tensor shape incl. batch) or that is one of the MSFA's resizes / concat
(F.interpolate with its mode, torch.cat, F.avg_pool2d; 0 MACs). Residual adds, q*scale, softmax and
reshapes get no row. Checked: rows' params sum to the model's params, rows' macs sum to the total, every
row module runs once, and every non-row module's own flops equal the sum of its function rows.

--counters (needs ptflops 0.7.5, fvcore 0.1.5.post20221221, thop 0.1.1.post2209072238 importable next
to torch/timm) prints, for mobilenetv5_300m_enc 256 and mobilenetv5_base 256/1000 (fused off), what
ptflops (pytorch and aten backends), fvcore and thop report, and their rules on V5's parts (RmsNorm2d,
RmsNormAct2d+GELU(tanh), GELU, LayerScale2d, F.interpolate nearest/bilinear, F.avg_pool2d,
AdaptiveAvgPool2d, Conv2dSame, timm's Linear) on small inputs. Findings are in timm_v5_structure.md.
"""
import argparse
import contextlib
import csv
import io
import math
import os
import sys
import time
from collections import Counter

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import timm
import timm.layers
import timm.models._builder
import timm.models._hub
import torch
import torch.hub
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import MultiQueryAttention2d, set_fused_attn, use_fused_attn
from timm.layers.conv2d_same import Conv2dSame
from timm.layers.padding import get_same_padding
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map
from torch.utils.flop_counter import FlopCounterMode

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # writes into tests/data
aten = torch.ops.aten

MODELS = [  # (model, class counts)
    ("mobilenetv5_300m_enc", [0]),
    ("mobilenetv5_300m", [0, 10, 1000]),
    ("mobilenetv5_base", [10, 1000]),
]
SIZES = [(200, 200), (224, 224), (256, 256), (257, 257), (320, 320), (384, 384), (512, 512),
         (480, 640), (640, 480), (768, 768)]
LARGE_SIZES = [(1024, 1024)]
WIDTH_CASES = [("mobilenetv5_300m_enc", 0, m, (256, 256)) for m in (0.5, 0.75, 1.25)] + \
              [("mobilenetv5_base", 1000, m, (256, 256)) for m in (0.5, 0.75, 1.25)]
# full real CPU forwards the fast path is checked against: (model, num_classes, size), fused off / on
REAL_CHECK_OFF = [("mobilenetv5_300m_enc", 0, (256, 256)), ("mobilenetv5_300m_enc", 0, (257, 257)),
                  ("mobilenetv5_base", 1000, (480, 640))]
REAL_CHECK_ON = [("mobilenetv5_300m_enc", 0, (256, 256)), ("mobilenetv5_base", 10, (320, 320))]
LAYER_CASES = [  # (model, resolution, num_classes)
    ("mobilenetv5_300m_enc", 256, 0),
    ("mobilenetv5_base", 256, 1000),
    ("mobilenetv5_base", 320, 1000),   # MSFA: bilinear 20x20 -> 16x16
    ("mobilenetv5_base", 512, 10),     # MSFA: avg_pool2d 2x2
]
# (model, height, width, num_classes, channel_multiplier): params, macs (fused off)
KNOWN = {
    ("mobilenetv5_300m_enc", 256, 256, 0, 1.0): (294126912, 43684544512),
    ("mobilenetv5_base", 256, 256, 1000, 1.0): (82647976, None),
}
MATMUL_OPS = {"aten.bmm", "aten.mm", "aten.matmul", "aten.baddbmm"}
COUNTED_OPS = {"aten.convolution", "aten.bmm", "aten.addmm", "aten.mm"}
TOTAL_COLS = ["model", "height", "width", "num_classes", "channel_multiplier", "params", "macs",
              "macs_convolution", "macs_bmm", "macs_addmm", "macs_mm", "attention_macs",
              "macs_stem", "macs_stage0", "macs_stage1", "macs_stage2", "macs_stage3", "macs_msfa",
              "macs_head", "macs_fused", "attention_macs_fused", "sdpa_op_fused", "msfa_grid_s16",
              "msfa_grid_s32", "msfa_resize", "output_shape", "torch_version", "timm_version"]
LAYER_COLS = ["model", "resolution", "num_classes", "module_name", "type", "in_channels", "out_channels",
              "kernel", "stride", "dilation", "padding", "groups", "bias", "params", "macs", "output_shape"]

TORCH_V = torch.__version__
TIMM_V = timm.__version__


# timm_truth (beside this script) blocks every weight download when it is imported, counts parameters and
# formats shapes and FlopCounterMode's running totals as this script records them
from timm_truth import fmt_shape, global_counts, n_params  # noqa: E402


def build(name, classes, mult=1.0, fused=False, device="meta"):
    set_fused_attn(fused)
    assert use_fused_attn() == fused
    kw = dict(pretrained=False, device=device)
    if name != "mobilenetv5_300m_enc":  # the encoder takes no num_classes
        kw["num_classes"] = classes
    if mult != 1.0:
        kw["channel_multiplier"] = mult
    torch.manual_seed(0)
    m = timm.create_model(name, **kw).eval()
    attn = [x for x in m.modules() if isinstance(x, MultiQueryAttention2d)]
    assert attn and all(x.fused_attn is fused for x in attn), name
    assert not list(m.buffers()), "MobileNetV5 has no buffers (RMSNorm keeps no running statistics)"
    same = any(isinstance(x, Conv2dSame) for x in m.modules())
    assert same == (name == "mobilenetv5_300m_enc"), name
    return m


class OpLog(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.ops[str(func.overloadpacket)] += 1
        return func(*args, **(kwargs or {}))


class SdpaOnCpu(TorchFunctionMode):
    """In a meta-device forward: runs each F.scaled_dot_product_attention for real, on CPU zeros of the
    same shapes, so the CPU dispatcher picks the kernel and FlopCounterMode sees that kernel."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            cpu = tree_map(lambda a: torch.zeros(a.shape, dtype=a.dtype) if isinstance(a, torch.Tensor)
                           else a, args)
            out = func(*cpu, **kwargs)
            self.n += 1
            return torch.empty(out.shape, dtype=out.dtype, device="meta")
        return func(*args, **kwargs)


def forward_count(model, hw, device, sdpa_on_cpu=False):
    x = torch.zeros(1, 3, *hw, device=device)
    shapes = {}
    hooks = [mod.register_forward_pre_hook(lambda m, i, n=n: shapes.__setitem__(n, tuple(i[0].shape)))
             for n, mod in model.named_modules() if isinstance(mod, MultiQueryAttention2d)]
    stack = contextlib.ExitStack()
    with torch.no_grad(), stack:
        fc = stack.enter_context(FlopCounterMode(display=False))
        log = stack.enter_context(OpLog())
        if sdpa_on_cpu:
            sc = stack.enter_context(SdpaOnCpu())
        out = model(x)
    for h in hooks:
        h.remove()
    if sdpa_on_cpu:
        assert device == "meta" and sc.n == len(shapes), (sc.n, len(shapes))
    total = fc.get_total_flops()
    assert total % 2 == 0, total
    return total // 2, fc, log, out, shapes


def attention_flops(model, fc, fused):
    """flops FlopCounterMode attributes to the MQA modules' attention ops (not their convolutions)."""
    counts = fc.get_flop_counts()
    root = type(model).__name__
    fl = 0
    for mname, mod in model.named_modules():
        if isinstance(mod, MultiQueryAttention2d):
            ops = {str(k): v for k, v in counts.get(f"{root}.{mname}", {}).items()}
            if not fused:
                assert set(ops) <= MATMUL_OPS | {"aten.convolution"}, (mname, ops)
            fl += sum(v for k, v in ops.items() if k != "aten.convolution")
    assert fl % 2 == 0
    return fl // 2


def attention_formula(model, shapes):
    tot = 0
    for n, mod in model.named_modules():
        if isinstance(mod, MultiQueryAttention2d):
            _, _, h, w = shapes[n]
            kv = mod.kv_stride
            m = math.ceil(h / kv) * math.ceil(w / kv)
            tot += mod.num_heads * h * w * m * (mod.key_dim + mod.value_dim)
    return tot


def part_macs(model, fc):
    counts = fc.get_flop_counts()
    root = type(model).__name__

    def path(p):
        return sum(counts.get(f"{root}.{p}", {}).values())
    parts = dict(macs_stem=path("conv_stem"), macs_msfa=path("msfa"), macs_head=path("classifier"))
    for i in range(4):
        parts[f"macs_stage{i}"] = path(f"blocks.{i}")
    assert all(v % 2 == 0 for v in parts.values())
    parts = {k: v // 2 for k, v in parts.items()}
    assert sum(parts.values()) * 2 == fc.get_total_flops(), parts
    return parts


def msfa_info(model, hw, log):
    """grids of the two MSFA inputs and what the MSFA does to reach its output grid."""
    h, w = hw
    for _ in range(4):  # stem + stages 0..2 halve the grid (ceil) -> stride 16
        h, w = math.ceil(h / 2), math.ceil(w / 2)
    h32, w32 = math.ceil(h / 2), math.ceil(w / 2)
    oh, ow = model.msfa.output_resolution
    ops = log.ops
    assert ops.get("aten.upsample_nearest2d", 0) == 1, ops  # the s32 map always goes up to s16
    if (h, w) == (oh, ow):
        resize = "none"
        assert not ops.get("aten.avg_pool2d") and not ops.get("aten.upsample_bilinear2d")
    elif h % oh == 0 and w % ow == 0:
        resize = f"avg_pool2d {h // oh}x{w // ow}"
        assert ops.get("aten.avg_pool2d") == 1 and not ops.get("aten.upsample_bilinear2d")
    else:
        resize = "bilinear"
        assert ops.get("aten.upsample_bilinear2d") == 1 and not ops.get("aten.avg_pool2d")
    return f"{h}x{w}", f"{h32}x{w32}", resize


def measure_off(model, hw, device="meta"):
    macs, fc, log, out, shapes = forward_count(model, hw, device)
    g = {str(k): v for k, v in fc.get_flop_counts()["Global"].items()}
    assert set(g) <= COUNTED_OPS, g
    assert all(v % 2 == 0 for v in g.values())
    am = attention_flops(model, fc, fused=False)
    assert am == attention_formula(model, shapes), (am, attention_formula(model, shapes))
    assert am * 2 == g.get("aten.bmm", 0) + g.get("aten.mm", 0), "all matmuls are attention matmuls"
    s16, s32, resize = msfa_info(model, hw, log)
    r = dict(macs=macs, macs_convolution=g.get("aten.convolution", 0) // 2,
             macs_bmm=g.get("aten.bmm", 0) // 2, macs_addmm=g.get("aten.addmm", 0) // 2,
             macs_mm=g.get("aten.mm", 0) // 2, attention_macs=am, msfa_grid_s16=s16,
             msfa_grid_s32=s32, msfa_resize=resize, output_shape="x".join(map(str, out.shape[1:])))
    r.update(part_macs(model, fc))
    return r


def measure_on(model, hw, device="meta"):
    """fused attention ON; on meta each SDPA call runs on CPU (SdpaOnCpu), on cpu everything does."""
    macs, fc, log, out, _ = forward_count(model, hw, device, sdpa_on_cpu=device == "meta")
    sdpa = {k: v for k, v in log.ops.items() if "scaled_dot_product" in k}
    n_mqa = sum(isinstance(x, MultiQueryAttention2d) for x in model.modules())
    assert sum(sdpa.values()) == n_mqa, sdpa
    assert not any(log.ops.get(k) for k in MATMUL_OPS), "fused path ran a matmul"
    return dict(macs_fused=macs, attention_macs_fused=attention_flops(model, fc, fused=True),
                sdpa_op_fused=";".join(f"{k} x{v}" for k, v in sorted(sdpa.items())))


def totals(sizes, real):
    rows = []
    t0 = time.time()
    cases = [(name, k, 1.0, hw) for name, ks in MODELS for k in ks for hw in sizes] + WIDTH_CASES
    # group by built model: (name, k, mult) -> sizes
    groups = {}
    for name, k, mult, hw in cases:
        groups.setdefault((name, k, mult), []).append(hw)
    off_by_key = {}
    dev = "cpu" if real else "meta"
    for (name, k, mult), hws in groups.items():
        off = build(name, k, mult, fused=False, device=dev)
        params = n_params(off)
        for hw in hws:
            r = dict(model=name, height=hw[0], width=hw[1], num_classes=k, channel_multiplier=mult,
                     params=params, **measure_off(off, hw, device=dev))
            off_by_key[(name, k, mult, hw)] = r
            rows.append(r)
        del off
        on = build(name, k, mult, fused=True, device=dev)
        assert n_params(on) == params
        for hw in hws:
            r = off_by_key[(name, k, mult, hw)]
            r.update(measure_on(on, hw, device=dev))
            assert r["macs_fused"] == r["macs"] - r["attention_macs"] + r["attention_macs_fused"]
            r.update(torch_version=TORCH_V, timm_version=TIMM_V)
        del on
        print(f"{name} c={k} m={mult} params={params} sizes={len(hws)} t={time.time() - t0:.0f}s",
              flush=True)
    real_checks(groups, off_by_key, real)
    rows.sort(key=lambda r: (r["model"], r["channel_multiplier"], r["num_classes"], r["height"],
                             r["width"]))
    with open(os.path.join(HERE, "timm_v5_totals.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, TOTAL_COLS, lineterminator="\n")
        wr.writeheader()
        wr.writerows(rows)
    return rows


def real_checks(groups, off_by_key, real):
    """the fast path (meta device; SDPA alone on CPU) against full real CPU forwards."""
    if real:
        return  # every row was measured on CPU
    t0 = time.time()
    for (name, k, mult), hws in groups.items():
        for fused, checks in ((False, REAL_CHECK_OFF), (True, REAL_CHECK_ON)):
            todo = [hw for (n, c, hw) in checks if (n, c, mult) == (name, k, 1.0) and hw in hws]
            if not todo:
                continue
            m = build(name, k, mult, fused=fused, device="cpu")
            for hw in todo:
                got = (measure_on if fused else measure_off)(m, hw, device="cpu")
                want = {c: off_by_key[(name, k, mult, hw)][c] for c in got}
                assert got == want, (name, k, mult, hw, fused, got, want)
            del m
            print(f"real-CPU check {name} c={k} fused_attn={fused} {todo}: equal to the fast path "
                  f"(t={time.time() - t0:.0f}s)", flush=True)


def cross_checks(rows):
    ok = True
    by = {(r["model"], r["height"], r["width"], r["num_classes"], r["channel_multiplier"]): r for r in rows}
    for key, (params, macs) in KNOWN.items():
        r = by[key]
        good = r["params"] == params and (macs is None or r["macs"] == macs)
        ok &= good
        print(f"{'PASS' if good else 'FAIL'} known {key}: params {r['params']:,} (known {params:,}), "
              f"macs {r['macs']:,}" + (f" (known {macs:,})" if macs else ""), flush=True)
    # 'same' padding (enc) vs symmetric (300m, no classifier): equal counts at every size
    diffs = []
    for (name, h, w, k, m), r in by.items():
        if name == "mobilenetv5_300m" and k == 0:
            e = by[("mobilenetv5_300m_enc", h, w, 0, m)]
            if (r["params"], r["macs"], r["macs_fused"]) != (e["params"], e["macs"], e["macs_fused"]):
                diffs.append((h, w))
    ok &= not diffs
    print(f"{'PASS' if not diffs else 'FAIL'} mobilenetv5_300m (c=0, symmetric padding) == "
          f"mobilenetv5_300m_enc ('same' padding) in params, macs and macs_fused at every size"
          + (f": {diffs}" if diffs else ""), flush=True)
    # class count changes only the classifier
    for name, ks in MODELS:
        for (n, h, w, k, m), r in by.items():
            if n == name and k != ks[0] and m == 1.0:
                b = by[(n, h, w, ks[0], m)]
                assert r["macs"] - r["macs_addmm"] == b["macs"] - b["macs_addmm"]
    return ok


SKIP_LEAVES = (nn.Identity, nn.Dropout)
NAMED_FUNCS = {F.interpolate: "F.interpolate", torch.cat: "torch.cat", F.avg_pool2d: "F.avg_pool2d"}


class FunctionalRecorder(TorchFunctionMode):
    """Records torch function calls outside every row module: counted ones and the MSFA's resizes/cat."""

    def __init__(self, stack, row_depth, fc, events):
        super().__init__()
        self.stack, self.row_depth, self.fc, self.events = stack, row_depth, fc, events

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.row_depth[0]:
            return func(*args, **kwargs)
        before = global_counts(self.fc)
        out = func(*args, **kwargs)
        after = global_counts(self.fc)
        delta = {str(k): v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
        enc = self.stack[-1] if self.stack else ""
        if delta:
            assert len(delta) == 1 and isinstance(out, torch.Tensor), (func, delta)
            (op, fl), = delta.items()
            self.events.append(["func", enc, op, tuple(out.shape), fl, None])
        elif func in NAMED_FUNCS:
            name = NAMED_FUNCS[func]
            extra = {}
            if func is F.interpolate:
                name += f"[{kwargs.get('mode', 'nearest')}]"
                extra["in_channels"] = args[0].shape[1]
            elif func is F.avg_pool2d:
                extra.update(kernel="x".join(map(str, kwargs["kernel_size"])),
                             stride="x".join(map(str, kwargs["stride"])), in_channels=args[0].shape[1])
            else:
                extra["in_channels"] = "+".join(str(t.shape[1]) for t in args[0])
            self.events.append(["func", enc, name, tuple(out.shape), 0, extra])
        return out


def layers(by_key):
    rows = []
    for name, res, classes in LAYER_CASES:
        model = build(name, classes, fused=False, device="meta")
        root = type(model).__name__
        mods = dict(model.named_modules())
        row_mods = {n for n, m in mods.items()
                    if n and not isinstance(m, SKIP_LEAVES)
                    and (not list(m.children()) or list(m.parameters(recurse=False)))}
        stack, row_depth, events, hooks = [], [0], [], []
        open_rows, ran = {}, set()
        for mname, mod in mods.items():
            def pre(m, i, mname=mname):
                stack.append(mname)
                ran.add(mname)
                if mname in row_mods:
                    row_depth[0] += 1
                    ev = ["module", mname, None, None, None, tuple(i[0].shape)]
                    events.append(ev)
                    open_rows[mname] = ev

            def post(m, i, o, mname=mname):
                assert stack.pop() == mname
                if mname in row_mods:
                    row_depth[0] -= 1
                    open_rows.pop(mname)[3] = tuple(o.shape)
            hooks += [mod.register_forward_pre_hook(pre), mod.register_forward_hook(post)]
        x = torch.zeros(1, 3, res, res, device="meta")
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            with FunctionalRecorder(stack, row_depth, fc, events):
                model(x)
        for h in hooks:
            h.remove()
        total = fc.get_total_flops()
        assert total % 2 == 0 and total // 2 == by_key[(name, res, res, classes, 1.0)]["macs"]
        called = [e[1] for e in events if e[0] == "module"]
        assert sorted(called) == sorted(row_mods), set(row_mods) ^ set(called)
        counts = fc.get_flop_counts()

        def path_flops(mname):
            return sum(counts.get(f"{root}.{mname}" if mname else root, {}).values())

        def kids(mname):
            return [f"{mname}.{c}" if mname else c for c, _ in mods[mname].named_children()]

        def covered(mname):
            # a container whose forward never runs (MobileNetV5's `blocks`: forward_features iterates
            # over the stages, mobilenetv5.py:418-425 / 654-661) is covered by its children
            return path_flops(mname) if mname in ran else sum(covered(k) for k in kids(mname))

        def own_flops(mname):
            return path_flops(mname) - sum(covered(k) for k in kids(mname))

        func_by_enc = Counter()
        for e in events:
            if e[0] == "func":
                func_by_enc[e[1]] += e[4]
        not_run = {n for n in set(mods) - ran if not isinstance(mods[n], SKIP_LEAVES)}
        assert not_run == {"blocks"}, not_run  # + the drop_path Identity of blocks without a skip
        for mname in mods:
            if mname not in row_mods and mname in ran:
                assert own_flops(mname) == func_by_enc.get(mname, 0), (mname, own_flops(mname))
        layer_sum, seen = 0, Counter()
        base = dict(model=name, resolution=res, num_classes=classes)
        blank = dict(in_channels="", out_channels="", kernel="", stride="", dilation="", padding="",
                     groups="", bias="")
        for kind, mname, op, shp, fl, extra in events:
            if kind == "func":
                enc = mname or "(root)"
                short = op.split(".")[-1] if op.startswith("aten.") else op.split("[")[0]
                k = seen[(enc, short)]
                seen[(enc, short)] += 1
                assert fl % 2 == 0
                layer_sum += fl // 2
                r = dict(base, module_name=f"{enc}/{short}.{k}", type=op, **blank, params=0, macs=fl // 2)
                if extra is None:  # a counted matmul
                    numel = math.prod(shp)
                    assert (fl // 2) % numel == 0
                    r.update(in_channels=fl // 2 // numel, out_channels=shp[-1],
                             output_shape="x".join(map(str, shp)))
                else:
                    r.update(extra, out_channels=shp[1], output_shape=fmt_shape(shp))
                rows.append(r)
                continue
            mod = mods[mname]
            fl = own_flops(mname)
            assert fl % 2 == 0
            layer_sum += fl // 2
            r = dict(base, module_name=mname, type=type(mod).__name__, **blank,
                     params=sum(q.numel() for q in mod.parameters(recurse=False)),
                     macs=fl // 2, output_shape=fmt_shape(shp))
            if len(shp) == 4:
                r.update(in_channels=extra[1], out_channels=shp[1])
            if isinstance(mod, nn.Conv2d):
                if isinstance(mod, Conv2dSame):
                    ih, iw = extra[2:]
                    ph = get_same_padding(ih, mod.kernel_size[0], mod.stride[0], mod.dilation[0])
                    pw = get_same_padding(iw, mod.kernel_size[1], mod.stride[1], mod.dilation[1])
                    pad = f"same:{pw // 2},{pw - pw // 2},{ph // 2},{ph - ph // 2}"
                else:
                    assert type(mod) is nn.Conv2d, type(mod)
                    pad = "x".join(map(str, mod.padding))
                r.update(in_channels=mod.in_channels, out_channels=mod.out_channels,
                         kernel="x".join(map(str, mod.kernel_size)),
                         stride="x".join(map(str, mod.stride)),
                         dilation="x".join(map(str, mod.dilation)), padding=pad, groups=mod.groups,
                         bias=mod.bias is not None)
            elif isinstance(mod, nn.Linear):
                r.update(in_channels=mod.in_features, out_channels=mod.out_features,
                         bias=mod.bias is not None)
            elif type(mod).__name__ in ("RmsNorm2d", "RmsNormAct2d"):
                assert mod.weight is not None and mod.weight.numel() == shp[1]
                r.update(bias=False)
            elif type(mod).__name__ == "LayerScale2d":
                r.update(bias=False)
            elif isinstance(mod, nn.Flatten):
                r.update(in_channels=extra[1], out_channels=shp[1])
            else:
                assert fl == 0, (mname, fl)
            rows.append(r)
        assert layer_sum * 2 == total, (name, layer_sum, total)
        assert sum(r["params"] for r in rows if (r["model"], r["resolution"], r["num_classes"]) ==
                   (name, res, classes)) == n_params(model)
        n_func = sum(1 for e in events if e[0] == "func")
        print(f"layers {name} r={res} c={classes}: {len(called)} row modules, {n_func} function rows, "
              f"total macs {total // 2} == sum of rows", flush=True)
    with open(os.path.join(HERE, "timm_v5_layers.csv"), "w", newline="") as f:
        wr = csv.DictWriter(f, LAYER_COLS, lineterminator="\n")
        wr.writeheader()
        wr.writerows(rows)
    return rows


def counters():
    """What ptflops / fvcore / thop report on V5 (prints; see timm_v5_structure.md)."""
    import importlib.metadata as md
    import logging
    import warnings
    warnings.filterwarnings("ignore")
    logging.disable(logging.WARNING)
    import thop
    from fvcore.nn import FlopCountAnalysis
    from ptflops import get_model_complexity_info
    from timm.layers import LayerScale2d, Linear, RmsNorm2d, RmsNormAct2d, SelectAdaptivePool2d
    print({p: md.version(p) for p in ["torch", "timm", "ptflops", "fvcore", "thop"]})

    class Fn(nn.Module):
        def __init__(self, fn):
            super().__init__()
            self.fn = fn

        def forward(self, x):
            return self.fn(x)

    def gelu():
        return nn.GELU(approximate="tanh")

    def tools(make, shape, fused=False):
        set_fused_attn(fused)
        res = {}
        x = torch.zeros(1, *shape)
        with torch.no_grad(), FlopCounterMode(display=False) as fc:
            make().eval()(x)
        res["FlopCounterMode/2"] = fc.get_total_flops() // 2
        for be in ["pytorch", "aten"]:
            with contextlib.redirect_stdout(io.StringIO()):
                mac, p = get_model_complexity_info(make().eval(), shape, as_strings=False,
                                                   print_per_layer_stat=False, backend=be)
            res[f"ptflops-{be}"] = (mac, p)
        fa = FlopCountAnalysis(make().eval(), x)
        fa.unsupported_ops_warnings(False)
        fa.uncalled_modules_warnings(False)
        res["fvcore"] = (fa.total(), dict(fa.unsupported_ops()))
        with contextlib.redirect_stdout(io.StringIO()):
            ops, p = thop.profile(make().eval(), inputs=(x,), verbose=False)
        res["thop"] = (int(ops), int(p))
        res["params"] = n_params(make())
        return res

    c, h = 32, 16

    def box(m):  # thop skips the root module's own params: wrap
        return nn.Sequential(m)
    parts = {
        "RmsNorm2d(32), 32x16x16": lambda: box(timm.layers.RmsNorm2d(c)),
        "RmsNormAct2d(32, GELU tanh)": lambda: box(RmsNormAct2d(c, act_layer=gelu)),
        "nn.GELU(approximate='tanh')": lambda: box(gelu()),
        "LayerScale2d(32)": lambda: box(LayerScale2d(c)),
        "F.interpolate nearest 16x16 -> 32x32": lambda: box(Fn(lambda x: F.interpolate(x, size=(32, 32)))),
        "F.interpolate bilinear 16x16 -> 20x20": lambda: box(
            Fn(lambda x: F.interpolate(x, size=(20, 20), mode="bilinear"))),
        "F.avg_pool2d 2x2 s2, 16x16 -> 8x8": lambda: box(
            Fn(lambda x: F.avg_pool2d(x, kernel_size=(2, 2), stride=(2, 2)))),
        "SelectAdaptivePool2d('avg') = nn.AdaptiveAvgPool2d(1)": lambda: box(SelectAdaptivePool2d(pool_type="avg")),
        "Conv2dSame(32, 32, 3, stride 2)": lambda: box(Conv2dSame(c, c, 3, stride=2, bias=False)),
        "nn.Conv2d(32, 32, 3, stride 2, padding 1)": lambda: box(nn.Conv2d(c, c, 3, 2, 1, bias=False)),
    }
    print(f"input 1x{c}x{h}x{h} ({c * h * h} elements)")
    for k, make in parts.items():
        print(f"  {k}: {tools(make, (c, h, h))}", flush=True)
    print(f"  timm Linear(32, 10) on 1x32: {tools(lambda: box(Linear(c, 10)), (c,))}")
    print(f"  nn.Linear(32, 10) on 1x32: {tools(lambda: box(nn.Linear(c, 10)), (c,))}")
    for name, k in [("mobilenetv5_base", 1000), ("mobilenetv5_300m_enc", 0)]:
        for fused in (False, True):
            t = time.time()
            res = tools(lambda: build(name, k, fused=fused, device="cpu"), (3, 256, 256), fused=fused)
            print(f"{name} 256 c={k} fused_attn={fused}: {res} ({time.time() - t:.0f}s)", flush=True)
    set_fused_attn(False)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--large", action="store_true", help="also 1024x1024")
    ap.add_argument("--real", action="store_true", help="re-measure every row by full CPU forwards")
    ap.add_argument("--counters", action="store_true", help="print ptflops/fvcore/thop on V5 and exit")
    args = ap.parse_args()
    torch.set_num_threads(2)
    print(f"torch {TORCH_V} timm {TIMM_V} python {sys.version.split()[0]}", flush=True)
    if args.counters:
        counters()
        sys.exit(0)
    t_all = time.time()
    rows = totals(SIZES + (LARGE_SIZES if args.large else []), args.real)
    print(f"totals: {len(rows)} rows, {time.time() - t_all:.0f}s", flush=True)
    by_key = {(r["model"], r["height"], r["width"], r["num_classes"], r["channel_multiplier"]): r
              for r in rows}
    t = time.time()
    lr = layers(by_key)
    print(f"layers: {len(lr)} rows, {time.time() - t:.0f}s", flush=True)
    ok = cross_checks(rows)
    set_fused_attn(False)
    print(f"all done in {time.time() - t_all:.0f}s", flush=True)
    assert ok, "a known figure or a cross-check failed"
