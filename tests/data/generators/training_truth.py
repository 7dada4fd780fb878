"""Ground truth for the cost of one training step (forward + loss + backward) of MobileNets in PyTorch.

Usage (torch 2.14.1, torchvision 0.29.1, pandas; CPU, float32, no weights are downloaded -- any attempt
raises):
    python tests/data/generators/training_truth.py
Writes training_totals.csv and training_layers.csv into tests/data (about 1 minute on 2 idle CPU
threads, several minutes on a loaded machine).

Models (weights=None, torch.manual_seed(0) before each build):
  * v2, v2_050: torchvision mobilenet_v2(width_mult=1.0 / 0.5); v3_large, v3_small: torchvision
    mobilenet_v3_large / mobilenet_v3_small;
  * v1: the standard PyTorch MobileNetV1 layout, written here (MobileNetV1 below): features[0] =
    conv3x3 s2 3->32 (bias=False) + BN + ReLU(inplace=True); features[1..13] = 13 depthwise-separable
    blocks, each dw3x3 (bias=False) + BN + ReLU(inplace) then pw1x1 (bias=False) + BN + ReLU(inplace),
    widths 64, 128 (s2), 128, 256 (s2), 256, 512 (s2), 512 x5, 1024 (s2), 1024; features[14] =
    AdaptiveAvgPool2d(1); flatten; classifier = Linear(1024, classes).
Heads (column head):
  * stock: the model's own classifier with 1000 classes;
  * keras: the Keras transfer-learning head rebuilt in torch, replacing `classifier` (after the model's
    own global pooling + flatten): Linear(C,320) -> ReLU() -> Linear(320,320) -> ReLU() -> Linear(320,2)
    (ReLUs not in place; the softmax is folded into the cross-entropy), C = 1280 (v2, v2_050),
    960 (v3_large), 576 (v3_small), 1024 (v1).
Settings (column setting / frozen_blocks):
  * full (0): every parameter trainable, model.train();
  * backbone (all): every parameter of model.features has requires_grad=False and every BatchNorm
    inside model.features is put in eval mode (Keras' trainable=False behaviour); the rest train mode;
  * blocks_N (N): features[0..N-1] frozen the same way, N = 14 (v2, v2_050), 13 (v3_large), 9
    (v3_small), 12 (v1) -- in every model exactly the last (7x7) stage and the head stay trainable.
Batches 1, 2, 8 at resolution 224 for every (model, head, setting); v2 stock full also at 160.

One step: model.train() (then the frozen BN .eval()); torch.manual_seed(1); x = torch.randn(N,3,R,R);
target = torch.randint(classes, (N,)) (int64); loss = F.cross_entropy(model(x), target);
loss.backward(). No optimizer step (FlopCounterMode has no formula for its elementwise / _foreach ops:
it would add 0).
  * forward_macs = FlopCounterMode flops // 2 of model(x) + the loss, in one context;
    backward_macs_torch = the same for loss.backward(), in a second context. Flops are asserted even.
  * The backward split. A TorchDispatchMode (SplitMode) sits *under* the FlopCounterMode, so it sees
    exactly the ops the counter counts (after the counter's own decompositions). For every op that has
    a formula in torch.utils.flop_counter.flop_registry it re-evaluates torch's own formula:
      - aten.convolution_backward: with output_mask restricted to [m0, False, False] ->
        backward_input_macs, and to [False, m1, False] -> backward_weight_macs_torch (m = the op's own
        mask; the bias gradient has no formula). backward_weight_macs_physical = the weight part
        divided by the conv's groups (torch's weight-gradient formula uses the *full* input channel
        count and never reads groups, so a depthwise conv's weight gradient is over-counted by C);
      - aten.mm in the backward: input gradient when one operand shares storage with a parameter
        (the Linear's W), weight gradient otherwise (no group issue: physical == torch);
      - anything else with a formula (none occurs) would make the script fail.
    backward_macs_physical = backward_input_macs + backward_weight_macs_physical. The split is
    asserted to add up to the counter's totals (forward and backward), per run.
  * Saved-for-backward bytes: a separate forward + loss (no counter, no dispatch mode) under
    torch.autograd.graph.saved_tensors_hooks; every packed tensor is kept (so no storage can be
    reused) and deduplicated by untyped_storage().data_ptr(); bytes = the storage's nbytes (asserted
    == the tensor's nbytes: no saved tensor is a strict view of a larger storage). Categories:
    param (the storage of a model parameter, e.g. a conv weight or a Linear's W as a W.t() view), buffer
    (storage of a model buffer: BN running_mean / running_var), stat (1-D floating tensors that are
    neither: BN save_mean / save_invstd; asserted to come from BatchNorm modules), act (everything
    else: activations, the input batch, the int64 target, the loss' 0-d total_weight). saved_bytes =
    all (dedup), saved_activation_bytes = act only, saved_{param,buffer,stat}_bytes likewise;
    saved_bytes_raw = the sum over every pack event of numel * element size (no dedup).
  * params = sum numel of all parameters; trainable = the same over requires_grad parameters.
  Checked in the script: the known v2 / stock / full / batch 2 / 224 values (forward 601,548,544,
  physical backward 1,181,421,056, torch backward 11,678,152,448, trainable 3,504,872); every MAC
  column exactly proportional to the batch; saved_activation_bytes exactly affine in the batch; the
  other saved categories independent of it.

Per layer (training_layers.csv) for (v2, stock, full), (v2, keras, blocks_14), (v3_small, stock, full),
batch 2, 224: one row per Conv2d / Linear executed plus one row per other module that packed at least
one tensor for backward (BatchNorm, activations, Dropout, SqueezeExcitation -- its `scale * input` is in
its own forward --, and the pseudo-module `loss` = F.cross_entropy, type cross_entropy), in forward
order (the order in which the modules are entered, so a SqueezeExcitation row precedes its fc1).
MAC columns as above, attributed by the weight (conv backward), by W (mm input gradient) or by the
Linear's saved input (mm weight gradient). params = the module's own parameters (recurse=False),
trainable = all of them require grad (False when it has none), input_requires_grad = the module's
first input requires grad (a conv/linear computes its input gradient iff this is true).
saved_bytes (and the per-category columns) = the deduplicated bytes of the storages this module was
the *first* to pack; saved_bytes_raw = every pack event of the module. The per-layer columns are
asserted to sum to the totals row.

Findings (this run). Only aten.convolution / addmm (forward) and convolution_backward / mm (backward)
carry a formula; everything else (BN, activations, pooling, adds, SE multiply, dropout, loss, biases)
counts 0. With F = the forward MACs of the trainable conv/linear layers and F1 = those of the first
trainable one (the stem under full fine-tuning; it gets no input gradient, nor does anything before
it get any backward): backward_macs_physical = 2F - F1, backward_weight_macs_physical = F, and
backward_macs_torch = 2F - F1 + sum over trainable grouped convs of (groups - 1) * F_conv (asserted
for every run: check_backward_rule). backward / forward at batch 2, 224, full: physical 1.90 (v3_small) to
1.98 (v1), torch's counter 9.5 (v1) to 34.3 (v3_small). saved_activation_bytes = a * N + 4 exactly
(the 4 bytes: the loss' total_weight); e.g. V1: each Conv-BN-ReLU(inplace) unit saves 2 maps (conv
output, ReLU result = next conv's input), V2: each Conv-BN-ReLU6(inplace) unit saves 3 (conv output,
a *copy* saved by the in-place ReLU6, its result saved by the next conv), plus the image, dropout's
float32 noise, the Linear inputs, log_softmax output and the int64 target.
"""
import os
import sys
import time
from collections import defaultdict

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry
from torchvision.models._api import WeightsEnum

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # writes into tests/data
TORCH_V = torch.__version__
TV_V = torchvision.__version__
aten = torch.ops.aten

MODELS = ["v1", "v2", "v2_050", "v3_large", "v3_small"]
HEADS = ["stock", "keras"]
FROZEN_BLOCKS = {"v1": 12, "v2": 14, "v2_050": 14, "v3_large": 13, "v3_small": 9}
HEAD_IN = {"v1": 1024, "v2": 1280, "v2_050": 1280, "v3_large": 960, "v3_small": 576}
BATCHES = [1, 2, 8]
# (model, head, setting, resolution)
EXTRA = [("v2", "stock", "full", 160)]
LAYER_CASES = [("v2", "stock", "full", 2, 224), ("v2", "keras", "blocks_14", 2, 224),
               ("v3_small", "stock", "full", 2, 224)]
KNOWN = {("v2", "stock", "full", 2, 224): dict(forward_macs=601548544,
                                               backward_macs_physical=1181421056,
                                               backward_macs_torch=11678152448,
                                               trainable=3504872)}
KEYS = ["model", "head", "setting", "batch", "resolution"]


def _no_download(*a, **k):
    raise RuntimeError("this script must not download weights")


torch.hub.load_state_dict_from_url = _no_download
WeightsEnum.get_state_dict = _no_download


class MobileNetV1(nn.Module):
    """The standard PyTorch MobileNetV1 layout (see the module docstring)."""

    def __init__(self, num_classes=1000):
        super().__init__()

        def bn_relu(c):
            return [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]

        layers = [nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1, bias=False), *bn_relu(32))]
        cin = 32
        for cout, s in [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1),
                        (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)]:
            layers.append(nn.Sequential(
                nn.Conv2d(cin, cin, 3, s, 1, groups=cin, bias=False), *bn_relu(cin),
                nn.Conv2d(cin, cout, 1, 1, 0, bias=False), *bn_relu(cout)))
            cin = cout
        layers.append(nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(1024, num_classes)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def keras_head(c):
    return nn.Sequential(nn.Linear(c, 320), nn.ReLU(), nn.Linear(320, 320), nn.ReLU(),
                         nn.Linear(320, 2))


def build(model, head):
    torch.manual_seed(0)
    tvm = torchvision.models
    m = {"v1": lambda: MobileNetV1(1000),
         "v2": lambda: tvm.mobilenet_v2(weights=None, width_mult=1.0),
         "v2_050": lambda: tvm.mobilenet_v2(weights=None, width_mult=0.5),
         "v3_large": lambda: tvm.mobilenet_v3_large(weights=None),
         "v3_small": lambda: tvm.mobilenet_v3_small(weights=None)}[model]()
    assert len(m.features) == {"v1": 15, "v2": 19, "v2_050": 19, "v3_large": 17, "v3_small": 13}[model]
    first_linear = [x for x in m.classifier.modules() if isinstance(x, nn.Linear)][0] \
        if isinstance(m.classifier, nn.Sequential) else m.classifier
    assert first_linear.in_features == HEAD_IN[model], (model, first_linear)
    if head == "keras":
        m.classifier = keras_head(HEAD_IN[model])
    return m


def setting_name(model, setting):
    return f"blocks_{FROZEN_BLOCKS[model]}" if setting == "blocks" else setting


def apply_setting(m, model, setting):
    """Freeze as described; returns frozen_blocks (0, 'all' or N)."""
    m.train()
    if setting == "full":
        frozen, fb = [], 0
    elif setting == "backbone":
        frozen, fb = list(m.features), "all"
    else:
        assert setting == f"blocks_{FROZEN_BLOCKS[model]}", setting
        fb = FROZEN_BLOCKS[model]
        frozen = list(m.features[:fb])
    for mod in frozen:
        for p in mod.parameters():
            p.requires_grad_(False)
        for sub in mod.modules():
            if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                sub.eval()
    return fb


def storage_ptr(t):
    return t.untyped_storage().data_ptr()


class Tracker:
    """Forward pre/post hooks keeping the stack of module paths being executed."""

    def __init__(self, m):
        self.stack, self.order, self.input_rg, self.hooks = [], [], {}, []
        for name, mod in m.named_modules():
            name = name or "(root)"

            def pre(mod_, inp, name=name):
                self.stack.append(name)
                if name not in self.input_rg:
                    self.order.append(name)
                    self.input_rg[name] = bool(inp and isinstance(inp[0], torch.Tensor)
                                               and inp[0].requires_grad)

            def post(mod_, inp, out, name=name):
                assert self.stack.pop() == name

            self.hooks += [mod.register_forward_pre_hook(pre),
                           mod.register_forward_hook(post, always_call=True)]

    def current(self):
        return self.stack[-1] if self.stack else "(root)"

    def remove(self):
        for h in self.hooks:
            h.remove()


class SplitMode(TorchDispatchMode):
    """Re-evaluates torch's own flop formulas per op, split into forward / input / weight gradient."""

    def __init__(self, m, tracker):
        super().__init__()
        self.tracker = tracker
        self.param_owner = {}
        for mname, mod in m.named_modules():
            for p in mod.parameters(recurse=False):
                self.param_owner[storage_ptr(p)] = mname
        # storage of a Linear's input -> (module, the tensor: kept alive so that autograd freeing it
        # during the backward cannot let a gradient reuse the address)
        self.linear_input = {}
        self.phase = "forward"
        # module -> column -> MACs
        self.macs = defaultdict(lambda: defaultdict(int))
        self.total_flops = {"forward": 0, "backward": 0}
        self.ops = defaultdict(int)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        if packet in flop_registry:
            self.record(packet, args, kwargs, out)
        return out

    def formula(self, packet, args, kwargs, out):
        f = flop_registry[packet](*args, **kwargs, out_val=out)
        assert f % 2 == 0, (packet, f)
        return f

    def record(self, packet, args, kwargs, out):
        f = self.formula(packet, args, kwargs, out)
        self.total_flops[self.phase] += f
        self.ops[(self.phase, str(packet))] += 1
        if self.phase == "forward":
            mod = self.tracker.current()
            if packet is aten.convolution:
                self.macs[mod]["groups"] = args[8]
            elif packet is aten.addmm:
                self.linear_input[storage_ptr(args[1])] = (mod, args[1])
            else:
                raise AssertionError(f"unexpected op with a flop formula in the forward: {packet}")
            self.macs[mod]["forward_macs"] += f // 2
            return
        if packet is aten.convolution_backward:
            mask = list(args[10])
            a_in, a_w = list(args), list(args)
            a_in[10] = [mask[0], False, False]
            a_w[10] = [False, mask[1], False]
            f_in = self.formula(packet, a_in, kwargs, out)
            f_w = self.formula(packet, a_w, kwargs, out)
            assert f_in + f_w == f, (f_in, f_w, f)
            groups = args[9]
            assert f_w % (2 * groups) == 0
            mod = self.param_owner[storage_ptr(args[2])]
            d = self.macs[mod]
            d["backward_input_macs"] += f_in // 2
            d["backward_weight_macs_torch"] += f_w // 2
            d["backward_weight_macs_physical"] += f_w // 2 // groups
        elif packet is aten.mm:
            owners = [self.param_owner.get(storage_ptr(a)) for a in args[:2]]
            owners = [o for o in owners if o is not None]
            if owners:
                assert len(owners) == 1
                self.macs[owners[0]]["backward_input_macs"] += f // 2
            else:
                mods = [self.linear_input[storage_ptr(a)][0] for a in args[:2]
                        if storage_ptr(a) in self.linear_input]
                assert len(mods) == 1, mods
                d = self.macs[mods[0]]
                d["backward_weight_macs_torch"] += f // 2
                d["backward_weight_macs_physical"] += f // 2
        else:
            raise AssertionError(f"unexpected op with a flop formula in the backward: {packet}")


def make_batch(n, res, classes):
    torch.manual_seed(1)
    x = torch.randn(n, 3, res, res)
    target = torch.randint(classes, (n,))
    assert target.dtype == torch.int64
    return x, target


def count_step(m, x, target):
    tracker = Tracker(m)
    split = SplitMode(m, tracker)
    with split:
        with FlopCounterMode(display=False) as fc_f:
            out = m(x)
            tracker.stack.append("loss")
            if "loss" not in tracker.input_rg:
                tracker.order.append("loss")
                tracker.input_rg["loss"] = out.requires_grad
            loss = F.cross_entropy(out, target)
            tracker.stack.pop()
        split.phase = "backward"
        with FlopCounterMode(display=False) as fc_b:
            loss.backward()
    tracker.remove()
    ff, fb = fc_f.get_total_flops(), fc_b.get_total_flops()
    assert ff % 2 == 0 and fb % 2 == 0
    assert split.total_flops == {"forward": ff, "backward": fb}, (split.total_flops, ff, fb)
    return ff // 2, fb // 2, split, tracker


def saved_tensors(m, x, target):
    """Returns [(module, tensor)] for every pack event of one forward + loss."""
    tracker = Tracker(m)
    events = []

    def pack(t):
        events.append((tracker.current(), t))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = m(x)
        tracker.stack.append("loss")
        F.cross_entropy(out, target)
        tracker.stack.pop()
    tracker.remove()
    return events


def classify_saved(m, events):
    """Dedup by storage; returns totals by category, per-module attribution, raw bytes."""
    params = {storage_ptr(p) for p in m.parameters()}
    buffers = {storage_ptr(b) for b in m.buffers()}
    mods = dict(m.named_modules())
    seen = set()
    per_mod = defaultdict(lambda: defaultdict(int))
    tot = defaultdict(int)
    for mod, t in events:
        raw = t.numel() * t.element_size()
        per_mod[mod]["saved_bytes_raw"] += raw
        tot["saved_bytes_raw"] += raw
        st = t.untyped_storage()
        if st.nbytes() == 0:
            continue
        ptr = st.data_ptr()
        if ptr in seen:
            continue
        seen.add(ptr)
        assert st.nbytes() == t.nbytes, (mod, t.shape, st.nbytes(), t.nbytes)
        if ptr in params:
            cat = "param"
        elif ptr in buffers:
            cat = "buffer"
        elif t.dim() == 1 and t.is_floating_point():
            cat = "stat"
            assert isinstance(mods[mod], nn.modules.batchnorm._BatchNorm), (mod, t.shape)
        else:
            cat = "act"
        col = {"act": "saved_activation_bytes"}.get(cat, f"saved_{cat}_bytes")
        for d in (per_mod[mod], tot):
            d["saved_bytes"] += st.nbytes()
            d[col] += st.nbytes()
    return tot, per_mod


SAVED_COLS = ["saved_bytes", "saved_activation_bytes", "saved_param_bytes", "saved_buffer_bytes",
              "saved_stat_bytes", "saved_bytes_raw"]
MAC_COLS = ["forward_macs", "backward_input_macs", "backward_weight_macs_torch",
            "backward_weight_macs_physical"]


def check_backward_rule(m, split, tracker, b_in, b_wp, bwd):
    """physical = 2F - F1, weight (physical) = F, torch = 2F - F1 + sum (groups - 1) F_conv."""
    mods = dict(m.named_modules())
    trained = [n for n in tracker.order if isinstance(mods.get(n), (nn.Conv2d, nn.Linear))
               and mods[n].weight.requires_grad]
    fw = {n: split.macs[n]["forward_macs"] for n in trained}
    f, f1 = sum(fw.values()), fw[trained[0]]
    excess = sum((getattr(mods[n], "groups", 1) - 1) * fw[n] for n in trained)
    assert (b_in + b_wp, b_wp, bwd) == (2 * f - f1, f, 2 * f - f1 + excess), (b_in, b_wp, bwd, f, f1)


def run(model, head, setting, batch, res):
    m = build(model, head)
    classes = 1000 if head == "stock" else 2
    fb = apply_setting(m, model, setting)
    x, target = make_batch(batch, res, classes)
    fwd, bwd, split, tracker = count_step(m, x, target)
    m.zero_grad(set_to_none=True)
    tot, per_mod = classify_saved(m, saved_tensors(m, x, target))
    b_in = sum(d["backward_input_macs"] for d in split.macs.values())
    b_wt = sum(d["backward_weight_macs_torch"] for d in split.macs.values())
    b_wp = sum(d["backward_weight_macs_physical"] for d in split.macs.values())
    assert b_in + b_wt == bwd and sum(d["forward_macs"] for d in split.macs.values()) == fwd
    check_backward_rule(m, split, tracker, b_in, b_wp, bwd)
    row = dict(model=model, head=head, setting=setting, frozen_blocks=fb, batch=batch, resolution=res,
               classes=classes, params=sum(p.numel() for p in m.parameters()),
               trainable=sum(p.numel() for p in m.parameters() if p.requires_grad),
               forward_macs=fwd, backward_macs_torch=bwd, backward_input_macs=b_in,
               backward_weight_macs_torch=b_wt, backward_weight_macs_physical=b_wp,
               backward_macs_physical=b_in + b_wp,
               **{c: tot.get(c, 0) for c in SAVED_COLS},
               torch_version=TORCH_V, torchvision_version=TV_V)
    return row, m, split, tracker, per_mod


def layer_rows(key, row, m, split, tracker, per_mod):
    mods = dict(m.named_modules())
    mods["(root)"] = m
    out = []
    for name in tracker.order:
        mod = mods.get(name)
        typ = "cross_entropy" if name == "loss" else type(mod).__name__
        is_layer = isinstance(mod, (nn.Conv2d, nn.Linear))
        if not is_layer and per_mod.get(name, {}).get("saved_bytes_raw", 0) == 0:
            continue
        own = list(mod.parameters(recurse=False)) if mod is not None else []
        d = split.macs.get(name, {})
        if not is_layer:
            assert not any(d.get(c, 0) for c in MAC_COLS), (name, dict(d))
        out.append(dict(zip(KEYS, key), module=name, type=typ,
                        groups=mod.groups if isinstance(mod, nn.Conv2d) else "",
                        **{c: d.get(c, 0) for c in MAC_COLS},
                        params=sum(p.numel() for p in own),
                        trainable=bool(own) and all(p.requires_grad for p in own),
                        input_requires_grad=tracker.input_rg[name],
                        **{c: per_mod.get(name, {}).get(c, 0) for c in SAVED_COLS}))
    for c in MAC_COLS + SAVED_COLS:
        assert sum(r[c] for r in out) == row[c], (key, c)
    assert set(per_mod) <= {r["module"] for r in out}, set(per_mod) - {r["module"] for r in out}
    return out


def configs():
    for model in MODELS:
        for head in HEADS:
            for setting in ["full", "backbone", setting_name(model, "blocks")]:
                for batch in BATCHES:
                    yield model, head, setting, batch, 224
    for model, head, setting, res in EXTRA:
        for batch in BATCHES:
            yield model, head, setting, batch, res


def check_linearity(df):
    ok = True
    for key, g in df.groupby(["model", "head", "setting", "resolution"]):
        g = g.sort_values("batch")
        b = g.batch.tolist()
        for c in ["forward_macs", "backward_macs_torch", "backward_input_macs",
                  "backward_weight_macs_torch", "backward_weight_macs_physical"]:
            v = g[c].tolist()
            assert all(vi * b[0] == v[0] * bi for vi, bi in zip(v, b)), (key, c, v)
        for c in ["saved_param_bytes", "saved_buffer_bytes", "saved_stat_bytes", "params", "trainable"]:
            assert g[c].nunique() == 1, (key, c, g[c].tolist())
        a = g.saved_activation_bytes.tolist()
        slope = (a[-1] - a[0]) // (b[-1] - b[0])
        icpt = a[0] - slope * b[0]
        affine = all(ai == slope * bi + icpt for ai, bi in zip(a, b))
        ok &= affine
        print(f"  {key}: saved_activation_bytes = {slope}*N + {icpt} ({'exact' if affine else 'NOT affine'})"
              f"; bwd/fwd torch {g.backward_macs_torch.iloc[0] / g.forward_macs.iloc[0]:.3f}"
              f" physical {g.backward_macs_physical.iloc[0] / g.forward_macs.iloc[0]:.4f}", flush=True)
    assert ok, "saved activation bytes not affine in the batch"


def known_checks(df):
    ok = True
    for key, vals in KNOWN.items():
        r = df.set_index(KEYS).loc[key]
        for c, v in vals.items():
            good = int(r[c]) == v
            ok &= good
            print(f"{'PASS' if good else 'FAIL'} {key} {c} = {int(r[c])} (known {v})", flush=True)
    return ok


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(f"torch {TORCH_V} torchvision {TV_V} python {sys.version.split()[0]}", flush=True)
    t0 = time.time()
    rows, layers, ops = [], [], defaultdict(int)
    for key in configs():
        row, m, split, tracker, per_mod = run(*key)
        rows.append(row)
        for k, v in split.ops.items():
            ops[k] += v
        if key in LAYER_CASES:
            layers += layer_rows(key, row, m, split, tracker, per_mod)
        print(f"{key}: fwd {row['forward_macs']} bwd torch {row['backward_macs_torch']} "
              f"phys {row['backward_macs_physical']} saved {row['saved_bytes']} "
              f"t={time.time() - t0:.0f}s", flush=True)
    df = pd.DataFrame(rows).sort_values(KEYS, kind="mergesort").reset_index(drop=True)
    df.to_csv(os.path.join(HERE, "training_totals.csv"), index=False)
    lf = pd.DataFrame(layers)
    lf.to_csv(os.path.join(HERE, "training_layers.csv"), index=False)
    print(f"totals: {len(df)} rows, layers: {len(lf)} rows, {time.time() - t0:.0f}s", flush=True)
    print("ops with a flop formula (phase, op: calls):", dict(ops))
    check_linearity(df)
    assert known_checks(df), "a known value is not reproduced"
