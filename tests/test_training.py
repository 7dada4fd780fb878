"""One training step: forward and backward mult-adds, freezing, trainable parameters, memory. The
framework-measured ground truth is in test_frameworks.py; here: the issue's known values, the rules'
structure (linearity in the batch, what freezing removes) and bad input."""

import json

import pytest

import mnetcost
from mnetcost.cli import main
from mnetcost.train import training, training_sweep


def test_known_values_v2_full_fine_tuning():
    """v2, stock classifier, full fine-tuning, batch 2, 224 px (torchvision; FlopCounterMode around the forward
    and around loss.backward())."""
    t = training("v2", convention="torchvision", batch=2, resolution=224).totals
    assert (t["forward_macs"], t["backward_macs"], t["backward_macs_torch"], t["trainable"]) == \
        (601_548_544, 1_181_421_056, 11_678_152_448, 3_504_872)


def test_keras_recipe_parameters():
    """MobileNet alpha 1 + GAP, Dense 320, Dense 320, Dense 2 with base_model.trainable = False."""
    t = training("v1", convention="keras", head=(320, 320), classes=2, freeze="backbone").totals
    assert (t["params"], t["trainable"], t["frozen"]) == (3_660_226, 431_362, 3_660_226 - 431_362)


@pytest.mark.parametrize("model, freeze", [("v2", None), ("v2", 14), ("v3-small", "backbone"), ("v1", 5),
                                           ("v4-hybrid-medium", 10), ("lraspp-v3-large", "backbone")])
def test_counts_are_linear_in_the_batch(model, freeze):
    convention = "timm" if model.startswith("v4") else "torchvision"
    one, eight = (training(model, convention=convention, freeze=freeze, batch=n).totals for n in (1, 8))
    for key in ("forward_macs", "backward_macs", "backward_macs_torch", "backward_input_macs", "backward_weight_macs"):
        assert eight[key] == 8 * one[key], key
    constant = one["saved_param_bytes"] + one["saved_buffer_bytes"] + one["saved_stat_bytes"]
    assert eight["saved_param_bytes"] + eight["saved_buffer_bytes"] + eight["saved_stat_bytes"] == constant
    per_image = one["saved_activation_bytes"] - 4  # the loss's scalar is the one constant activation
    assert eight["saved_activation_bytes"] == 8 * per_image + 4
    assert eight["trainable"] == one["trainable"] and eight["params"] == one["params"]


def test_backward_is_nearly_twice_the_forward_physically():
    """Full fine-tuning: 2 x forward minus the stem's input gradient (the image needs none)."""
    r = mnetcost.cost("v2", convention="torchvision")
    t = training("v2", convention="torchvision").totals
    stem = int(r.layers["mult_adds"].iloc[0])
    assert t["backward_macs"] == 2 * t["forward_macs"] - stem
    assert t["backward_macs_torch"] > 18 * t["forward_macs"]  # torch's depthwise weight gradient x channels


def test_torch_overcounts_depthwise_weight_gradients_by_their_channels():
    t = training("v2", convention="torchvision").layers.set_index("name")
    dw = t.loc["bneck2.1.dw"]
    channels = mnetcost.cost("v2", convention="torchvision").layers.set_index("name").loc["bneck2.1.dw", "c_in"]
    assert dw["backward_weight_macs_torch"] == channels * dw["backward_weight_macs"] == channels * dw["forward_macs"]


def test_freezing_a_prefix_removes_its_backward_and_the_first_trainable_input_gradient():
    t = training("v2", convention="torchvision", freeze=14)
    layers = t.layers
    frozen = layers[layers["frozen"]]
    assert set(frozen["block"]) == set(t.cost.by_block().index[:14])
    assert (frozen[["backward_input_macs", "backward_weight_macs", "saved_bytes"]] == 0).all().all()
    first = layers[~layers["frozen"]].iloc[0]
    assert first["backward_input_macs"] == 0 and first["backward_weight_macs"] == first["forward_macs"]
    assert layers[~layers["frozen"]].iloc[1]["backward_input_macs"] > 0


def test_freeze_backbone_is_what_no_top_keeps():
    t = training("v2", convention="torchvision", head=(320, 320), classes=2, freeze="backbone")
    no_top = mnetcost.cost("v2", convention="torchvision", top=False)
    assert t.totals["frozen"] == no_top.params
    assert t.totals["backward_input_macs"] == 320 * 320 + 320 * 2  # the first dense layer needs no input gradient


def test_optimizer_state_and_memory():
    sgd, momentum, adam = (training("v3-small", convention="torchvision", optimizer=o).totals
                           for o in ("sgd", "momentum", "adam"))
    assert momentum["optimizer_bytes"] == 4 * sgd["trainable"] and adam["optimizer_bytes"] == 8 * sgd["trainable"]
    assert sgd["training_bytes"] == (sgd["weight_bytes"] + sgd["gradient_bytes"] + sgd["saved_activation_bytes"]
                                     + sgd["saved_stat_bytes"])


@pytest.mark.parametrize("model, convention", [("v2", "torchvision"), ("v3-large", "keras"), ("v4-hybrid-medium", "timm"),
                                               ("ssdlite-v3-large", "torchvision"), ("efficientnet-b0", "torchvision")])
@pytest.mark.parametrize("count", ["physical", "torch"])
def test_training_sweep_equals_training(model, convention, count):
    freeze = {"ssdlite-v3-large": "backbone"}.get(model, 5)
    frame = training_sweep(model, [0.35, 0.75, 1.0], [160, 225], convention=convention, freeze=freeze, batch=3,
                           count=count)
    key = "backward_macs_torch" if count == "torch" else "backward_macs"
    for row in frame.itertuples():
        t = training(model, alpha=row.alpha, resolution=int(row.resolution), convention=convention, freeze=freeze,
                     batch=3).totals
        assert (row.training_macs, row.trainable) == (t["forward_macs"] + t[key], t["trainable"])


@pytest.mark.parametrize("kwargs, message", [
    ({"freeze": 99}, "has 21 blocks"), ({"freeze": -1}, "freeze must be"), ({"freeze": "head"}, "freeze must be"),
    ({"freeze": True}, "freeze must be"), ({"batch": 0}, "batch must be"), ({"batch": 2.5}, "batch must be"),
    ({"optimizer": "lion"}, "unknown optimizer 'lion'"), ({"dtype": "int4"}, "unknown dtype"),
])
def test_bad_input_is_one_library_error(kwargs, message):
    with pytest.raises(mnetcost.MnetcostError, match=message):
        training("v2", convention="torchvision", **kwargs)


def test_train_command(capsys):
    assert main(["train", "v2", "--freeze", "14", "--batch", "32", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    t = training("v2", convention="torchvision", freeze=14, batch=32).totals
    assert d["totals"] == t and d["batch"] == 32 and d["freeze"] == 14
    for key in ("params", "trainable", "forward_macs", "backward_macs", "backward_macs_torch", "backward_input_macs",
                "backward_weight_macs", "saved_bytes", "saved_activation_bytes", "training_bytes"):
        assert isinstance(d["totals"][key], int)
    assert sum(r["forward_macs"] for r in d["rows"]) == t["forward_macs"]
    assert main(["train", "v2"]) == 0 and "training step" in capsys.readouterr().out
    for argv, message in ((["train", "v2", "--freeze", "99"], "has 21 blocks"),
                          (["train", "v2", "--batch", "0"], "batch must be"),
                          (["train", "v2", "--optimizer", "lion"], "lion"),
                          (["train", "v2", "--freeze", "some"], "--freeze takes")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1 and err.startswith("mnetcost: error:")


@pytest.mark.parametrize("model", mnetcost.model_names())
def test_every_shipped_table_trains(model):
    """Every table, graph and V4 ones included: full fine-tuning costs at most twice the forward physically
    (less the stem's input gradient), freezing everything but the head leaves only the head's parameters."""
    family = mnetcost.load_table(model).family
    convention = "timm" if family in ("v4", "v5") else "torchvision"
    t = training(model, convention=convention, batch=2).totals
    assert 0 < t["backward_macs"] < 2 * t["forward_macs"] <= t["backward_macs_torch"] + t["forward_macs"]
    assert t["trainable"] == t["params"] and t["saved_activation_bytes"] > 0
    frozen = training(model, convention=convention, freeze="backbone", batch=2).totals
    assert frozen["trainable"] < t["trainable"] and frozen["backward_macs"] < t["backward_macs"]


def test_backward_counts_stay_exact_past_float_precision():
    """At 123,456,789 px a layer's count passes 2^53: every backward part is still an exact integer."""
    r = mnetcost.cost("v3-large", resolution=123_456_789, convention="torchvision")
    t = training("v3-large", resolution=123_456_789, batch=3).totals
    weighted = [int(m) for m, op in zip(r.columns["mult_adds"], r.columns["op"]) if op in ("conv", "pw", "dw", "fc", "se")]
    assert max(weighted) > 2 ** 53
    assert t["backward_weight_macs"] == 3 * sum(weighted) and t["forward_macs"] == 3 * r.mult_adds
    stem = int(r.columns["mult_adds"][0])
    assert t["backward_macs"] == 2 * t["forward_macs"] - 3 * stem
