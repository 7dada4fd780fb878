#!/usr/bin/env python
"""Ground-truth MAC/FLOP counts from real counting tools on torchvision MobileNets.

Run (needs torch 2.14.1, torchvision 0.29.1, ptflops 0.7.5, fvcore 0.1.5.post20221221, thop 0.1.1.post2209072238, torchinfo 1.8.0): python tests/data/generators/counters_truth.py
Writes (next to this file):
  counters_totals.csv      model,width_mult,resolution,num_classes,tool,tool_version,macs,params
  counters_fvcore_unsupported.csv  model,width_mult,resolution,num_classes,op,count
  counters_layers.csv      model,tool,module_name,module_type,count
  counters_by_type.csv     model,tool,module_type,count
  counters_errors.csv      (only rows for failures; header always written)
A fresh model is built for every single tool call (ptflops/thop/aten hooks
and attributes are attached to the model and are not all removed).
"""
import contextlib
import csv
import importlib.metadata as md
import io
import logging
import os
import sys
import time
import warnings
from collections import Counter, defaultdict

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.utils.flop_counter import FlopCounterMode

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)  # fvcore logs unsupported-op warnings via logging

import ptflops  # noqa: E402
import ptflops.pytorch_engine as pte  # noqa: E402
from ptflops import get_model_complexity_info  # noqa: E402
from fvcore.nn import FlopCountAnalysis, parameter_count  # noqa: E402
import thop  # noqa: E402
from torchinfo import summary  # noqa: E402

OUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # writes into tests/data
V = {p: md.version(p) for p in ["torch", "torchvision", "ptflops", "fvcore", "thop", "torchinfo"]}
# thop's metadata says "0.1.1-2209072238"; pip normalises it to 0.1.1.post2209072238
V["thop"] = V["thop"].replace("-", ".post")
TOOL_VERSION = {
    "ptflops_pytorch": f"ptflops {V['ptflops']} backend=pytorch",
    "ptflops_aten": f"ptflops {V['ptflops']} backend=aten",
    "fvcore": f"fvcore {V['fvcore']}",
    "thop": f"thop {V['thop']}",
    "torchinfo": f"torchinfo {V['torchinfo']}",
    "torch_flopcounter_div2": f"torch {V['torch']} FlopCounterMode total//2",
}
TOOLS = list(TOOL_VERSION)

MODELS = ["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"]
WIDTHS = [0.35, 0.5, 0.75, 1.0, 1.3]
RESES = [96, 97, 160, 224]
CLASSES = [10, 1000]

REFERENCE = {  # mobilenet_v2 1.0/224/1000
    "torch_flopcounter_div2": 300_774_272,
    "ptflops_pytorch": 320_300_008,
    "fvcore": 314_193_216,
    "thop": 327_486_720,
    "torchinfo": 300_809_384,
}


def build(name, w, c):
    torch.manual_seed(0)
    return getattr(torchvision.models, name)(weights=None, width_mult=w, num_classes=c).eval()


def nparams(m):
    return sum(p.numel() for p in m.parameters())


def as_int(x):
    xi = int(round(float(x)))
    assert abs(float(x) - xi) < 1e-6, x
    return xi


# --------------------------------------------------------------------- totals
def run_ptflops(m, r, backend):
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        macs, params = get_model_complexity_info(
            m, (3, r, r), as_strings=False, backend=backend, print_per_layer_stat=False)
    return as_int(macs), int(params)


def run_fvcore(m, r):
    fca = FlopCountAnalysis(m, torch.zeros(1, 3, r, r))
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    tot = fca.total()
    return as_int(tot), int(parameter_count(m)[""]), dict(fca.unsupported_ops())


def run_thop(m, r):
    macs, params = thop.profile(m, inputs=(torch.zeros(1, 3, r, r),), verbose=False)
    return as_int(macs), as_int(params)


def run_torchinfo(m, r):
    s = summary(m, input_size=(1, 3, r, r), verbose=0)
    return int(s.total_mult_adds), int(s.total_params)


def run_torch(m, r):
    fc = FlopCounterMode(display=False)
    with torch.no_grad(), fc:
        m(torch.zeros(1, 3, r, r))
    t = fc.get_total_flops()
    assert t % 2 == 0
    return t // 2, nparams(m)


def totals():
    rows, unsup_rows, err_rows = [], [], []
    tool_time = defaultdict(float)
    for name in MODELS:
        for w in WIDTHS:
            for r in RESES:
                for c in CLASSES:
                    for tool in TOOLS:
                        t0 = time.perf_counter()
                        try:
                            m = build(name, w, c)
                            if tool == "ptflops_pytorch":
                                macs, params = run_ptflops(m, r, "pytorch")
                            elif tool == "ptflops_aten":
                                macs, params = run_ptflops(m, r, "aten")
                            elif tool == "fvcore":
                                macs, params, uns = run_fvcore(m, r)
                                for op, n in sorted(uns.items()):
                                    unsup_rows.append([name, w, r, c, op, n])
                            elif tool == "thop":
                                macs, params = run_thop(m, r)
                            elif tool == "torchinfo":
                                macs, params = run_torchinfo(m, r)
                            else:
                                macs, params = run_torch(m, r)
                            rows.append([name, w, r, c, tool, TOOL_VERSION[tool], macs, params])
                        except Exception as e:  # record, keep going
                            err_rows.append([name, w, r, c, tool, f"{type(e).__name__}: {e}"])
                        tool_time[tool] += time.perf_counter() - t0
            print(f"done {name} w={w}", flush=True)
    with open(os.path.join(OUT, "counters_totals.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["model", "width_mult", "resolution", "num_classes", "tool", "tool_version", "macs", "params"])
        wr.writerows(rows)
    with open(os.path.join(OUT, "counters_fvcore_unsupported.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["model", "width_mult", "resolution", "num_classes", "op", "count"])
        wr.writerows(unsup_rows)
    with open(os.path.join(OUT, "counters_errors.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["model", "width_mult", "resolution", "num_classes", "tool", "error"])
        wr.writerows(err_rows)
    print("totals rows:", len(rows), "errors:", len(err_rows))
    print("time per tool (s):", {k: round(v, 1) for k, v in tool_time.items()})
    # reference check
    print("reference check mobilenet_v2 1.0/224/1000:")
    for tool, ref in REFERENCE.items():
        got = [x[6] for x in rows if x[0] == "mobilenet_v2" and x[1] == 1.0 and x[2] == 224
               and x[3] == 1000 and x[4] == tool]
        print(f"  {tool:24s} expected {ref:>13,}  got {got[0] if got else None:>13,}  "
              f"{'OK' if got and got[0] == ref else 'DIFF'}")
    # fvcore unsupported sets, summarised per model
    ops = defaultdict(set)
    for x in unsup_rows:
        ops[x[0]].add(x[4])
    for k, v in ops.items():
        print(f"fvcore unsupported ops {k}: {sorted(v)}")
    return rows


# ------------------------------------------------------------------ per-layer
def names_of(m):
    return {id(mod): n for n, mod in m.named_modules()}


def se_prefix(m):
    """Map module name -> 'SqueezeExcitation/' if it lives inside an SE block."""
    se_names = [n for n, mod in m.named_modules() if type(mod).__name__ == "SqueezeExcitation"]
    out = {}
    for n, _ in m.named_modules():
        out[n] = "SqueezeExcitation/" if any(n.startswith(s + ".") for s in se_names) else ""
    return out


class Tagged:
    """Stand-in for ptflops' collector list that also remembers which op added what."""

    def __init__(self, tag, shared, log):
        self.tag, self.shared, self.log = tag, shared, log

    def append(self, v):
        self.shared.append(v)
        self.log[self.tag] += int(v)


def layers_ptflops(m, r):
    """Replicates ptflops.pytorch_engine.get_flops_pytorch but reads __flops__ before cleanup."""
    rows = []
    m = pte.add_flops_counting_methods(m)
    m.eval()
    m.start_flops_count(ost=io.StringIO(), verbose=False, ignore_list=[])
    func_flops, tens_flops = [], []
    log = Counter()
    pte.patch_functional(func_flops)
    pte.patch_tensor_ops(tens_flops)
    # re-point each wrapper's collector so we know which functional/tensor op was counted
    for k in dir(F):
        obj = getattr(F, k)
        if isinstance(obj, pte.torch_function_wrapper):
            obj.collector = Tagged("F." + k, func_flops, log)
    for k in ["matmul", "mm", "bmm", "addmm", "baddbmm", "mul", "add"]:
        obj = getattr(torch, k)
        if isinstance(obj, pte.torch_function_wrapper):
            obj.collector = Tagged("torch." + k, tens_flops, log)
        tobj = getattr(torch.Tensor, k, None)
        if tobj is not None and getattr(tobj, "__closure__", None):
            for cell in tobj.__closure__:
                if isinstance(cell.cell_contents, pte.torch_function_wrapper):
                    cell.cell_contents.collector = Tagged("Tensor." + k, tens_flops, log)
    try:
        batch = torch.ones(()).new_empty((1, 3, r, r))
        m(batch)
        mod_total, _ = m.compute_average_flops_cost()
        nm = names_of(m)
        for mod in m.modules():
            if pte.is_supported_instance(mod):
                rows.append((nm[id(mod)], type(mod).__name__, int(mod.__flops__)))
    finally:
        pte.unpatch_functional()
        pte.unpatch_tensor_ops()
        m.stop_flops_count()
    for tag, v in sorted(log.items()):
        rows.append((f"<functional {tag}>", f"functional:{tag}", v))
    total = int(mod_total + sum(func_flops) + sum(tens_flops))
    return rows, total


def layers_fvcore(m, r):
    fca = FlopCountAnalysis(m, torch.zeros(1, 3, r, r))
    fca.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
    bm = fca.by_module()
    rows = []
    leaf_sum = 0
    for n, mod in m.named_modules():
        if not any(True for _ in mod.children()):
            rows.append((n, type(mod).__name__, as_int(bm[n])))
            leaf_sum += as_int(bm[n])
    total = as_int(fca.total())
    if total != leaf_sum:
        rows.append(("<outside leaf modules>", "non-leaf:functional", total - leaf_sum))
    for op, v in sorted(fca.by_operator().items()):
        rows.append((f"<operator {op}>", "OPERATOR", as_int(v)))
    return rows, total


def layers_thop(m, r):
    ops, params, tree = thop.profile(m, inputs=(torch.zeros(1, 3, r, r),), verbose=False,
                                     ret_layer_info=True)
    types = {n: type(mod).__name__ for n, mod in m.named_modules()}
    rows = []

    def walk(d, prefix):
        for k, (o, p, sub) in d.items():
            n = prefix + k
            if sub:
                walk(sub, n + ".")
            else:
                rows.append((n, types[n], as_int(o)))
    walk(tree, "")
    return rows, as_int(ops)


def layers_torchinfo(m, r):
    s = summary(m, input_size=(1, 3, r, r), verbose=0)
    nm = names_of(m)
    rows = [(nm[li.layer_id], li.class_name, int(li.macs)) for li in s.summary_list if li.is_leaf_layer]
    return rows, int(s.total_mult_adds)


def layers_torch(m, r):
    fc = FlopCounterMode(display=False)
    with torch.no_grad(), fc:
        m(torch.zeros(1, 3, r, r))
    counts = fc.get_flop_counts()
    root = type(m).__name__
    rows, leaf_sum = [], 0
    for n, mod in m.named_modules():
        if not any(True for _ in mod.children()):
            key = root + "." + n
            v = sum(counts.get(key, {}).values()) // 2
            rows.append((n, type(mod).__name__, v))
            leaf_sum += v
    total = fc.get_total_flops() // 2
    if total != leaf_sum:
        rows.append(("<outside leaf modules>", "non-leaf:functional", total - leaf_sum))
    for op, v in sorted(counts.get("Global", {}).items(), key=lambda kv: str(kv[0])):
        rows.append((f"<operator {op}>", "OPERATOR", v // 2))
    return rows, total


def layers():
    out_rows, type_rows = [], []
    fns = {
        "ptflops_pytorch": layers_ptflops,
        "fvcore": layers_fvcore,
        "thop": layers_thop,
        "torchinfo": layers_torchinfo,
        "torch_flopcounter_div2": layers_torch,
    }
    for name in ["mobilenet_v2", "mobilenet_v3_small"]:
        for tool, fn in fns.items():
            m = build(name, 1.0, 1000)
            sep = se_prefix(m)
            rows, total = fn(m, 224)
            per_type = Counter()
            s = 0
            for n, t, v in rows:
                out_rows.append([name, tool, n, t, v])
                if t == "OPERATOR":
                    continue
                s += v
                per_type[sep.get(n, "") + t] += v
            print(f"layers {name} {tool}: {len(rows)} rows, module sum {s:,} vs tool total {total:,}"
                  f" {'OK' if s == total else 'MISMATCH'}")
            for t, v in sorted(per_type.items()):
                type_rows.append([name, tool, t, v])
            type_rows.append([name, tool, "TOTAL", total])
    with open(os.path.join(OUT, "counters_layers.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["model", "tool", "module_name", "module_type", "count"])
        wr.writerows(out_rows)
    with open(os.path.join(OUT, "counters_by_type.csv"), "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["model", "tool", "module_type", "count"])
        wr.writerows(type_rows)
    print("layer rows:", len(out_rows), "by-type rows:", len(type_rows))


if __name__ == "__main__":
    print("python", sys.version.split()[0], V)
    t0 = time.perf_counter()
    layers()
    t1 = time.perf_counter()
    print(f"layers pass: {t1 - t0:.1f}s", flush=True)
    if "--layers-only" not in sys.argv:
        totals()
        print(f"totals pass: {time.perf_counter() - t1:.1f}s")
