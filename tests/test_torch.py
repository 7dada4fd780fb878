"""Every shipped table built as a PyTorch module and checked against PyTorch's own counts, layer by
layer: parameters (sum of parameter sizes, plus BatchNorm running statistics under keras), MACs
(FlopCounterMode / 2) and output shapes. Runs whenever torch is installed; CI sets
MNETCOST_REQUIRE_TORCH=1 so that these tests can never skip there.

By default every table under every convention with a PyTorch meaning is built once, its width,
class count and two resolutions drawn in rotation from the grid below, so that every value of each
occurs; ``MNETCOST_TORCH_GRID=full`` (``benchmarks/torch_grid.sh``) runs the whole grid, every
table x convention x width x class count x resolution (minutes on these machines)."""

import os

import pytest

import mnetcost
from mnetcost.conventions import get_convention
from mnetcost.tables import load_table, model_names

if os.environ.get("MNETCOST_REQUIRE_TORCH"):
    import torch  # noqa: F401  (a missing torch fails here, loudly)
else:
    torch = pytest.importorskip("torch")

from mnetcost.torch import build, compare, verify  # noqa: E402

pytestmark = pytest.mark.torch

ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3)
RESOLUTIONS = (96, 97, 128, 160, 224, 331)
CLASSES = (10, 1000, 1001)


TIMM_TABLES = ("v1", "v2", "v3-large", "v3-small", "mnasnet-b1", "efficientnet-b0")  # the classic tables timm has


def conventions_for(name):
    """The table's family's conventions with a PyTorch meaning: all but TF-slim's V1 (3 values per
    BatchNorm channel) and the counters (whose modules are torchvision's; tested below); timm's for
    MobileNetV4 and the classic tables timm ships a model of."""
    family = load_table(name).family
    timm = ("timm",) if family == "v4" or name in TIMM_TABLES else ()
    return [c for c in ("paper", "torchvision", "keras", "tf-slim") + timm
            if family in get_convention(c).rules_by_family and not (c == "tf-slim" and family == "v1")]


FULL = os.environ.get("MNETCOST_TORCH_GRID") == "full"
PAIRS = [(m, c) for m in model_names() for c in conventions_for(m)]
if FULL:
    CASES = [(m, c, a, k, RESOLUTIONS) for m, c in PAIRS for a in ALPHAS for k in CLASSES]
else:
    CASES = [(m, c, ALPHAS[i % len(ALPHAS)], CLASSES[i % len(CLASSES)],
              (RESOLUTIONS[i % len(RESOLUTIONS)], RESOLUTIONS[(i + 3) % len(RESOLUTIONS)])) for i, (m, c) in enumerate(PAIRS)]


def check_resolutions(model, convention, alpha, classes, resolutions, **variant):
    net = build(model, alpha=alpha, convention=convention, classes=classes, **variant)
    for res in resolutions:
        r = mnetcost.cost(model, alpha=alpha, resolution=res, convention=convention, classes=classes, **variant)
        v = compare(net, r)
        bad = [row for row in v.rows if not row["ok"]]
        assert not bad, (res, bad[:3])
        t = v.totals
        assert (t["params"], t["macs"]) == (t["torch_params"], t["torch_macs"]) == (r.params, r.mult_adds)


@pytest.mark.parametrize("model, convention, alpha, classes, resolutions", CASES,
                         ids=["-".join(map(str, c[:4])) for c in CASES])
def test_every_layer_matches_pytorch(model, convention, alpha, classes, resolutions):
    check_resolutions(model, convention, alpha, classes, resolutions)


def test_the_sample_covers_every_table_convention_and_value():
    assert {(m, c) for m, c, *_ in CASES} == set(PAIRS)
    assert {a for _, _, a, _, _ in CASES} == set(ALPHAS) and {k for *_, k, _ in CASES} == set(CLASSES)
    assert {r for *_, rs in CASES for r in rs} == set(RESOLUTIONS)


@pytest.mark.parametrize("model, variant", [("deeplabv3-v3-large", {"aux": True}),
                                            ("ssdlite-v3-large", {"reduced_tail": True}),
                                            ("ssdlite-v3-small", {"reduced_tail": True})])
def test_head_variants_match_pytorch(model, variant):
    for convention in ("torchvision", "paper"):
        check_resolutions(model, convention, 0.75, 21, (97, 320), **variant)


def test_graph_outputs_are_the_tensors_nobody_reads():
    net = build("ssdlite-v3-large", resolution=320, reduced_tail=True)
    out = net(torch.zeros(1, 3, 320, 320))
    assert len(out) == 12 and out[0].shape == (1, 6 * 91, 20, 20) and out[-1].shape == (1, 24, 1, 1)
    seg = build("lraspp-v3-large", classes=21)
    assert seg(torch.zeros(1, 3, 97, 131)).shape == (1, 21, 97, 131)  # upsampled to any input's size


@pytest.mark.parametrize("convention", ["ptflops", "ptflops-aten", "fvcore", "thop", "torchinfo"])
def test_counter_conventions_are_torchvision_modules(convention):
    """The counters' conventions count extra ops, but their modules (and mult-adds) are torchvision's."""
    for model in ("v1", "v2", "v3-small"):
        v = verify(model, alpha=0.75, resolution=160, convention=convention)
        assert v.ok and v.totals["torch_params"] == mnetcost.cost(model, alpha=0.75, convention="torchvision").params


CUSTOM = """# family: v3
# resolution: 64
# title: a small custom network
stage,op,kernel,t,exp,out,n,stride,se,nl,bn,width
stem,conv,3,,,16,1,2,,HS,1,stem
sep,dwsep,5,,,24,1,1,,RE,1,
b1,bneck,3,3,,24,2,2,1,HS,1,
b2,bneck,5,,96,40,1,1,1,RE,1,
dw,dw,3,,,,1,2,,RE6,1,
head,conv,1,,,128,1,1,,HS,1,last
pool,pool,,,,,1,1,,,0,
hidden,fc,1,,,64,1,1,,HS,0,head
fc,fc,1,,,k,1,1,,,0,classes
"""


def _built_and_compared(tmp_path, text, alpha, convention, resolutions):
    """The table ``text`` built as a PyTorch module (7 classes), compared layer by layer with mnetcost's counts at
    each of ``resolutions``."""
    path = tmp_path / "table.csv"
    path.write_text(text)
    net = build(str(path), alpha=alpha, convention=convention, classes=7)
    for res in resolutions:
        r = mnetcost.cost(str(path), alpha=alpha, resolution=res, convention=convention, classes=7)
        assert compare(net, r).ok
    return net


@pytest.mark.parametrize("convention", ["paper", "torchvision", "keras"])
@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.3])
def test_a_custom_table(tmp_path, convention, alpha):
    net = _built_and_compared(tmp_path, CUSTOM, alpha, convention, (32, 33, 64, 97))
    for res in (32, 33, 64, 97):
        assert net(torch.zeros(1, 3, res, res)).shape == (1, 7)


GROUPED = """# family: v3
# resolution: 64
# title: grouped convolutions (args groups=G: the group count stays G under alpha)
stage,op,kernel,out,n,stride,nl,bn,width,args
stem,conv,3,16,1,2,HS,1,stem,
g1,conv,3,32,1,2,RE,1,,groups=4
g2,conv,1,48,1,1,RE,0,,groups=8
head,conv,1,128,1,1,HS,1,last,
pool,pool,,,1,1,,0,,
fc,fc,1,k,1,1,,0,classes,
"""


@pytest.mark.parametrize("convention", ["paper", "torchvision", "keras"])
@pytest.mark.parametrize("alpha", [0.5, 1.0, 1.3])
def test_grouped_convs_match_torchs_counts(tmp_path, convention, alpha):
    net = _built_and_compared(tmp_path, GROUPED, alpha, convention, (32, 33, 64))
    assert [m.groups for m in net.modules() if isinstance(m, torch.nn.Conv2d)][1:3] == [4, 8]


def test_build_runs_a_forward_pass_at_the_requested_resolution():
    net = build("v3-small", alpha=0.75, resolution=97, classes=10)
    assert isinstance(net, torch.nn.Module)
    assert net(torch.zeros(2, 3, 97, 97)).shape == (2, 10)


def test_the_modules_match_torchvision_counts():
    """Totals equal torchvision's own models (tests/data/torchvision_totals.csv, made with torchvision 0.29.1)."""
    import csv
    from pathlib import Path

    names = {"mobilenet_v2": "v2", "mobilenet_v3_large": "v3-large", "mobilenet_v3_small": "v3-small"}
    rows = [r for r in csv.DictReader(open(Path(__file__).parent / "data" / "torchvision_totals.csv"))
            if r["resolution"] == "97" and r["num_classes"] == "1000"]
    assert len(rows) == 21
    for r in rows:
        v = verify(names[r["model"]], alpha=float(r["width_mult"]), resolution=97)
        assert (v.totals["torch_params"], v.totals["torch_macs"]) == (int(r["params"]), int(r["macs"])), r


def test_verify_command(capsys, monkeypatch):
    from mnetcost import torch as mt
    from mnetcost.cli import main

    assert main(["verify", "v3-small", "-a", "0.5", "-r", "97", "-f", "json"]) == 0
    import json

    d = json.loads(capsys.readouterr().out)
    assert d["ok"] and d["totals"]["params"] == d["totals"]["torch_params"]
    # a count that disagrees is found, shown and fails the command
    monkeypatch.setattr(mt, "torch_params", lambda module, running_stats: 1)
    assert main(["verify", "v2"]) == 4  # a difference: its own exit code
    assert "DIFF" in capsys.readouterr().out
    assert main(["verify", "v1", "-c", "tf-slim"]) == 2
    assert "no PyTorch module has that" in capsys.readouterr().err
    assert main(["verify", "v2", "--resolution", "20000"]) == 2  # refused before torch is asked for gigabytes
    assert "beyond its limit" in capsys.readouterr().err


def test_mnasnet_and_efficientnet_modules_match_torchvision_counts():
    """Built modules against torchvision's own mnasnet*/efficientnet_b0 totals (tests/data, torchvision 0.29.1)."""
    import csv
    from pathlib import Path

    names = {"mnasnet0_5": "mnasnet-b1", "mnasnet0_75": "mnasnet-b1", "mnasnet1_0": "mnasnet-b1",
             "mnasnet1_3": "mnasnet-b1", "efficientnet_b0": "efficientnet-b0"}
    for r in csv.DictReader(open(Path(__file__).parent / "data" / "torchvision_mnasnet_efficientnet_totals.csv")):
        if r["resolution"] in ("97", "224") and r["num_classes"] == "1000":
            v = verify(names[r["model"]], alpha=float(r["alpha"]), resolution=int(r["resolution"]))
            assert v.ok and (v.totals["torch_params"], v.totals["torch_macs"]) == (int(r["params"]), int(r["macs"])), r


def test_verify_is_bounded_and_out_of_memory_is_the_environment(monkeypatch, capsys):
    """Issue 20: the library's verify refuses a forward pass beyond traffic.FORWARD_LIMIT at once, and a real
    out-of-memory while building is an EnvironmentProblem (exit 3), never an internal error (exit 70)."""
    import mnetcost.torch as mt
    from mnetcost.errors import EnvironmentProblem, UsageError

    with pytest.raises(UsageError, match="8,067 MB"):
        mt.verify("v2", resolution=8192)
    with pytest.raises(UsageError, match="attention scores 17,180 MB"):
        mt.verify("v4-hybrid-medium", convention="timm", resolution=4096)

    def no_memory(*args, **kwargs):
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory")

    monkeypatch.setattr(mt, "_build", no_memory)
    with pytest.raises(EnvironmentProblem, match="ran out of memory"):
        mt.verify("v3-small", resolution=96)
    from mnetcost.cli import main

    assert main(["verify", "v3-small", "-r", "96"]) == 3


def test_grouped_convs_training_step_matches_torchs_count(tmp_path):
    """One training step (batch 2, forward and backward) of the grouped table's module: FlopCounterMode / 2
    equals mnetcost's forward plus torch-counted backward mult-adds (torch's weight gradient ignores groups)."""
    from torch.utils.flop_counter import FlopCounterMode

    from mnetcost.train import training

    path = tmp_path / "grouped.csv"
    path.write_text(GROUPED)
    net = build(str(path), convention="torchvision", classes=7).train()
    with FlopCounterMode(display=False) as counter:
        net(torch.zeros(2, 3, 64, 64)).sum().backward()
    t = training(str(path), batch=2, resolution=64, classes=7).totals
    assert t["forward_macs"] + t["backward_macs_torch"] == counter.get_total_flops() // 2
