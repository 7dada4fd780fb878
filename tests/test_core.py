"""The one core (issue 19): op specs hold every quantity, one count per layer for one configuration and a
grid, one configuration value, the documented API exists, and no import cycle.

Each defect test names the behaviour that was wrong before; the property test draws random tables
(chains, graph rows, V4 blocks, a user's op with every facet) and checks every quantity of a grid against
the single configuration, point by point."""

import ast
import os
import pathlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mnetcost
from mnetcost import ops as O
from mnetcost.errors import MnetcostError, TableError, UnknownOp, UsageError
from mnetcost.latency import latency_grid, roofline
from mnetcost.ops import OpCost
from mnetcost.tables import parse_table
from mnetcost.traffic import memory, peak_grid
from mnetcost.train import training, training_sweep

PACKAGE = pathlib.Path(mnetcost.__file__).parent


def _gconv_forward(layer, rules):
    """A grouped k x k convolution (the docs' example op), with a counter's bias additions as 'other'."""
    weights = layer.kernel * layer.kernel * layer.c_in * layer.c_out // layer.args["groups"]
    return OpCost(weights * layer.area_out, weights, layer.c_out, 7 * layer.c_out * layer.area_out)


def _gconv_backward(layer, x_rg, trainable):
    """x_rg may be an array over configurations (in a grid, a layer upstream may exist in only some)."""
    return np.asarray(x_rg, dtype=float), float(trainable), float(trainable)


def _gconv_latency(layer, out, inp, macs):
    return "conv", [("conv_out", out)]


def _gconv_module(layer, rules):
    from torch import nn

    return nn.Conv2d(layer.c_in, layer.c_out, layer.kernel, layer.stride, padding=layer.kernel // 2,
                     groups=layer.args["groups"], bias=layer.bias)


FULL = mnetcost.register_op("gconv", _gconv_forward, backward=_gconv_backward, saves=O.conv_saves,
                            latency=_gconv_latency, module=_gconv_module)
BARE = mnetcost.register_op("gconv", _gconv_forward)  # a forward count and nothing else
GCONV = ("# family: v2\n# resolution: 32\nstage,op,kernel,out,n,stride,width,args\n"
         "stem,conv,3,16,1,2,fixed,\ng,gconv,3,32,1,2,fixed,groups=4\npool,pool,1,,1,1,,\nfc,fc,1,10,1,1,fixed,\n")


@pytest.fixture
def gconv_table(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text(GCONV)
    return path


# ---- the defects ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("convention", ["paper", "fvcore"])
def test_a_user_ops_other_operations_count_the_same_in_cost_and_grid(gconv_table, convention):
    """Defect 1: cost added a user op's 'other' operations under every convention, the grid only under those
    that count other operations, so one configuration and the grid disagreed (405,952 vs 405,504)."""
    r = mnetcost.cost(gconv_table, convention=convention, ops=FULL)
    macs, params = mnetcost.grid(gconv_table, [1.0], [32], convention=convention, ops=FULL)
    assert (macs[0, 0], params[0]) == (r.macs, r.params)
    g = r.layers.set_index("name").loc["g"]
    assert g["other_ops"] == (7 * 32 * 8 * 8 if convention == "fvcore" else 0)  # 'other' only where counted


def test_a_user_op_never_trains_for_free(gconv_table):
    """Defect 2: a user op with weights counted them as trainable but did no backward work. Without a
    backward facet, training is an error naming the op and the quantity; with one, its factors count."""
    with pytest.raises(UnknownOp, match="'gconv' has no backward facet"):
        training(gconv_table, ops=BARE)
    t = training(gconv_table, ops=FULL, convention="torchvision").layers.set_index("name").loc["g"]
    forward = 9 * 16 * 32 // 4 * 8 * 8
    assert (t["forward_macs"], t["backward_input_macs"], t["backward_weight_macs"]) == (forward, forward, forward)
    assert t["trainable"] == 9 * 16 * 32 // 4 + 32  # weights and biases (no BatchNorm on the row)


@pytest.mark.parametrize("call, quantity", [
    (lambda t: roofline(t, device="pixel1-big-core", ops=BARE), "latency"),
    (lambda t: mnetcost.train.training(t, ops=BARE), "backward"),
])
def test_a_missing_facet_fails_loudly_where_it_is_needed(gconv_table, call, quantity):
    assert mnetcost.cost(gconv_table, ops=BARE).macs > 0  # the forward count needs nothing else
    with pytest.raises(UnknownOp, match=f"no {quantity} facet"):
        call(gconv_table)


@pytest.mark.parametrize("call", [
    lambda: peak_grid("v2", [-1.0], [224]), lambda: peak_grid("v2", [np.nan], [224]),
    lambda: latency_grid("v2", ["0.5"], [224], "pixel1-big-core"), lambda: latency_grid("v2", [np.nan], [224], "pixel1-big-core"),
    lambda: mnetcost.grid("v2", [0.0], [224]), lambda: peak_grid("v2", [1.0], [0]),
    lambda: training_sweep("v2", [np.inf], [224]),
])
def test_grid_entry_points_validate_as_one_configuration_does(call):
    """Defect 4: peak_grid took alpha -1 (301,056 bytes), NaN raised a bare ValueError, latency_grid took
    the string '0.5'."""
    with pytest.raises(UsageError):
        call()


def test_the_documented_api_exists():
    """Defect 6: mnetcost.training raised AttributeError; diff returned a bare tuple."""
    t = mnetcost.training("v2")
    assert t.totals["forward_macs"] == mnetcost.cost("v2", convention="torchvision").mult_adds
    d = mnetcost.explore.diff("v2", alpha=(1.0, 0.75))
    import pandas as pd

    assert all(isinstance(f, pd.DataFrame) for f in (d.layers, d.blocks, d.parts))
    assert d.totals["d_macs"] == mnetcost.cost("v2", alpha=0.75).macs - mnetcost.cost("v2").macs


def test_training_sweep_equals_training_under_every_convention():
    """#20: under fvcore, ptflops and timm-fused the sweep weighed a counter's other operations by the
    backward factors (1,961,019,888 against training's 1,857,242,592 for v2, 0.75, 224 px, batch 3)."""
    for convention in ("fvcore", "ptflops", "torchvision"):
        t = training("v2", alpha=0.75, convention=convention, batch=3).totals
        s = training_sweep("v2", [0.75], [224], convention=convention, batch=3)
        assert s["training_macs"][0] == t["forward_macs"] + t["backward_macs"] == 1_857_242_592


def test_op_sets_are_values():
    """register_op returns a new set and changes nothing global: tests never monkeypatch."""
    assert "gconv" in FULL and "gconv" not in O.BUILTIN and FULL.custom == ("gconv",)
    with pytest.raises(UsageError):
        mnetcost.register_op("bneck", _gconv_forward)  # a row type's name
    with pytest.raises(UsageError):
        mnetcost.register_op("x", _gconv_forward, backward=3)


def test_a_user_cost_function_may_not_return_negative_counts(gconv_table):
    neg = mnetcost.register_op("gconv", lambda layer, rules: OpCost(-1 * layer.area_out, 5))
    with pytest.raises(UsageError, match="negative macs"):
        mnetcost.cost(gconv_table, ops=neg)


def test_a_config_is_validated_once_and_accepted_everywhere():
    c = mnetcost.Config(alpha=0.75, resolution=160, convention="torchvision")
    assert mnetcost.cost("v2", c).macs == mnetcost.cost("v2", alpha=0.75, resolution=160, convention="torchvision").macs
    assert memory("v2", c).peak_bytes == memory("v2", alpha=0.75, resolution=160, convention="torchvision").peak_bytes
    with pytest.raises(UsageError, match="not both"):
        mnetcost.cost("v2", c, alpha=0.5)
    with pytest.raises(UsageError, match="unknown option"):
        mnetcost.cost("v2", alpah=0.5)
    for bad in ({"alpha": "0.5"}, {"rho": -1}, {"resolution": "12y"}, {"classes": 1.5}, {"top": "no"},
                {"head": (0,)}, {"ops": {}}):
        with pytest.raises(UsageError):
            mnetcost.Config(**bad)


# ---- the property: every quantity of a grid equals the single configuration --------------------------------

ROW = "stage,op,start,kernel,t,exp,out,n,stride,se,nl,from,args,width,layer_scale"


@st.composite
def tables(draw):
    """A random valid table: a stem, blocks of every row type (V2/V3 inverted residuals, V4 fused, UIB and
    Mobile MQA, a user's grouped conv, the built-in conv in groups, a graph add reading an earlier stage), a pooled
    classifier."""
    family = draw(st.sampled_from(["v2", "v3", "v4"]))
    rows = [f"stem,conv,,3,,,{draw(st.sampled_from([8, 16, 24]))},1,2,,RE,,,,"]
    width, names = None, ["stem"]
    for i in range(draw(st.integers(1, 5))):
        kind = draw(st.sampled_from(["bneck", "fused", "uib", "mqa", "gconv", "groups", "dwsep", "add"]))
        out = draw(st.sampled_from([16, 24, 32]))
        stride = draw(st.sampled_from([1, 2]))
        name = f"b{i}"
        if kind == "bneck":
            se = draw(st.sampled_from(["", "1"])) if family == "v3" else ""
            rows.append(f"{name},bneck,,{draw(st.sampled_from([3, 5]))},{draw(st.sampled_from([1, 3, 6]))},,{out},"
                        f"{draw(st.integers(1, 2))},{stride},{se},{draw(st.sampled_from(['RE', 'HS', 'RE6']))},,,,")
        elif kind == "fused":
            rows.append(f"{name},fused,,3,4,,{out},1,{stride},,RE,,,,")
        elif kind == "uib":
            start, mid = draw(st.sampled_from([("3", "3"), ("", "3"), ("5", ""), ("", "")]))
            stride = stride if mid or start else 1
            ls = draw(st.sampled_from(["", "1"]))
            rows.append(f"{name},uib,{start},{mid},2,,{out},1,{stride},,RE,,,,{ls}")
        elif kind == "mqa":
            kv = draw(st.sampled_from([1, 2]))
            rows.append(f"{name},mqa,,3,,,{out},1,1,,,,heads=2;key_dim=8;kv_stride={kv},,1")
        elif kind == "gconv":
            rows.append(f"{name},gconv,,3,,,{out},1,{stride},,RE,,groups=4,,")
        elif kind == "groups":  # the built-in conv's args groups=G
            rows.append(f"{name},conv,,3,,,{out},1,{stride},,RE,,groups={draw(st.sampled_from([2, 4, 8]))},,")
        elif kind == "dwsep":
            rows.append(f"{name},dwsep,,3,,,{out},1,{stride},,RE,,,,")
        else:  # graph rows: two 1x1 convs of one width, the second reading the first, then their sum
            rows.append(f"{name}a,conv,,1,,,{out},1,1,,RE,,,fixed,")
            rows.append(f"{name}c,conv,,1,,,{out},1,1,,RE,,,fixed,")
            rows.append(f'{name},add,,,,,,1,1,,,"{name}a,{name}c",,,')
        names.append(name)
    rows += ["pool,pool,,1,,,,1,1,,,,,,", "fc,fc,,1,,,k,1,1,,,,,,"]
    text = f"# family: {family}\n# resolution: 64\n{ROW}\n" + "\n".join(rows) + "\n"
    return family, text


CONVENTIONS = {"v2": ["paper", "torchvision", "fvcore"], "v3": ["paper", "torchvision", "ptflops"],
               "v4": ["paper", "timm", "timm-fused"]}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables(), st.data())
def test_every_quantity_of_a_grid_equals_the_single_configuration(tmp_path_factory, drawn, data):
    family, text = drawn
    path = tmp_path_factory.mktemp("t") / "t.csv"
    path.write_text(text)
    convention = data.draw(st.sampled_from(CONVENTIONS[family]))
    alphas = data.draw(st.lists(st.sampled_from([0.35, 0.5, 0.75, 1.0, 1.3]), min_size=1, max_size=3, unique=True))
    res = data.draw(st.lists(st.sampled_from([64, 96, 97, 128, 160]), min_size=1, max_size=3, unique=True))
    options = dict(convention=convention, ops=FULL)
    try:
        macs, params = mnetcost.grid(path, alphas, res, **options)
    except MnetcostError as e:  # a draw the table rules refuse (e.g. a residual that cannot apply)
        with pytest.raises(type(e)):
            mnetcost.cost(path, alpha=alphas[0], resolution=res[0], **options)
        return
    peaks = peak_grid(path, alphas, res, dtype="int8", **options)
    seconds = latency_grid(path, alphas, res, "pixel1-big-core", **options)
    steps = training_sweep(path, alphas, res, batch=2, count="torch", **options)
    for i, a in enumerate(alphas):
        for j, r in enumerate(res):
            one = mnetcost.cost(path, alpha=a, resolution=r, **options)
            assert (macs[i, j], params[i]) == (one.macs, one.params)
            assert peaks[i, j] == memory(one, dtype="int8").peak_bytes
            assert seconds[i, j] == pytest.approx(roofline(path, alpha=a, resolution=r, device="pixel1-big-core",
                                                            **options).latency_s, rel=1e-12)
            t = training(path, alpha=a, resolution=r, batch=2, **options).totals
            row = steps.iloc[i * len(res) + j]
            assert (row["training_macs"], row["trainable"]) == (t["forward_macs"] + t["backward_macs_torch"],
                                                                 t["trainable"])


# ---- structure -------------------------------------------------------------------------------------------

def _imports(path: pathlib.Path) -> set:
    """The package modules ``path`` imports, at any level (function-level imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
    return out


def test_no_import_cycle():
    """No module of the package reaches itself through its imports, function-level ones included."""
    graph = {p.stem: _imports(p) & {q.stem for q in PACKAGE.glob("*.py")} for p in PACKAGE.glob("*.py")}
    graph.update({f"cli/{p.stem}": set() for p in PACKAGE.glob("cli/*.py")})

    def reaches(start):
        seen, todo = set(), list(graph.get(start, ()))
        while todo:
            m = todo.pop()
            if m not in seen:
                seen.add(m)
                todo.extend(graph.get(m, ()))
        return seen

    cycles = sorted(m for m in graph if m in reaches(m) and m not in ("__init__", "__main__"))
    assert not cycles, f"import cycles through: {cycles}"


def test_no_function_over_60_lines():
    long = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{path.relative_to(PACKAGE)}:{node.name} ({node.end_lineno - node.lineno + 1})")
    assert not long, long


def _documented_op_set():
    """The op set docs/schema.md's "Your own op" builds, by running its code as written."""
    text = (PACKAGE.parent / "docs" / "schema.md").read_text()
    code = text.split("## Your own op")[1].split("```python")[1].split("```")[0]
    scope: dict = {}
    exec(code.replace('mnetcost.cost("mynet.csv", ops=ops)', ""), scope)
    return scope["ops"]


def test_the_documented_user_op_works_in_every_command(gconv_table):
    """A user op registered with every facet, as docs/schema.md shows it, in table, sweep, memory, roofline,
    train and fit alike (verify: tests/test_torch.py)."""
    ops = _documented_op_set()
    r = mnetcost.cost(gconv_table, ops=ops)
    assert r.layers.set_index("name").loc["g", "mult_adds"] == 9 * 16 * 32 // 4 * 8 * 8
    assert mnetcost.sweep(gconv_table, [1.0], [32], ops=ops)["macs"][0] == r.macs
    assert memory(gconv_table, ops=ops).peak_bytes > 0
    assert roofline(gconv_table, device="pixel1-big-core", ops=ops).latency_s > 0
    assert training(gconv_table, ops=ops).totals["backward_weight_macs"] > 0
    assert len(mnetcost.fit(gconv_table, [0.5, 1.0], [32, 64], ops=ops, device="pixel1-big-core")) == 4


@pytest.mark.torch
def test_the_documented_user_op_verifies_in_pytorch(gconv_table):
    if not os.environ.get("MNETCOST_REQUIRE_TORCH"):  # CI sets it: there this test never skips
        pytest.importorskip("torch")
    from mnetcost.torch import verify

    v = verify(gconv_table, ops=_documented_op_set())
    assert v.ok and any(row["op"] == "gconv" for row in v.rows)
