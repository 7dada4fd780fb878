"""Ground truth for the Keras transfer-learning recipe on keras.applications MobileNets: parameter counts
and the mult-adds of one training step measured on the torch backend.

Usage (Keras 3.15.1 on torch 2.13.0 (CPU), numpy, pandas; no weights are downloaded -- weights=None, and
keras.utils.get_file is patched to raise):
    KERAS_BACKEND=torch python tests/data/generators/keras_training_truth.py
Writes keras_training.csv into tests/data (about a minute). If training_totals.csv (written by
training_truth.py) is present, the step counts are compared with its torch rows, printed only.

The recipe (Keras' transfer-learning guide, adapted to 2 classes with logits):
    base = keras.applications.<Model>(weights=None, include_top=False, input_shape=(224, 224, 3))
           (alpha 1.0; MobileNetV3* with its default include_preprocessing=True, a Rescaling layer)
    base.trainable = False              # setting "frozen";  True for setting "full"
    inputs = keras.Input((224, 224, 3)); x = base(inputs, training=False)
    x = GlobalAveragePooling2D()(x); x = Dense(320, "relu")(x); x = Dense(320, "relu")(x)
    outputs = Dense(2)(x)               # linear: the loss gets from_logits=True
    model.compile(Adam(1e-3), SparseCategoricalCrossentropy(from_logits=True), jit_compile=False)
  The base is called with training=False in both settings, as in the guide (its BatchNormalization
  layers run in inference mode even when the base is trainable); this changes no mult-add count.
Columns:
  params = model.count_params() (Keras counts BN moving mean / variance as (non-trainable) weights);
  trainable / non_trainable = sums of the sizes of model.trainable_weights / non_trainable_weights
  (asserted to add up to params);
  step_macs = torch.utils.flop_counter.FlopCounterMode total flops // 2 of one
  model.train_on_batch(x, y) at batch 2 (x = float32 N(0,1) of shape (2, 224, 224, 3), seeded; y int
  labels in {0, 1}): forward, loss, backward and the Adam update together. A first train_on_batch
  (outside the counter) builds the optimizer / metric state; two further counted steps are asserted
  equal. Extra columns from a TorchDispatchMode under the counter (it sees exactly the ops the
  counter counts) that re-evaluates torch's own flop formula per op: forward_macs (aten.convolution,
  and aten.mm with grad mode on = Dense), backward_macs_torch (aten.convolution_backward, aten.mm in
  the backward: grad mode off), backward_input_macs / backward_weight_macs_torch (convolution_backward
  re-evaluated with output_mask [m0,0,0] / [0,m1,0]; a backward mm is an input gradient when an operand
  shares storage with a Keras variable -- the Dense kernel --, else a weight gradient),
  backward_weight_macs_physical (the conv weight part divided by groups; torch's formula ignores
  groups) and backward_macs_physical = input + physical weight. Asserted: forward + backward ==
  step_macs; forward_macs == the counter's total for a separate model(x, training=True) call.
  batch = 2; keras_version; backend_torch_version.
Known: MobileNet alpha 1 frozen: params 3,660,226, trainable 431,362 (asserted).

Findings (Keras 3.15.1 / torch 2.13.0 vs training_truth.py's torch 2.14.1 rows with head "keras",
settings backbone (= frozen) and full, batch 2): every MAC column is *identical* for all four models
and both settings (step = forward + counter backward; the split input / weight / physical too), so
torch 2.13's formulas behave like 2.14.1's, including the conv weight gradient that ignores groups.
Why: the conv layers are the same -- checked layer by layer (kernel, in / out channels, groups,
output size, bias): 27 / 52 / 62 / 52 convs for MobileNet / V2 / V3-Large / V3-Small -- and the
Dense layers do the same mm work as torch's Linear (forward aten.mm instead of addmm, bias added
separately, uncounted either way). A frozen base builds no autograd graph (Keras' torch variables
have requires_grad = trainable), so the first Dense gets its weight gradient only, as in torch.
What differs, none of it counted by FlopCounterMode: padding -- Keras pads stride-2 depthwise convs
with ZeroPadding2D ((0,1),(0,1)) for 3x3, ((1,2),(1,2)) for 5x5 and "valid", and its stride-2
"same" stems are padded (0,1) by F.pad on the torch backend, where torchvision pads symmetrically
(1, resp. 2); same output sizes, so the same MACs but numerically a different function (weights are
not interchangeable without shifting); BatchNormalization eps 1e-3 / momentum 0.99 (MobileNet) or
0.999 (V2, V3) vs torchvision 1e-5 / 0.1 (V2) and 1e-3 / 0.01 (V3) -- the same number of BN layers
and channels; hard-swish / hard-sigmoid built from ReLU(6) + Multiply layers; the V3 Rescaling layer;
the layout (NHWC, permuted to NCHW around every conv: views). Parameters: Keras' count_params()
exceeds torch's by 2 per BN channel (moving mean / variance are non-trainable weights in Keras,
buffers in torch); the trainable counts are equal (frozen: the head only, as in torch's backbone
setting; full: Keras trainable == torch's total params).
"""
import os
import sys
import time
from collections import defaultdict

os.environ.setdefault("KERAS_BACKEND", "torch")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import keras  # noqa: E402
import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode, flop_registry  # noqa: E402

assert keras.backend.backend() == "torch", "run with KERAS_BACKEND=torch"
HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # writes into tests/data
KV = keras.__version__
TV = torch.__version__
A = keras.applications
aten = torch.ops.aten
MODELS = {"MobileNet": A.MobileNet, "MobileNetV2": A.MobileNetV2,
          "MobileNetV3Large": A.MobileNetV3Large, "MobileNetV3Small": A.MobileNetV3Small}
TORCH_NAME = {"MobileNet": "v1", "MobileNetV2": "v2", "MobileNetV3Large": "v3_large",
              "MobileNetV3Small": "v3_small"}
SETTINGS = ["frozen", "full"]
BATCH = 2
KNOWN = {("MobileNet", "frozen"): (3660226, 431362)}


def _no_download(*a, **k):
    raise RuntimeError("this script must not download weights")


keras.utils.get_file = _no_download
import keras.src.utils.file_utils as _fu  # noqa: E402

_fu.get_file = _no_download


def build(name, setting):
    keras.utils.set_random_seed(0)
    base = MODELS[name](weights=None, include_top=False, input_shape=(224, 224, 3), alpha=1.0)
    base.trainable = setting == "full"
    inputs = keras.Input((224, 224, 3))
    x = base(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(320, activation="relu")(x)
    x = keras.layers.Dense(320, activation="relu")(x)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  jit_compile=False)
    return model, base


def counts(m):
    total = m.count_params()
    tr = int(sum(np.prod(w.shape) for w in m.trainable_weights))
    ntr = int(sum(np.prod(w.shape) for w in m.non_trainable_weights))
    assert tr + ntr == total, (tr, ntr, total)
    return total, tr, ntr


def sptr(t):
    return t.untyped_storage().data_ptr()


class SplitMode(TorchDispatchMode):
    def __init__(self, model):
        super().__init__()
        self.var_storages = {sptr(v.value) for v in model.weights}
        self.c = defaultdict(int)
        self.ops = defaultdict(int)

    def formula(self, packet, args, kwargs, out):
        f = flop_registry[packet](*args, **kwargs, out_val=out)
        assert f % 2 == 0
        return f // 2

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func._overloadpacket
        if packet not in flop_registry:
            return out
        grad_on = torch.is_grad_enabled()
        self.ops[(str(packet), grad_on)] += 1
        mac = self.formula(packet, args, kwargs, out)
        if packet is aten.convolution or (packet is aten.mm and grad_on):
            self.c["forward_macs"] += mac
        elif packet is aten.convolution_backward:
            mask = list(args[10])
            a_in, a_w = list(args), list(args)
            a_in[10], a_w[10] = [mask[0], False, False], [False, mask[1], False]
            m_in, m_w = self.formula(packet, a_in, kwargs, out), self.formula(packet, a_w, kwargs, out)
            assert m_in + m_w == mac and m_w % args[9] == 0
            self.c["backward_input_macs"] += m_in
            self.c["backward_weight_macs_torch"] += m_w
            self.c["backward_weight_macs_physical"] += m_w // args[9]
        elif packet is aten.mm:
            if any(sptr(a) in self.var_storages for a in args[:2]):
                self.c["backward_input_macs"] += mac
            else:
                self.c["backward_weight_macs_torch"] += mac
                self.c["backward_weight_macs_physical"] += mac
        else:
            raise AssertionError(f"unexpected op with a flop formula: {packet} (grad mode {grad_on})")
        return out


def measure(model):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((BATCH, 224, 224, 3)).astype("float32")
    y = rng.integers(0, 2, size=(BATCH,)).astype("int64")
    model.train_on_batch(x, y)  # builds optimizer / metrics state
    steps, split = [], None
    for _ in range(2):
        split = SplitMode(model)
        with split:
            with FlopCounterMode(display=False) as fc:
                model.train_on_batch(x, y)
        f = fc.get_total_flops()
        assert f % 2 == 0
        steps.append(f // 2)
    assert steps[0] == steps[1], steps
    c = dict(split.c)
    bwd = c["backward_input_macs"] + c["backward_weight_macs_torch"]
    assert c["forward_macs"] + bwd == steps[0], (c, steps)
    with FlopCounterMode(display=False) as fc:
        model(keras.ops.convert_to_tensor(x), training=True)
    assert fc.get_total_flops() // 2 == c["forward_macs"], (fc.get_total_flops() // 2, c)
    return dict(step_macs=steps[0], forward_macs=c["forward_macs"], backward_macs_torch=bwd,
                backward_input_macs=c["backward_input_macs"],
                backward_weight_macs_torch=c["backward_weight_macs_torch"],
                backward_weight_macs_physical=c["backward_weight_macs_physical"],
                backward_macs_physical=c["backward_input_macs"] + c["backward_weight_macs_physical"]
                ), dict(split.ops)


def compare_with_torch(df):
    path = os.path.join(HERE, "training_totals.csv")
    if not os.path.exists(path):
        print("training_totals.csv not found: no comparison")
        return
    t = pd.read_csv(path)
    cols = ["forward_macs", "backward_macs_torch", "backward_input_macs", "backward_weight_macs_torch",
            "backward_weight_macs_physical"]
    for r in df.to_dict("records"):
        tr = t[(t.model == TORCH_NAME[r["model"]]) & (t["head"] == "keras") & (t.batch == BATCH)
               & (t.resolution == 224)
               & (t.setting == {"frozen": "backbone", "full": "full"}[r["setting"]])]
        assert len(tr) == 1
        tr = tr.iloc[0]
        tstep = int(tr.forward_macs + tr.backward_macs_torch)
        diffs = {c: int(r[c]) - int(tr[c]) for c in cols}
        print(f"{r['model']} {r['setting']}: keras step {r['step_macs']} vs torch "
              f"{TORCH_NAME[r['model']]}/keras/{tr.setting} {tstep} (diff {r['step_macs'] - tstep}); "
              f"keras - torch per column: {diffs}; params keras {r['params']} torch {tr.params}, "
              f"trainable keras {r['trainable']} torch {tr.trainable}", flush=True)


if __name__ == "__main__":
    torch.set_num_threads(2)
    print(f"keras {KV} backend {keras.backend.backend()} torch {TV} python {sys.version.split()[0]}",
          flush=True)
    t0 = time.time()
    rows = []
    for name in MODELS:
        for setting in SETTINGS:
            model, base = build(name, setting)
            params, tr, ntr = counts(model)
            if (name, setting) in KNOWN:
                assert (params, tr) == KNOWN[(name, setting)], (name, setting, params, tr)
            macs, ops = measure(model)
            rows.append(dict(model=name, alpha=1.0, setting=setting, params=params, trainable=tr,
                             non_trainable=ntr, **macs, batch=BATCH, keras_version=KV,
                             backend_torch_version=TV))
            print(f"{name} {setting}: params {params} trainable {tr} non-trainable {ntr} "
                  f"layers in base {len(base.layers)}; {macs}; ops {ops}; t={time.time() - t0:.0f}s",
                  flush=True)
    df = pd.DataFrame(rows)
    order = ["model", "alpha", "setting", "params", "trainable", "non_trainable", "step_macs", "batch",
             "keras_version", "backend_torch_version"]
    df = df[order + [c for c in df.columns if c not in order]]
    df.to_csv(os.path.join(HERE, "keras_training.csv"), index=False)
    print(f"keras_training.csv: {len(df)} rows, {time.time() - t0:.0f}s", flush=True)
    compare_with_torch(df)
