"""mnetcost against the frameworks' own counts, computed with the real libraries (not with mnetcost)
by the scripts in tests/data/generators: torchvision 0.29.1 (params = sum of parameter sizes, MACs =
FlopCounterMode / 2) and Keras 3.15.1 (count_params() and the trainable part). See tests/data/README.md."""

import csv
from itertools import groupby
from pathlib import Path

import pytest

import mnetcost

DATA = Path(__file__).parent / "data"
TV_NAMES = {"mobilenet_v2": "v2", "mobilenet_v3_large": "v3-large", "mobilenet_v3_small": "v3-small"}
KERAS_NAMES = {"MobileNet": "v1", "MobileNetV2": "v2", "MobileNetV3Large": "v3-large", "MobileNetV3Small": "v3-small"}


def rows(name):
    return list(csv.DictReader(open(DATA / name, encoding="utf-8")))


TV_TOTALS = rows("torchvision_totals.csv")
KERAS_TOTALS = rows("keras_totals.csv")


@pytest.mark.parametrize("model", sorted(TV_NAMES))
def test_torchvision_totals(model):
    """Every width (0.25-1.4), resolution (96-331, odd 97 included) and class count (10, 1000, 1001)."""
    cases = [r for r in TV_TOTALS if r["model"] == model]
    assert len(cases) == 147
    wrong = []
    for r in cases:
        c = mnetcost.cost(TV_NAMES[model], alpha=float(r["width_mult"]), resolution=int(r["resolution"]),
                          classes=int(r["num_classes"]), convention="torchvision")
        if (c.params, c.macs) != (int(r["params"]), int(r["macs"])):
            wrong.append((r["width_mult"], r["resolution"], r["num_classes"], r["params"], r["macs"], c.params, c.macs))
    assert not wrong


def torchvision_layers():
    """torchvision's leaf modules folded into mnetcost's primitive layers: a conv with its BatchNorm,
    an SE block's two 1x1 convs, each Linear."""
    out = {}
    for key, group in groupby(rows("torchvision_layers.csv"), key=lambda r: (r["model"], r["width_mult"], r["resolution"])):
        layers = []
        for r in group:
            params, macs = int(r["params"]), int(r["macs"])
            if r["type"] == "BatchNorm2d" or r["module_name"].endswith(".fc2"):
                layers[-1]["params"] += params
                layers[-1]["macs"] += macs
                continue
            layers.append({"name": r["module_name"], "params": params, "macs": macs, "shape": r["output_shape"],
                           "c_out": int(r["out_channels"]) if not r["module_name"].endswith(".fc1") else int(r["in_channels"])})
        out[key] = layers
    return out


@pytest.mark.parametrize("key", sorted(torchvision_layers()), ids=lambda k: "-".join(k))
def test_torchvision_per_layer(key):
    model, width, res = key
    theirs = torchvision_layers()[key]
    r = mnetcost.cost(TV_NAMES[model], alpha=float(width), resolution=int(res), convention="torchvision").layers
    ours = r[~r["op"].isin(["pool", "add"])]
    assert len(ours) == len(theirs)
    for (_, o), t in zip(ours.iterrows(), theirs):
        assert (o["params"], o["macs"], o["c_out"]) == (t["params"], t["macs"], t["c_out"]), (o["name"], t["name"])
        if o["op"] not in ("fc", "se"):
            assert f"{o['h_out']}x{o['w_out']}x{o['c_out']}" == t["shape"], (o["name"], t["name"])


@pytest.mark.parametrize("model", sorted(KERAS_NAMES))
def test_keras_count_params(model):
    """count_params() and the trainable part, with and without the top, minimalistic too, any classes."""
    cases = [r for r in KERAS_TOTALS if r["model"] == model]
    assert cases
    wrong = []
    for r in cases:
        name = KERAS_NAMES[model] + ("-min" if r["minimalistic"] == "True" else "")
        top = r["include_top"] == "True"
        c = mnetcost.cost(name, alpha=float(r["alpha"]), resolution=int(r["resolution"]), convention="keras",
                          classes=int(r["classes"]) if top else None, top=top)
        if (c.params, c.trainable) != (int(r["params_total"]), int(r["params_trainable"])):
            wrong.append((name, r["alpha"], r["classes"], top, r["params_total"], c.params))
    assert not wrong


def test_known_values_of_the_issue():
    """The anchors quoted in the core issue, each from its framework."""
    assert (mnetcost.cost("v2", convention="torchvision").params, mnetcost.cost("v2", convention="torchvision").macs) == (3_504_872, 300_774_272)
    assert mnetcost.cost("v3-large", convention="torchvision").params == 5_483_032
    assert mnetcost.cost("v3-small", convention="torchvision").params == 2_542_856
    v1 = mnetcost.cost("v1", convention="torchvision")
    assert (v1.params, v1.macs) == (4_231_976, 568_740_352)
    assert mnetcost.cost("v1", convention="keras").params == 4_253_864
    assert mnetcost.cost("v2", convention="keras").params == 3_538_984


MNAS_EFF = {"mnasnet0_5": "mnasnet-b1", "mnasnet0_75": "mnasnet-b1", "mnasnet1_0": "mnasnet-b1", "mnasnet1_3": "mnasnet-b1",
            "efficientnet_b0": "efficientnet-b0"}


def test_mnasnet_and_efficientnet_totals():
    """torchvision's mnasnet0_5/0_75/1_0/1_3 and efficientnet_b0 at 7 resolutions (97 and 331 included), 3 class counts."""
    cases = rows("torchvision_mnasnet_efficientnet_totals.csv")
    assert len(cases) == 105
    wrong = []
    for r in cases:
        c = mnetcost.cost(MNAS_EFF[r["model"]], alpha=float(r["alpha"]), resolution=int(r["resolution"]),
                          classes=int(r["num_classes"]), convention="torchvision")
        if (c.params, c.macs) != (int(r["params"]), int(r["macs"])):
            wrong.append((r["model"], r["resolution"], r["num_classes"], r["params"], c.params, r["macs"], c.macs))
    assert not wrong
    assert mnetcost.cost("mnasnet-b1", convention="torchvision").params == 4_383_312
    assert mnetcost.cost("efficientnet-b0", convention="torchvision").params == 5_288_548


@pytest.mark.parametrize("model, alpha", [("mnasnet1_0", 1.0), ("mnasnet0_5", 0.5), ("efficientnet_b0", 1.0)])
def test_mnasnet_and_efficientnet_per_layer(model, alpha):
    theirs = []
    for r in rows("torchvision_mnasnet_efficientnet_layers.csv"):
        if r["model"] != model:
            continue
        if r["type"] == "BatchNorm2d" or r["module"].endswith("fc2"):
            theirs[-1]["params"] += int(r["params"])
            theirs[-1]["macs"] += int(r["macs"])
        else:
            theirs.append({"name": r["module"], "params": int(r["params"]), "macs": int(r["macs"]), "shape": r["out_hwc"]})
    ours = mnetcost.cost(MNAS_EFF[model], alpha=alpha, convention="torchvision").layers
    ours = ours[~ours["op"].isin(["pool", "add"])]
    assert len(ours) == len(theirs)
    for (_, o), t in zip(ours.iterrows(), theirs):
        assert (o["params"], o["macs"]) == (t["params"], t["macs"]), (o["name"], t["name"])
        if o["op"] not in ("fc", "se"):
            assert f"{o['h_out']}x{o['w_out']}x{o['c_out']}" == t["shape"], (o["name"], t["name"])


# torchvision's detection and segmentation models on MobileNetV3-Large, and the mnetcost tables for them
HEADS = {"lraspp_mobilenet_v3_large": "lraspp-v3-large", "deeplabv3_mobilenet_v3_large": "deeplabv3-v3-large",
         "ssdlite320_mobilenet_v3_large": "ssdlite-v3-large"}


def _head_cost(r):
    return mnetcost.cost(HEADS[r["model"]], alpha=float(r["width_mult"]), resolution=int(r["resolution"]),
                         classes=int(r["num_classes"]), aux=r["aux"] == "1", reduced_tail=r["reduced_tail"] == "1",
                         convention="torchvision")


def test_torchvision_heads_totals():
    """LR-ASPP and DeepLabV3 (aux on and off) at 224-520 px, 10 and 21 classes; SSDLite with the full and the
    reduced tail at widths 0.5-1.25, 224-321 px, 21 and 91 classes: 90 models, backbone and head."""
    cases = rows("torchvision_heads_totals.csv")
    assert len(cases) == 90
    wrong = [(r["model"], r["aux"], r["reduced_tail"], r["width_mult"], r["resolution"], r["num_classes"])
             for r in cases if (_head_cost(r).params, _head_cost(r).macs) != (int(r["params"]), int(r["macs"]))]
    assert not wrong


def test_torchvision_heads_published_metadata():
    """torchvision's num_params and _ops (GMACs despite the label) of its three published models."""
    lraspp = mnetcost.cost("lraspp-v3-large", convention="torchvision")
    assert (lraspp.params, lraspp.macs, lraspp.resolution, lraspp.classes) == (3_221_538, 2_086_219_688, 520, 21)
    deeplab = mnetcost.cost("deeplabv3-v3-large", convention="torchvision", aux=True)
    assert (deeplab.params, deeplab.macs) == (11_029_328, 10_452_447_938)
    ssd = mnetcost.cost("ssdlite-v3-large", convention="torchvision", resolution=320, classes=91, reduced_tail=True)
    assert (ssd.params, ssd.macs) == (3_440_060, 583_171_904)


ZERO_COST = {"upsample": "interpolate", "concat": "cat", "add": "add", "mul": "mul"}


@pytest.mark.parametrize("key", sorted({(r["model"], r["aux"], r["reduced_tail"], r["width_mult"], r["resolution"],
                                         r["num_classes"]) for r in rows("torchvision_heads_layers.csv")}),
                         ids=lambda k: "-".join(k))
def test_torchvision_heads_per_layer(key):
    """Every convolution (with its BatchNorm), squeeze-excite, upsampling, concatenation, addition and
    multiplication of the head models, as multisets of (params, MACs, output shape): the same layers,
    whatever order the frameworks run them in."""
    model, aux, tail, width, res, classes = key
    convs, zero, previous = [], [], ""
    for r in rows("torchvision_heads_layers.csv"):
        if (r["model"], r["aux"], r["reduced_tail"], r["width_mult"], r["resolution"], r["num_classes"]) != key:
            continue
        gate, previous = previous == "Hardsigmoid", r["type"]
        if r["type"] == "BatchNorm2d" or r["module_name"].endswith(".fc2"):
            convs[-1][0] += int(r["params"])
            convs[-1][1] += int(r["macs"])
        elif r["type"] == "Conv2d":
            shape = "se" if r["module_name"].endswith(".fc1") else r["output_shape"]
            convs.append([int(r["params"]), int(r["macs"]), shape])
        elif r["type"] in ZERO_COST.values() and r["output_shape"].count("x") == 2 and not gate:
            zero.append((r["type"], r["output_shape"]))  # SE's gating multiply is part of mnetcost's se layer
    ours = _head_cost({"model": model, "aux": aux, "reduced_tail": tail, "width_mult": width, "resolution": res,
                       "num_classes": classes}).layers
    shape = ours["h_out"].astype(str) + "x" + ours["w_out"].astype(str) + "x" + ours["c_out"].astype(str)
    our_convs = [(p, m, "se" if op == "se" else s) for p, m, op, s in zip(ours["params"], ours["macs"], ours["op"], shape)
                 if op in ("conv", "pw", "dw", "se")]
    our_zero = [(ZERO_COST[op], s) for op, s in zip(ours["op"], shape) if op in ZERO_COST]
    assert sorted(our_convs) == sorted(map(tuple, convs))
    assert sorted(our_zero) == sorted(zero)


@pytest.mark.parametrize("key", sorted({(r["model"], r["aux"], r["reduced_tail"], r["width_mult"], r["resolution"],
                                         r["num_classes"]) for r in rows("torchvision_heads_layers.csv")}),
                         ids=lambda k: "-".join(k))
def test_torchvision_heads_backbone_and_head_parts(key):
    """by_part splits a head model where torchvision does: its MobileNetV3 feature extractor (SSDLite's extra
    layers belong to the detector, as in the papers) and everything after it."""
    model, aux, tail, width, res, classes = key
    layers = [r for r in rows("torchvision_heads_layers.csv")
              if (r["model"], r["aux"], r["reduced_tail"], r["width_mult"], r["resolution"], r["num_classes"]) == key]
    prefix = "backbone.features." if model.startswith("ssdlite") else "backbone."
    backbone = [r for r in layers if r["module_name"].startswith(prefix)]
    theirs = {"backbone": (sum(int(r["params"]) for r in backbone), sum(int(r["macs"]) for r in backbone)),
              "head": (sum(int(r["params"]) for r in layers if r not in backbone),
                       sum(int(r["macs"]) for r in layers if r not in backbone))}
    parts = _head_cost({"model": model, "aux": aux, "reduced_tail": tail, "width_mult": width, "resolution": res,
                        "num_classes": classes}).by_part()
    assert {p: (int(row["params"]), int(row["macs"])) for p, row in parts.iterrows()} == theirs


@pytest.mark.parametrize("key", sorted({(r["model"], r["aux"], r["reduced_tail"], r["width_mult"], r["resolution"],
                                         r["num_classes"]) for r in rows("torchvision_heads_layers.csv")
                                        if r["model"].startswith("ssdlite")}), ids=lambda k: "-".join(k))
def test_torchvision_detector_head_per_feature_map(key):
    """by_map's head rows equal torchvision's extra layers and prediction blocks summed by the map size they write."""
    theirs = {}
    for r in rows("torchvision_heads_layers.csv"):
        if (r["model"], r["aux"], r["reduced_tail"], r["width_mult"], r["resolution"], r["num_classes"]) != key or \
                r["module_name"].startswith("backbone.features.") or r["output_shape"].count("x") != 2:
            continue
        size = r["output_shape"].rsplit("x", 1)[0]
        params, macs = theirs.get(size, (0, 0))
        theirs[size] = (params + int(r["params"]), macs + int(r["macs"]))
    model, aux, tail, width, res, classes = key
    maps = _head_cost({"model": model, "aux": aux, "reduced_tail": tail, "width_mult": width, "resolution": res,
                       "num_classes": classes}).by_map().loc["head"]
    assert {m: (int(row["params"]), int(row["macs"])) for m, row in maps.iterrows()} == theirs


# timm's MobileNets: the V4 models and their width variants, and the classic MobileNets on the existing tables
TIMM = {"mobilenetv4_conv_small": ("v4-conv-small", 1.0), "mobilenetv4_conv_medium": ("v4-conv-medium", 1.0),
        "mobilenetv4_conv_large": ("v4-conv-large", 1.0), "mobilenetv4_hybrid_medium": ("v4-hybrid-medium", 1.0),
        "mobilenetv4_hybrid_large": ("v4-hybrid-large", 1.0), "mobilenetv4_conv_small_035": ("v4-conv-small", 0.35),
        "mobilenetv4_conv_small_050": ("v4-conv-small", 0.5), "mobilenetv4_hybrid_medium_075": ("v4-hybrid-medium", 0.75),
        "mobilenetv4_hybrid_large_075": ("v4-hybrid-large", 0.75), "mobilenetv1_100": ("v1", 1.0),
        "mobilenetv2_050": ("v2", 0.5), "mobilenetv2_100": ("v2", 1.0), "mobilenetv2_140": ("v2", 1.4),
        "mobilenetv3_large_100": ("v3-large", 1.0), "mobilenetv3_small_100": ("v3-small", 1.0),
        "mnasnet_100": ("mnasnet-b1", 1.0), "efficientnet_b0": ("efficientnet-b0", 1.0)}


def _timm_cost(r):
    model, alpha = TIMM[r["model"]]
    return mnetcost.cost(model, alpha=alpha, resolution=int(r["resolution"]), classes=int(r["num_classes"]),
                         convention="timm")


def test_timm_totals():
    """17 timm models x 8 resolutions (96-384, odd 193 too) x 10 and 1000 classes: params, FlopCounterMode MACs
    with the attention matmuls counted (fused attention off), and those matmuls' own share."""
    cases = rows("timm_totals.csv")
    assert len(cases) == 272 and {r["model"] for r in cases} == set(TIMM)
    wrong = []
    for r in cases:
        c = _timm_cost(r)
        attention = int(c.layers.loc[c.layers["op"] == "attn", "macs"].sum())
        if (c.params, c.macs, attention) != (int(r["params"]), int(r["macs"]), int(r["attention_macs"])):
            wrong.append((r["model"], r["resolution"], r["num_classes"]))
    assert not wrong


def test_timm_known_values():
    """The figures the issue states (timm's, 1000 classes)."""
    small = mnetcost.cost("v4-conv-small", convention="timm", resolution=224)
    assert (small.params, small.macs) == (3_774_024, 186_005_568)
    hybrid = mnetcost.cost("v4-hybrid-medium", convention="timm", resolution=256)
    assert (hybrid.params, hybrid.macs) == (11_074_648, 1_271_183_360)
    assert hybrid.layers.loc[hybrid.layers["op"] == "attn", "macs"].sum() == 41_943_040


def _timm_layers(key):
    """timm's leaf modules grouped as mnetcost's primitive layers: a conv with its BatchNorm, a BatchNorm alone,
    an attention's two matmuls, a layer scale, a Linear; (params, MACs, HxWxC or None)."""
    out, previous = [], ""
    for r in rows("timm_layers.csv"):
        if (r["model"], r["resolution"], r["num_classes"]) != key:
            continue
        kind = r["type"]
        if kind.startswith("BatchNorm") and previous == "Conv2d":
            out[-1][0] += int(r["params"])
        elif kind == "aten.bmm" and previous == "aten.bmm":
            out[-1][1] += int(r["macs"])
        elif kind in ("Conv2d", "BatchNormAct2d", "BatchNorm2d", "aten.bmm", "LayerScale2d", "Linear"):
            shape = r["output_shape"] if kind in ("Conv2d", "BatchNormAct2d", "BatchNorm2d", "LayerScale2d") else None
            out.append([int(r["params"]), int(r["macs"]), shape])
        if kind not in ("ReLU", "GELU"):
            previous = kind
    return [tuple(x) for x in out]


@pytest.mark.parametrize("key", sorted({(r["model"], r["resolution"], r["num_classes"]) for r in rows("timm_layers.csv")}),
                         ids=lambda k: "-".join(k))
def test_timm_per_layer(key):
    """Every layer of two conv and two hybrid V4 models and a width variant, in order: params, MACs, output shape."""
    c = _timm_cost({"model": key[0], "resolution": key[1], "num_classes": key[2]}).layers
    c = c[~c["op"].isin(["add", "pool"])]
    ours = [(p, m, None if op in ("attn", "fc") and not (op == "fc" and bn) else f"{h}x{w}x{ch}")
            for p, m, op, bn, h, w, ch in zip(c["params"], c["macs"], c["op"], c["bn"], c["h_out"], c["w_out"], c["c_out"])]
    assert ours == _timm_layers(key)


def test_timm_fused_attention_counts_zero_on_cpu():
    """FlopCounterMode on timm's default (fused) attention on a CPU: measured by generators/timm_truth.py
    (FUSED_ON, fused_on_check) as 1,229,240,320 MACs for mobilenetv4_hybrid_medium at 256 px; the
    attention matmuls are the whole difference, which explain() attributes to them."""
    fused = mnetcost.cost("v4-hybrid-medium", convention="timm-fused", resolution=256)
    assert (fused.params, fused.macs, fused.mult_adds) == (11_074_648, 1_229_240_320, 1_271_183_360)
    why = mnetcost.explain("v4-hybrid-medium", "timm", "timm-fused").set_index("cause")
    assert why.loc["attention matmuls counted", "macs"] == -41_943_040 and why["macs"].sum() == -41_943_040


# One training step of torchvision's MobileNets, measured (generators/training_truth.py)
TRAIN_MODELS = {"v1": ("v1", 1.0), "v2": ("v2", 1.0), "v2_050": ("v2", 0.5), "v3_large": ("v3-large", 1.0),
                "v3_small": ("v3-small", 1.0)}
TRAIN_KEYS = {"params": "params", "trainable": "trainable", "forward_macs": "forward_macs",
              "backward_macs_torch": "backward_macs_torch", "backward_input_macs": "backward_input_macs",
              "backward_weight_macs_torch": "backward_weight_macs_torch",
              "backward_weight_macs_physical": "backward_weight_macs", "backward_macs_physical": "backward_macs",
              "saved_bytes": "saved_bytes", "saved_activation_bytes": "saved_activation_bytes",
              "saved_param_bytes": "saved_param_bytes", "saved_buffer_bytes": "saved_buffer_bytes",
              "saved_stat_bytes": "saved_stat_bytes"}


def _training(r):
    from mnetcost.train import training

    model, alpha = TRAIN_MODELS[r["model"]]
    freeze = {"full": None, "backbone": "backbone"}.get(r["setting"], None if r["setting"] == "full" else
                                                         r["frozen_blocks"])
    return training(model, alpha=alpha, resolution=int(r["resolution"]), convention="torchvision",
                    classes=int(r["classes"]), head=(320, 320) if r["head"] == "keras" else None,
                    freeze=int(freeze) if isinstance(freeze, str) and freeze.isdigit() else freeze, batch=int(r["batch"]))


def test_training_step_totals():
    """V1 (PyTorch's standard layout), V2 at widths 1.0 and 0.5, V3-Large, V3-Small; stock classifier and the
    Keras recipe's head; full fine-tuning, frozen backbone, frozen prefix; batches 1, 2, 8: forward and backward
    MACs as FlopCounterMode counts them and split (input / weight gradients, torch's and physical), parameters,
    and the bytes saved_tensors_hooks sees (deduplicated by storage, by category)."""
    cases = rows("training_totals.csv")
    assert len(cases) >= 90
    wrong = []
    for r in cases:
        t = _training(r).totals
        wrong += [(r["model"], r["head"], r["setting"], r["batch"], key) for key, ours in TRAIN_KEYS.items()
                  if int(r[key]) != t[ours]]
    assert not wrong


@pytest.mark.parametrize("key", sorted({(r["model"], r["head"], r["setting"], r["batch"], r["resolution"])
                                        for r in rows("training_layers.csv")}), ids=lambda k: "-".join(k))
def test_training_step_per_layer(key):
    """Every convolution and Linear (SE's two 1x1 convs as one layer), in order: forward MACs, input-gradient
    MACs, weight-gradient MACs as torch counts them and physically."""
    theirs = []
    for r in rows("training_layers.csv"):
        if (r["model"], r["head"], r["setting"], r["batch"], r["resolution"]) != key or r["type"] not in ("Conv2d", "Linear"):
            continue
        counts = [int(r[k]) for k in ("forward_macs", "backward_input_macs", "backward_weight_macs_torch",
                                      "backward_weight_macs_physical")]
        if r["module"].endswith(".fc2"):
            theirs[-1] = [a + b for a, b in zip(theirs[-1], counts)]
        else:
            theirs.append(counts)
    model, head, setting, batch, res = key
    sample = next(r for r in rows("training_totals.csv") if (r["model"], r["head"], r["setting"], r["batch"],
                                                             r["resolution"]) == key)
    t = _training(sample).layers
    t = t[t["op"].isin(["conv", "pw", "dw", "fc", "se"])]
    ours = [[int(v) for v in row] for row in t[["forward_macs", "backward_input_macs", "backward_weight_macs_torch",
                                                "backward_weight_macs"]].to_numpy()]
    assert ours == theirs


def test_keras_recipe_trainable_parameters():
    """Keras' count_params() and trainable weights of the recipe (frozen base) and of full fine-tuning, for
    MobileNet, MobileNetV2, MobileNetV3Large and MobileNetV3Small at alpha 1, and the mult-adds of a Keras
    training step on the torch backend (generators/keras_training_truth.py)."""
    from mnetcost.train import training

    tables = {"MobileNet": "v1", "MobileNetV2": "v2", "MobileNetV3Large": "v3-large", "MobileNetV3Small": "v3-small"}
    for r in rows("keras_training.csv"):
        t = training(tables[r["model"]], alpha=float(r["alpha"]), convention="keras", head=(320, 320), classes=2,
                     freeze="backbone" if r["setting"] == "frozen" else None).totals
        assert (t["params"], t["trainable"], t["frozen"]) == (int(r["params"]), int(r["trainable"]),
                                                              int(r["non_trainable"])), r["model"]
        # a Keras training step on the torch backend, batch 2, counted by FlopCounterMode
        assert int(r["batch"]) == 2
        t2 = training(tables[r["model"]], alpha=float(r["alpha"]), convention="keras", head=(320, 320), classes=2,
                      freeze="backbone" if r["setting"] == "frozen" else None, batch=2).totals
        assert (t2["forward_macs"], t2["backward_macs_torch"], t2["backward_input_macs"], t2["backward_macs"]) == \
            (int(r["forward_macs"]), int(r["backward_macs_torch"]), int(r["backward_input_macs"]),
             int(r["backward_macs_physical"])), r["model"]
