"""The FLOP counters' conventions against the counters themselves: ptflops 0.7.5 (pytorch and aten
backends), fvcore 0.1.5, thop 0.1.1, torchinfo 1.8 and torch's FlopCounterMode, run on torchvision
0.29.1's MobileNets by tests/data/generators/counters_truth.py (720 measurements)."""

import csv
from collections import defaultdict
from pathlib import Path

import pytest

import mnetcost
from mnetcost.explore import explain

DATA = Path(__file__).parent / "data"
MODELS = {"mobilenet_v2": "v2", "mobilenet_v3_large": "v3-large", "mobilenet_v3_small": "v3-small"}
TOOLS = {"ptflops_pytorch": "ptflops", "ptflops_aten": "ptflops-aten", "fvcore": "fvcore", "thop": "thop",
         "torchinfo": "torchinfo", "torch_flopcounter_div2": "torchvision"}
TOTALS = list(csv.DictReader(open(DATA / "counters_totals.csv")))


def test_the_issue_figures_for_mobilenet_v2():
    got = {c: mnetcost.cost("v2", convention=c).macs for c in ("torchvision", "ptflops", "fvcore", "thop", "torchinfo")}
    assert got == {"torchvision": 300_774_272, "ptflops": 320_300_008, "fvcore": 314_193_216,
                   "thop": 327_486_720, "torchinfo": 300_809_384}


@pytest.mark.parametrize("tool", sorted(TOOLS))
def test_counter_headline_and_params(tool):
    """Every width (0.35-1.3), resolution (96, 97, 160, 224) and class count (10, 1000) of v2, v3-large, v3-small."""
    cases = [r for r in TOTALS if r["tool"] == tool]
    assert len(cases) == 120
    wrong = []
    for r in cases:
        c = mnetcost.cost(MODELS[r["model"]], alpha=float(r["width_mult"]), resolution=int(r["resolution"]),
                          classes=int(r["num_classes"]), convention=TOOLS[tool])
        if (c.macs, c.params) != (int(r["macs"]), int(r["params"])):
            wrong.append((r["model"], r["width_mult"], r["resolution"], r["num_classes"], r["macs"], c.macs))
    assert not wrong


def kind(module_type):
    if "BatchNorm" in module_type:
        return "BatchNorm counted as ops"
    if any(a in module_type for a in ("ReLU", "Hardswish", "Hardsigmoid", "F.relu")):
        return "activations counted"
    if any(p in module_type for p in ("AvgPool", "avg_pool", "non-leaf")):
        return "pooling counted"
    if "Conv2d" in module_type or "Linear" in module_type:
        return "weighted"
    return "other"


def by_type():
    out = defaultdict(lambda: defaultdict(int))
    for r in csv.DictReader(open(DATA / "counters_by_type.csv")):
        if r["module_type"] != "TOTAL":
            out[(r["model"], r["tool"])][kind(r["module_type"])] += int(r["count"])
    return out


@pytest.mark.parametrize("model", ["mobilenet_v2", "mobilenet_v3_small"])
@pytest.mark.parametrize("tool", ["ptflops_pytorch", "fvcore", "thop", "torchinfo"])
def test_the_explanation_matches_what_the_counter_counted_per_module_type(model, tool):
    """compare's causes (torchvision -> the counter) equal the counter's own per-module-type sums."""
    counted = by_type()
    frame = explain(MODELS[model], "torchvision", TOOLS[tool])
    causes = dict(zip(frame["cause"], frame["macs"]))
    theirs, reference = counted[(model, tool)], counted[(model, "torch_flopcounter_div2")]
    for cause in ("BatchNorm counted as ops", "activations counted", "pooling counted"):
        assert causes[cause] == theirs.get(cause, 0), cause
    assert causes["bias additions counted"] == theirs["weighted"] - reference["weighted"]
    assert theirs.get("other", 0) == 0
