"""mnetcost import: ONNX exports of torchvision's and timm's MobileNets read back into tables, checked against
the frameworks' own counts (tests/data/onnx/truth.csv, written with the files by
tests/data/generators/onnx_exports.py: FlopCounterMode / 2 and sum(p.numel()), never mnetcost)."""

import csv
import json
import lzma
from pathlib import Path

import pytest

pytest.importorskip("onnx")

import mnetcost  # noqa: E402
from mnetcost.cli import main  # noqa: E402
from mnetcost.errors import TableError, UnknownOp, UsageError  # noqa: E402
from mnetcost.onnx_import import check_convention, import_onnx  # noqa: E402

DATA = Path(__file__).parent / "data" / "onnx"
TRUTH = list(csv.DictReader(open(DATA / "truth.csv", encoding="utf-8")))
IMPORTED = ["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "lraspp_mobilenet_v3_large",
            "mobilenetv4_conv_small", "mobilenetv4_hybrid_medium"]
# truth.csv's counts are torch's FlopCounterMode on a CPU: timm's fused attention counts 0 there (timm-fused)
CONVENTION = {**{m: "torchvision" for m in IMPORTED[:4]}, "mobilenetv4_conv_small": "timm",
              "mobilenetv4_hybrid_medium": "timm-fused", "ssdlite320_mobilenet_v3_large": "torchvision"}
TIMM = Path(__file__).parent / "data" / "timm_totals.csv"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("onnx")
    out = {}
    for f in DATA.glob("*.onnx.xz"):
        name = f.name[:-len(".onnx.xz")]
        out[name] = folder / f"{name}.onnx"
        out[name].write_bytes(lzma.decompress(f.read_bytes()))
    return out


@pytest.fixture(scope="module")
def tables(files, tmp_path_factory):
    """model -> {folded_bn: path of its imported table}."""
    folder = tmp_path_factory.mktemp("tables")
    out = {}
    for name in IMPORTED:
        for folded in (False, True):
            path = folder / f"{name}{'-folded' if folded else ''}.csv"
            path.write_text(import_onnx(files[name], folded_bn=folded).text, encoding="utf-8")
            out.setdefault(name, {})[folded] = path
    return out


def _truth(model, **match):
    return [t for t in TRUTH if t["model"] == model and all(t[k] == v for k, v in match.items())]


@pytest.mark.parametrize("model", IMPORTED)
def test_macs_equal_the_frameworks_at_the_export_size_and_others(tables, model):
    rows = _truth(model, width="1.0")
    assert len(rows) >= 2
    for t in rows:
        for folded in (False, True):
            c = mnetcost.cost(str(tables[model][folded]), resolution=int(t["resolution"]), convention=CONVENTION[model])
            assert c.macs == int(t["macs"]), (t, folded)


@pytest.mark.parametrize("model", IMPORTED[:5])
def test_params_by_default_are_what_the_files_operators_use(tables, model):
    """(Not the hybrid: its attention blocks' BatchNorms are counted by the convention; docs/import.md.)"""
    t, = _truth(model, exported="1")
    assert mnetcost.cost(str(tables[model][False]), convention="paper").params == int(t["file_params"])
    assert mnetcost.cost(str(tables[model][False]), convention=CONVENTION[model]
                         ).params == int(t["file_params"])  # bn = 0 everywhere: no convention adds BatchNorms


@pytest.mark.parametrize("model", IMPORTED)
def test_folded_bn_gives_the_frameworks_parameter_count(tables, model):
    t, = _truth(model, exported="1")
    assert mnetcost.cost(str(tables[model][True]), convention=CONVENTION[model]).params == int(t["params"])


def _timm(model, resolution):
    row, = [r for r in csv.DictReader(open(TIMM, encoding="utf-8"))
            if (r["model"], r["resolution"], r["num_classes"]) == (model, str(resolution), "1000")]
    return int(row["macs"]), int(row["params"])


@pytest.mark.parametrize("model, alpha, resolution, timm_name", [
    ("mobilenetv4_conv_small", 0.5, 224, "mobilenetv4_conv_small_050"),
    ("mobilenetv4_conv_small", 0.5, 160, "mobilenetv4_conv_small_050"),
    ("mobilenetv4_conv_small", 0.35, 224, "mobilenetv4_conv_small_035"),
    ("mobilenetv4_hybrid_medium", 1.0, 224, "mobilenetv4_hybrid_medium"),
    ("mobilenetv4_hybrid_medium", 1.0, 160, "mobilenetv4_hybrid_medium"),
    ("mobilenetv4_hybrid_medium", 0.75, 224, "mobilenetv4_hybrid_medium_075"),
])
def test_imported_v4_scales_to_timms_width_variants(tables, model, alpha, resolution, timm_name):
    """timm_totals.csv (generators/timm_truth.py: attention matmuls counted, timm's fused attention off): the
    imported width-1.0 exports, scaled by alpha under the timm convention, equal timm's own width variants."""
    c = mnetcost.cost(str(tables[model][True]), alpha=alpha, resolution=resolution, convention="timm")
    assert (c.macs, c.params) == _timm(timm_name, resolution)


@pytest.mark.parametrize("model", ["mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small"])
def test_alpha_075_at_160_equals_torchvisions_width_mult_075(tables, model):
    t, = _truth(model, width="0.75")
    c = mnetcost.cost(str(tables[model][True]), alpha=0.75, resolution=160, convention="torchvision")
    assert (c.macs, c.params) == (int(t["macs"]), int(t["params"]))


def test_blocks_become_bneck_rows_with_squeeze_excite(files):
    r = import_onnx(files["mobilenet_v3_large"])
    ops = [row["op"] for row in r.rows]
    assert ops.count("bneck") == 15 and sum(row.get("se") == 1 for row in r.rows) == 8
    assert r.family == "v3" and "# classes: 1000" in r.text and "width roles" in r.text
    assert [row["width"] for row in r.rows if row.get("width")] == ["stem", "last", "head", "classes"]
    v2 = import_onnx(files["mobilenet_v2"])
    assert [row["op"] for row in v2.rows].count("bneck") == 17 and v2.family == "v2"


def test_lraspp_taps_and_upsamples_with_from(files):
    r = import_onnx(files["lraspp_mobilenet_v3_large"])
    ups = [row for row in r.rows if row["op"] == "upsample"]
    assert [u["size"] for u in ups] == ["bneck5.dw", "input"]  # the first tensor at stride 8
    assert any(row["from"] == "bneck5" for row in r.rows)  # the low-level classifier reads the stride-8 block


def test_every_command_takes_an_imported_table(files, tmp_path, capsys):
    out = tmp_path / "mine.csv"
    assert main(["import", str(files["mobilenet_v3_small"]), "-o", str(out), "--folded-bn"]) == 0
    assert "wrote" in capsys.readouterr().out
    for args in (["table"], ["sweep", "--alpha", "0.5:1:0.25", "--resolution", "128:224:32"], ["memory"],
                 ["roofline", "--device", "pixel1-big-core"], ["train"], ["fit", "--max-macs", "30M"],
                 ["compare", "v3-small"], ["diff", "v3-small"], ["table", "-c", "torchvision", "-a", "0.5"]):
        command = [args[0], str(out), *args[1:]] if args[0] not in ("compare", "diff") else [args[0], str(out), args[1]]
        assert main(command) == 0, args
    capsys.readouterr()


def test_import_prints_the_table_without_output(files, capsys):
    assert main(["import", str(files["mobilenet_v2"])]) == 0
    text = capsys.readouterr().out
    assert text.startswith("# name: mobilenet_v2") and "bneck" in text


@pytest.mark.parametrize("content, code, words", [
    (None, 2, "no ONNX file"),
    (b"hello, not a model\n", 1, "not a readable ONNX model"),
    (b"", 1, "not an ONNX model"),
])
def test_bad_files_are_one_line_and_an_exit_code(tmp_path, capsys, content, code, words):
    path = tmp_path / "m.onnx"
    if content is not None:
        path.write_bytes(content)
    assert main(["import", str(path)]) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and words in err and "Traceback" not in err


def test_a_truncated_file_is_refused(files, tmp_path, capsys):
    path = tmp_path / "t.onnx"
    path.write_bytes(files["mobilenet_v2"].read_bytes()[:5000])
    assert main(["import", str(path)]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_missing_external_data_is_refused(files, tmp_path):
    import onnx

    m = onnx.load(str(files["mobilenet_v2"]))
    path = tmp_path / "ext.onnx"
    onnx.save_model(m, str(path), save_as_external_data=True, location="ext.data", size_threshold=0)
    assert import_onnx(path).rows  # with its data beside it: read (the data is never loaded)
    (tmp_path / "ext.data").unlink()
    with pytest.raises(TableError, match="external-data file 'ext.data'"):
        import_onnx(path)


def test_too_many_nodes_is_refused(files, monkeypatch):
    from mnetcost import onnx_graph

    monkeypatch.setattr(onnx_graph, "MAX_NODES", 100)
    with pytest.raises(TableError, match="imports at most 100"):
        import_onnx(files["mobilenet_v2"])


def _tiny(tmp_path, node, weight_shape=(8, 3, 3, 3)):
    """A one-conv graph followed by ``node`` (reading 'y', writing 'z')."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros(weight_shape, dtype=np.float32), "w")
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1], group=1)
    graph = helper.make_graph([conv, node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 32, 32])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], [w])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_an_unknown_op_names_its_type_its_node_and_what_is_supported(tmp_path, capsys):
    from onnx import helper

    path = _tiny(tmp_path, helper.make_node("Tanh", ["y"], ["z"], name="the_tanh"))
    with pytest.raises(UnknownOp, match="node 'the_tanh' \\(Tanh\\) is not an operator mnetcost knows; mnetcost imports Conv"):
        import_onnx(path)
    assert main(["import", str(path)]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def _grouped_net(torch):
    """Convs in 4, 8 and 2 groups (1 < groups < channels) between a standard stem and a classifier."""
    nn = torch.nn

    def cbr(i, o, k, s, g):
        return [nn.Conv2d(i, o, k, s, k // 2, groups=g, bias=False), nn.BatchNorm2d(o), nn.ReLU()]

    return nn.Sequential(*cbr(3, 16, 3, 2, 1), *cbr(16, 32, 3, 1, 4), *cbr(32, 48, 1, 1, 8), *cbr(48, 64, 3, 2, 2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)).eval()


@pytest.mark.torch
def test_grouped_convs_import_to_torchs_counts(tmp_path):
    """Ground truth from torch itself: FlopCounterMode / 2 at three resolutions, sum(p.numel())."""
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    net, path = _grouped_net(torch), tmp_path / "grouped.onnx"
    torch.onnx.export(net, torch.zeros(1, 3, 64, 64), str(path), opset_version=17, dynamo=False)
    r = import_onnx(path, folded_bn=True)
    assert [row.get("args") for row in r.rows if row["op"] == "conv"] == [None, "groups=4", "groups=8", "groups=2"]
    assert "4 groups, kept under alpha" in r.text
    table = tmp_path / "grouped.csv"
    table.write_text(r.text, encoding="utf-8")
    for resolution in (64, 96, 97):
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(torch.zeros(1, 3, resolution, resolution))
        c = mnetcost.cost(str(table), resolution=resolution, convention="torchvision")
        assert c.macs == counter.get_total_flops() // 2
        assert c.params == sum(p.numel() for p in net.parameters())


def test_a_grouped_conv_whose_outputs_do_not_divide_is_refused(tmp_path):
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    path = _tiny(tmp_path, helper.make_node("Conv", ["y", "w2"], ["z"], name="grouped", group=2))
    m = onnx.load(str(path))
    m.graph.initializer.append(numpy_helper.from_array(np.zeros((7, 4, 1, 1), dtype=np.float32), "w2"))
    onnx.save(m, str(path))
    with pytest.raises(UnknownOp, match="grouped convolution \\(group 2\\) whose 7 output channels"):
        import_onnx(path)


def test_v4_blocks_become_uib_fused_and_mqa_rows(files):
    r = import_onnx(files["mobilenetv4_hybrid_medium"])
    ops = [row["op"] for row in r.rows]
    assert r.family == "v4" and ops.count("mqa") == 8 and ops.count("fused") == 1 and ops.count("uib") == 22
    mqa = next(row for row in r.rows if row["op"] == "mqa")
    assert mqa["args"] == "heads=4; key_dim=64; value_dim=64; kv_stride=2" and mqa["layer_scale"] == 1


@pytest.mark.parametrize("folded", [False, True])
def test_ssdlite_imports_with_its_own_backbone_split(files, tmp_path, folded):
    """SSDLite: its last extra layers reach stride 512, beyond its 320 px input (their maps stay 1 x 1); the
    import ends its backbone part before them (# backbone-end), so its smallest input is stride 256 and its MACs
    equal torchvision's at 320 and 256 (truth.csv); the parameters are the file's, or torch's with --folded-bn."""
    model = "ssdlite320_mobilenet_v3_large"
    r = import_onnx(files[model], folded_bn=folded)
    assert "# backbone-end: conv27\n" in r.text and any(n.startswith("backbone-end conv27:") for n in r.notes)
    path = tmp_path / "ssd.csv"
    path.write_text(r.text, encoding="utf-8")
    for t in _truth(model, width="1.0"):
        c = mnetcost.cost(str(path), resolution=int(t["resolution"]), convention="torchvision")
        assert c.macs == int(t["macs"]), t
    t, = _truth(model, exported="1")
    assert c.params == int(t["params" if folded else "file_params"])
    part = dict(zip(c.columns["name"].tolist(), c.columns["part"].tolist()))
    assert (part["conv1"], part["conv27"], part["dw28"]) == ("backbone", "backbone", "head")
    with pytest.raises(UsageError, match="total stride is 256"):
        mnetcost.cost(str(path), resolution=255, convention="torchvision")


def test_unknown_family_is_a_usage_error(files):
    with pytest.raises(UsageError, match="unknown family"):
        import_onnx(files["mobilenet_v2"], family="v9")


def test_the_netron_attachment_has_netrons_format(files, tmp_path, capsys):
    """Netron's metadata.Attachment (source/view.js) reads a .json whose signature is 'netron:attachment' and
    whose 'metrics' list holds {kind, target, name, value}, ``target`` a node's name."""
    import onnx

    out = tmp_path / "m.json"
    assert main(["import", str(files["mobilenet_v3_small"]), "--netron", str(out), "--device", "pixel1-big-core"]) == 0
    capsys.readouterr()
    data = json.loads(out.read_text())
    assert data["signature"] == "netron:attachment" and set(data) == {"signature", "metrics"}
    nodes = {n.name for n in onnx.load(str(files["mobilenet_v3_small"]), load_external_data=False).graph.node}
    for m in data["metrics"]:
        assert set(m) == {"kind", "target", "name", "value"} and m["kind"] == "node" and m["target"] in nodes
        assert m["name"] in ("macs", "params", "output_bytes", "time_us", "bound")
    t, = _truth("mobilenet_v3_small", exported="1")
    assert sum(m["value"] for m in data["metrics"] if m["name"] == "macs") == int(t["macs"])
    assert {m["value"] for m in data["metrics"] if m["name"] == "bound"} <= {"compute", "memory"}


def test_the_docs_imported_table_is_what_import_writes(files):
    """docs/import.md shows docs/imported-v3-small.csv: the import of the test export, unchanged."""
    shipped = (Path(__file__).parent.parent / "docs" / "imported-v3-small.csv").read_text(encoding="utf-8")
    assert import_onnx(files["mobilenet_v3_small"], folded_bn=True).text == shipped


def _ort_optimized(path, folder):
    """The file as ONNX Runtime's extended graph optimisation rewrites it: activations fused into com.microsoft
    FusedConv, hard swish split into Mul(x, HardSigmoid(x)), identities removed."""
    ort = pytest.importorskip("onnxruntime")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = str(folder / f"{path.stem}.ort.onnx")
    ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
    return Path(so.optimized_model_filepath)


@pytest.mark.parametrize("model", IMPORTED + ["ssdlite320_mobilenet_v3_large"])
def test_onnx_runtime_optimised_exports_cost_the_same(files, tmp_path, model):
    import onnx

    path = _ort_optimized(files[model], tmp_path)
    assert any(n.op_type == "FusedConv" for n in onnx.load(str(path), load_external_data=False).graph.node)
    table = tmp_path / "t.csv"
    table.write_text(import_onnx(path, folded_bn=True).text, encoding="utf-8")
    convention = CONVENTION[model]
    for t in _truth(model, width="1.0"):
        assert mnetcost.cost(str(table), resolution=int(t["resolution"]), convention=convention).macs == int(t["macs"])
    t, = _truth(model, exported="1")
    # ORT multiplies a layer scale into the projection's weights: the file no longer has it (the hybrid's)
    scales = sum(row["out"] for row in import_onnx(files[model]).rows if row.get("layer_scale") == 1)
    assert int(t["params"]) - mnetcost.cost(str(table), convention=convention).params == scales
    assert (scales > 0) == ("hybrid" in model)


def _mutate(m, rng):
    """One random damage to a model: a node removed or rewired, an attribute, a weight's shape, an op type or the
    input's size changed."""
    import onnx

    nodes, i = m.graph.node, rng.randrange(len(m.graph.node))
    kind = rng.randrange(6)
    if kind == 0:
        del nodes[i]
    elif kind == 1 and nodes[i].input:
        nodes[i].input[rng.randrange(len(nodes[i].input))] = rng.choice(
            list(nodes[rng.randrange(len(nodes))].output) + ["nothing", ""])
    elif kind == 2 and nodes[i].attribute:
        a = nodes[i].attribute[rng.randrange(len(nodes[i].attribute))]
        if a.ints:
            a.ints[rng.randrange(len(a.ints))] = rng.choice([0, -1, 2, 3, 7, 100000])
        elif a.type == onnx.AttributeProto.INT:
            a.i = rng.choice([0, -1, 2, 3, 7, 100000])
    elif kind == 3:
        t = m.graph.initializer[rng.randrange(len(m.graph.initializer))]
        if t.dims:
            t.dims[rng.randrange(len(t.dims))] = rng.choice([0, 1, 3, 7, 1000000])
    elif kind == 4:
        nodes[i].op_type = rng.choice(["Relu", "Add", "Mul", "Conv", "MatMul", "Softmax", "Reshape", "Concat", "Resize",
                                       "Gemm", "GlobalAveragePool", "Tanh"])
    else:
        m.graph.input[0].type.tensor_type.shape.dim[rng.randrange(4)].dim_value = rng.choice([0, 1, 2, 97, 5000])


@pytest.mark.parametrize("model", ["mobilenet_v3_small", "mobilenetv4_hybrid_medium"])
def test_damaged_models_end_in_a_table_or_a_clean_error(files, tmp_path, model):
    """Never an internal error: every damaged file is imported (and checked) or refused with mnetcost's own error."""
    import copy
    import random

    import onnx

    from mnetcost.errors import MnetcostError

    base, rng = onnx.load(str(files[model])), random.Random(model)
    for trial in range(25):
        m = copy.deepcopy(base)
        _mutate(m, rng)
        path = tmp_path / f"{trial}.onnx"
        onnx.save(m, str(path))
        try:
            import_onnx(path, folded_bn=rng.random() < 0.5)
        except MnetcostError:
            pass
