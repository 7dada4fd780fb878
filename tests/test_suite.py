"""The operator suite (issue #24): the plumbing of measure --suite -> calibrate -> roofline, and the device
file's coverage. The miniature suite runs whenever torch, onnx and onnxruntime are installed (the measure
extra; CI's measure job); no timing is asserted, only that the figures are positive and finite, that what is
written reads back, and that a prediction beyond what the suite measured says so."""

import csv
import json
import math
import os

import pytest

from mnetcost.calibration import Observation, calibrate, read_measurements
from mnetcost.cli import main
from mnetcost.errors import TableError, UsageError
from mnetcost.latency import Device, read_devices, roofline, write_device
from mnetcost.suite import CACHE_SIZES, COLUMNS, EVICT, sample, stratum


def _measure_extra():
    if os.environ.get("MNETCOST_REQUIRE_TORCH"):
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    else:
        pytest.importorskip("onnxruntime")
        pytest.importorskip("onnx")
        pytest.importorskip("torch")


@pytest.fixture(scope="module")
def mini_suite(tmp_path_factory):
    """A seconds-long suite: the layers of V3-Small, a dozen graphs (at least one per stratum), one pass of one run."""
    _measure_extra()
    from mnetcost.suite import run

    out = tmp_path_factory.mktemp("suite") / "suite.csv"
    rows = run("v3-small", size=12, passes=1, repeat=1, seed=3, output=out)
    return out, rows


@pytest.mark.measure
def test_the_miniature_suite_writes_what_calibrate_reads(mini_suite):
    path, rows = mini_suite
    with open(path, newline="", encoding="utf-8") as f:
        records = list(csv.DictReader(f))
    assert tuple(records[0]) == COLUMNS and len(records) == len(rows) >= 12
    # the cache curve: one of the graphs timed again after writing each size, the suite's own among them
    assert {int(r["evict_bytes"]) for r in records} == set(CACHE_SIZES) and EVICT in CACHE_SIZES
    assert sum(int(r["evict_bytes"]) != EVICT for r in records) == len(CACHE_SIZES) - 1
    kinds = {r["stratum"].split()[0] for r in records}
    assert {"conv", "dw", "pw", "se", "add", "fc", "pool"} <= kinds
    for r in records:
        assert math.isfinite(float(r["latency_ms"])) and float(r["latency_ms"]) > 0
        assert float(r["graph_ms"]) > 0 and 0 <= float(r["own_share"]) <= 1
    convs = [r for r in records if r["stratum"].startswith(("conv", "dw", "pw"))]
    assert all("Conv" in r["kernels"] for r in convs)  # what the runtime ran, from its own profile
    # squeeze-excite's product runs in the plain layout between blocked convolutions: the reorders are its own
    assert all("Mul" in r["kernels"] and "Reorder" in r["kernels"] for r in records if r["stratum"].startswith("se"))
    obs = read_measurements(path)
    assert all(o.layer for o in obs) and all(o.null_s > 0 for o in obs)


@pytest.mark.measure
def test_measure_calibrate_roofline_through_the_cli(mini_suite, tmp_path, capsys):
    path, _ = mini_suite
    device_file = tmp_path / "here.csv"
    assert main(["calibrate", "-m", str(path), "-o", str(device_file), "--name", "here", "-f", "json"]) == 0
    capsys.readouterr()
    here = read_devices(device_file)["here"]
    assert here.coverage and dict(here.costs)["network"] > 0
    assert [b for b, _ in here.cache] == list(CACHE_SIZES) and dict(here.cache)[EVICT] == 1.0
    assert main(["roofline", "v3-small", "--device-file", str(device_file), "-d", "here", "-f", "json"]) == 0
    layers = json.loads(capsys.readouterr().out)["layers"]
    assert all(layer["confidence"] for layer in layers)
    # EfficientNet-B0's SiLU was never in a V3-Small suite: its layers say so instead of predicting silently
    assert main(["roofline", "efficientnet-b0", "--device-file", str(device_file), "-f", "json"]) == 0
    confidence = [layer["confidence"] for layer in json.loads(capsys.readouterr().out)["layers"]]
    assert any("unseen: silu" in c for c in confidence)


def test_measure_suite_takes_no_model(capsys):
    assert main(["measure", "v2", "--suite"]) == 2
    assert "--suite" in capsys.readouterr().err


def test_the_sample_covers_every_stratum_of_a_table():
    """Every kind of layer of V3-Large (op, kernel, stride, activation, squeeze-excite's gates) is in the
    sample, at least one each, and the sample is the same for the same seed."""
    from mnetcost.engine import cost_layers

    items = sample(["v3-large"], size=20, seed=0)
    _, layers, s = cost_layers("v3-large", convention="paper")
    assert {stratum(l, s.rules) for l in layers} <= {i.stratum for i in items}
    assert items == sample(["v3-large"], size=20, seed=0)
    with pytest.raises(UsageError):
        sample(["v3-large"], size=0)


def test_coverage_and_cache_curve_round_trip_and_older_device_files_still_read(tmp_path):
    mb = 1 << 20
    d = Device("here", 5e10, float("inf"), costs=(("layer", 1e-6), ("network", 5e-6)),
               coverage=(("pw", 1e5, 3e8), ("relu", 10.0, 1e6)),
               cache=((1 * mb, 0.99), (8 * mb, 1.0), (1e9 / 3, 1.25)))
    path = tmp_path / "d.csv"
    write_device(d, path)
    assert read_devices(path)["here"] == d
    old = tmp_path / "old.csv"
    old.write_text("name,peak_macs,bandwidth,dtype,terms,source\nold,1e10,1e10,float32,layer=2e-6,by hand\n")
    assert (read_devices(old)["old"].coverage, read_devices(old)["old"].cache) == ((), ())


@pytest.mark.parametrize("column, cell", [
    *(("coverage", c) for c in ("pw=1..", "nothing=1..2", "pw=2", "pw=a..b", "pw=-1..2")),
    *(("cache", c) for c in ("8388608", "a=1", "8388608=0", "2=1;1=1", "1=1;1=2", "-1=1", "1=inf"))])
def test_a_bad_coverage_or_cache_cell_names_the_file_and_line(tmp_path, column, cell):
    path = tmp_path / "bad.csv"
    path.write_text(f"name,peak_macs,bandwidth,{column}\nx,1e10,1e10,{cell}\n")
    with pytest.raises(TableError, match="bad.csv, line 2"):
        read_devices(path)


def test_a_suite_fit_marks_what_it_never_measured():
    """A hand-made suite of V2's layers (ReLU6 only): a V3 layer's Hardswish is unseen, a V2 layer far
    larger than any measured is beyond; the latencies are made up (only the flags are checked)."""
    from mnetcost.engine import cost_layers

    _, layers, _ = cost_layers("v2", alpha=0.5, resolution=128, convention="paper")
    obs = [Observation("hand", "v2", 0.5, 128, "paper", 1e-5 * (1 + i % 7), layer=l.name, null_s=5e-6)
           for i, l in enumerate(layers)]
    device = calibrate(obs, name="hand", holdout="row").device
    v3 = roofline("v3-large", device=device).columns["confidence"]
    assert any(c.startswith("unseen") and "hswish" in c for c in v3)
    big = roofline("v2", alpha=1.4, resolution=512, device=device).columns["confidence"]
    assert any(c.startswith("beyond") for c in big)
    same = roofline("v2", alpha=0.5, resolution=128, device=device).columns["confidence"]
    assert set(same) == {"covered"}


def test_a_suite_with_networks_fits_what_composing_the_layers_costs():
    """Layers and whole networks in one file: the layers' model from the layers, then the composition terms
    (per layer, per weight, per squeeze-excite element, per call) from the networks; made-up latencies, so
    only the plumbing is checked: the form, the coverage, and composition costs that are numbers >= 0."""
    from mnetcost.calibration import COMPOSITION
    from mnetcost.engine import cost_layers

    _, layers, _ = cost_layers("v3-small", alpha=0.75, resolution=160, convention="paper")
    obs = [Observation("hand", "v3-small", 0.75, 160, "paper", 2e-5 * (1 + i % 5), layer=l.name, null_s=5e-6)
           for i, l in enumerate(layers)]
    obs += [Observation("hand", "v3-small", a, r, "paper", t) for a, r, t in ((0.75, 160, 2e-3), (1.0, 224, 4e-3))]
    c = calibrate(obs, name="composed", holdout="row")
    assert c.form == "suite" and c.device.coverage
    costs = dict(c.device.costs)
    assert all(costs.get(t, 0.0) >= 0 for t in COMPOSITION)


def test_fit_and_choose_mark_configurations_beyond_the_suite():
    """A hand-made suite of V2 at 0.5/128: fit's grid and choose's checkpoints carry ``covered``, False where a
    layer lies beyond it (a larger V2), True at the measured configuration."""
    from mnetcost.engine import cost_layers
    from mnetcost.explore import choose_records, fit_columns

    _, layers, _ = cost_layers("v2", alpha=0.5, resolution=128, convention="paper")
    obs = [Observation("hand", "v2", 0.5, 128, "paper", 1e-5 * (1 + i % 7), layer=l.name, null_s=5e-6)
           for i, l in enumerate(layers)]
    device = calibrate(obs, name="hand", holdout="row").device
    cols, _ = fit_columns("v2", [0.5, 1.4], [128, 320], device=device)
    got = {(a, r): c for a, r, c in zip(cols["alpha"].tolist(), cols["resolution"].tolist(), cols["covered"].tolist())}
    assert got[(0.5, 128)] and not got[(1.4, 320)]
    chosen, _ = choose_records(device=device)
    assert {r["covered"] for r in chosen} == {False, True} or not any(r["covered"] for r in chosen)


def _optimised(nodes, inputs=("x0",)):
    """A graph shaped as the runtime's optimised context graph: (op, name, inputs, outputs) per node."""
    from onnx import TensorProto, helper

    return helper.make_graph([helper.make_node(op, list(i), list(o), name=n) for op, n, i, o in nodes], "g",
                             [helper.make_tensor_value_info(x, TensorProto.FLOAT, None) for x in inputs],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])


def test_a_context_graph_charges_the_layer_its_kernels_and_the_reorders_it_causes():
    """Squeeze-excite's product in the plain layout between two blocked convolutions: the reorders around it
    are the layer's; the convolutions around it, the reorders of the graph's input and into the sink, and the
    sink are the context."""
    from mnetcost.suite import roles

    graph = _optimised([("ReorderInput", "ReorderInput", ["x0"], ["r0"]),
                        ("Conv", "/pre.0/Conv_output_0_nchwc", ["r0"], ["r1"]),
                        ("ReorderOutput", "ReorderOutput_token_3", ["r1"], ["t"]),
                        ("Mul", "/m/Mul", ["t", "t"], ["u"]),
                        ("ReorderInput", "ReorderInput_token_4", ["u"], ["r2"]),
                        ("Conv", "/post/Conv_output_0_nchwc", ["r2"], ["r3"]),
                        ("ReorderOutput", "ReorderOutput", ["r3"], ["p"]),
                        ("ReduceMean", "/ReduceMean", ["p"], ["y"])])
    got = roles(graph)
    assert {n for n, r in got.items() if r == "layer"} == {"ReorderOutput_token_3", "/m/Mul", "ReorderInput_token_4"}


def test_a_layer_folded_into_the_convolution_before_it_is_context_but_the_image_is_not():
    """A layer scale the runtime folded into the pre convolution (the fused node is named after the layer's
    product, but reads the graph's input): context. A stem convolution reading the image directly: the layer."""
    from mnetcost.suite import IMAGE, roles

    folded = _optimised([("Conv", "/m/Mul_output_0_nchwc", ["x0"], ["r1"]),
                         ("Conv", "/post/Conv_output_0_nchwc", ["r1"], ["r2"]),
                         ("ReorderOutput", "ReorderOutput", ["r2"], ["p"]),
                         ("ReduceMean", "/ReduceMean", ["p"], ["y"])])
    assert set(roles(folded).values()) == {"context"}
    stem = _optimised([("Conv", "/m/m.0/Conv_output_0_nchwc", [IMAGE], ["r1"]),
                       ("Conv", "/post/Conv_output_0_nchwc", ["r1"], ["r2"]),
                       ("ReorderOutput", "ReorderOutput", ["r2"], ["p"]),
                       ("ReduceMean", "/ReduceMean", ["p"], ["y"])], inputs=(IMAGE,))
    assert [n for n, r in roles(stem).items() if r == "layer"] == ["/m/m.0/Conv_output_0_nchwc"]


def test_a_layer_that_writes_the_graphs_output_is_the_layer():
    """A classifier's fused Gemm and ReLU writes the graph's output itself (a vector: no sink): it is the layer."""
    from mnetcost.suite import roles

    graph = _optimised([("Conv", "/pre.0/Conv_output_0_nchwc", ["x0"], ["r1"]),
                        ("ReorderOutput", "ReorderOutput", ["r1"], ["t"]),
                        ("Flatten", "/m/m.0/Flatten", ["t"], ["f"]),
                        ("FusedGemm", "fused /m/m.1/Gemm", ["f"], ["y"])])
    assert {n for n, r in roles(graph).items() if r == "layer"} == {"ReorderOutput", "/m/m.0/Flatten", "fused /m/m.1/Gemm"}


def test_a_stratum_is_the_op_specs_words():
    """The sampling strata come from each op spec's ``variant`` facet (no op names switched on in suite.py):
    a depthwise conv of unaligned channels is a stratum of its own, and an op without the facet is its name
    and activation."""
    import numpy as np

    from mnetcost.expand import Layer
    from mnetcost.suite import expanded

    layers, _, s = expanded("v1", 0.35, 128, "keras")  # Keras' V1 truncates 32 x 0.35 to 11 channels
    assert "dw k3 s1 unaligned RE" in {stratum(l, s.rules) for l in layers}
    add = Layer("a", "a", "a", "add", 1, 1, 1, 8, 8, np.array([7]), np.array([7]), np.array([7]), np.array([7]),
                False, False, "RE")
    assert stratum(add, s.rules) == "add RE"


def test_an_upsampling_onto_unaligned_channels_is_its_own_stratum_and_term():
    """LR-ASPP's last upsampling writes its 21 classes (not a multiple of 8: the runtime pads them to its
    blocks and reorders the map back): a stratum of its own, and a cost per element beside the upsampling's;
    its 128-channel one has neither."""
    from mnetcost.latency import configuration_terms
    from mnetcost.suite import expanded

    layers, _, s = expanded("lraspp-v3-large", 1.0, 320)
    strata = {l.name: stratum(l, s.rules) for l in layers}
    assert (strata["out"], strata["up"]) == ("upsample bilinear unaligned", "upsample bilinear")
    t = configuration_terms("lraspp-v3-large", alpha=1.0, resolution=320)
    out, up = t.names.index("out"), t.names.index("up")
    unaligned = t.counts["unaligned_upsample"][:, 0]
    assert (unaligned[out], unaligned[up]) == (21 * 320 * 320, 0) and unaligned.sum() == 21 * 320 * 320
