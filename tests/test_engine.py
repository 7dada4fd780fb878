"""The engine's behaviour: resolution and width handling, spatial modes, conventions, breakdowns,
bad input."""

import json
import math

import pytest

import mnetcost
from mnetcost.errors import UnknownConvention, UsageError
from mnetcost.ratios import block_ratios, compare_layer, separable_ratio


def test_doc_example():
    r = mnetcost.cost("v2", alpha=0.75, rho=0.714, convention="paper", classes=None, spatial="exact")
    assert r.resolution == 160 and r.rho == 0.714
    assert isinstance(r.macs, int) and isinstance(r.params, int)
    assert len(r.layers) == len(r.columns["name"]) and list(r.layers.columns)[:4] == ["name", "stage", "block", "op"]


def test_rho_and_resolution_are_the_same_thing():
    assert mnetcost.cost("v1", rho=160 / 224).macs == mnetcost.cost("v1", resolution=160).macs


def test_params_do_not_depend_on_resolution_and_macs_scale_with_rho_squared():
    base, small = mnetcost.cost("v1", resolution=224), mnetcost.cost("v1", resolution=160)
    assert base.params == small.params
    body = lambda r: int(r.layers.query("op != 'fc'")["macs"].sum())
    # every V1 feature map at 160 is 5/7 of the one at 224 (both divisible by 32)
    assert body(small) * 49 == body(base) * 25


def test_odd_resolution_uses_same_padding():
    r = mnetcost.cost("v2", resolution=97).layers
    assert list(r.query("op == 'dw' and stride == 2")["h_out"]) == [25, 13, 7, 4]
    assert r.iloc[0]["h_out"] == 49


def test_resolution_too_small():
    with pytest.raises(UsageError, match="resolution 31 px is too small for v2: its total stride is 32"):
        mnetcost.cost("v2", resolution=31)
    assert mnetcost.cost("v2", resolution=32).layers["h_out"].min() == 1


def test_continuous_mode_keeps_rho_df_real():
    r = mnetcost.cost("v1", rho=0.714, spatial="continuous")
    assert r.resolution == pytest.approx(159.936) and isinstance(r.macs, float)
    assert r.layers.iloc[-3]["h_out"] == pytest.approx(159.936 / 32)
    assert mnetcost.cost("v1", spatial="continuous").macs == mnetcost.cost("v1").macs


def test_v1_table3_through_the_engine(tmp_path):
    """One depthwise separable layer, 512 -> 512 on 14 x 14, as a table of its own."""
    path = tmp_path / "layer.csv"
    path.write_text("# family: v1\n# resolution: 14\n# channels: 512\nstage,op,kernel,out,n,stride\nsep,dwsep,3,512,1,1\n")
    r = mnetcost.cost(str(path))
    assert (r.macs, r.params) == (52_283_392, 266_752)
    c = compare_layer(3, 512, 512, 14)
    assert (c.macs_separable, c.params_separable) == (r.macs, r.params)
    cont = mnetcost.cost(str(path), rho=0.714, spatial="continuous")
    assert cont.macs == pytest.approx(compare_layer(3, 512, 512, 14, rho=0.714).macs_separable)


def test_table3_rows_from_the_paper_formula():
    rows = [compare_layer(3, 512, 512, 14), compare_layer(3, 512, 512, 14, alpha=0.75),
            compare_layer(3, 512, 512, 14, alpha=0.75, rho=0.714)]
    assert round(rows[0].macs_standard / 1e6) == 462 and round(rows[0].params_standard / 1e6, 2) == 2.36
    assert [round(r.macs_separable / 1e6, 1) for r in rows] == [52.3, 29.6, 15.1]
    assert [round(r.params_separable / 1e6, 2) for r in rows] == [0.27, 0.15, 0.15]
    assert rows[2].size == pytest.approx(9.996)


def test_separable_ratio_closed_form_equals_exact_ratio_for_v1():
    ratios = block_ratios(mnetcost.cost("v1"))
    assert len(ratios) == 13
    for _, r in ratios.iterrows():
        assert r["ratio"] == pytest.approx(separable_ratio(r["c_out"], 3), rel=1e-12)
    assert separable_ratio(512, 3) == pytest.approx(1 / 512 + 1 / 9)


def test_model_level_v1_against_v1_conv():
    ratio = mnetcost.cost("v1").macs / mnetcost.cost("v1-conv").macs
    assert 0.11 < ratio < 0.12  # "8 to 9 times less computation" (V1 §3.1)


def test_v1_table2_breakdown():
    shares = mnetcost.cost("v1").by_op()
    macs = (shares["macs_share"] * 100).round(2)
    weights = (shares["weights_share"] * 100).round(2)
    assert (macs["pw"], macs["dw"], macs["conv"], macs["fc"]) == (94.86, 3.06, 1.91, 0.18)  # paper prints 1.19 for 1.91
    assert (weights["pw"], weights["dw"], weights["conv"], weights["fc"]) == (74.59, 1.06, 0.02, 24.33)


@pytest.mark.parametrize("name", ["v1", "v2", "v3-large", "v3-small"])
def test_breakdowns_add_up(name):
    r = mnetcost.cost(name, alpha=0.5, resolution=160, convention="torchvision")
    for frame in (r.by_op(), r.by_block(), r.by_stage()):
        assert frame["macs"].sum() == r.macs and frame["params"].sum() == r.params
        assert frame["macs_share"].sum() == pytest.approx(1.0)


def test_conventions_differ_only_where_they_should():
    paper, tv, keras = (mnetcost.cost("v2", convention=c) for c in ("paper", "torchvision", "keras"))
    assert paper.macs == tv.macs == keras.macs
    bn_channels = int(tv.layers["bn_params"].sum() // 2)
    assert tv.params - paper.params == 2 * bn_channels and keras.params - paper.params == 4 * bn_channels
    assert keras.trainable == tv.params
    slim = mnetcost.cost("v2", convention="tf-slim")
    assert slim.classes == 1001 and slim.params - paper.params == 1280 + 1


def test_classes():
    a, b = mnetcost.cost("v2", classes=10), mnetcost.cost("v2", classes=11)
    assert b.params - a.params == 1281 and b.macs - a.macs == 1280


def test_json_ready_dict():
    d = mnetcost.cost("v3-small").to_dict()
    json.dumps(d)
    assert set(d) >= {"model", "alpha", "rho", "resolution", "convention", "classes", "spatial", "totals", "layers"}
    assert d["totals"]["macs"] == sum(l["macs"] for l in d["layers"])
    assert set(d["layers"][0]) >= {"name", "op", "macs", "params"}


@pytest.mark.parametrize("kwargs, message", [
    ({"alpha": 0}, "alpha must be a finite number > 0, got 0"),
    ({"alpha": -1}, "got -1"),
    ({"alpha": math.nan}, "got nan"),
    ({"alpha": math.inf}, "got inf"),
    ({"rho": 0.5, "resolution": 112}, "give rho or resolution, not both"),
    ({"rho": 0}, "rho must be a finite number > 0"),
    ({"resolution": 100.5}, "whole number of pixels"),
    ({"classes": 0}, "classes must be a whole number from 1 to 2,147,483,648, got 0"),
    ({"classes": 2.5}, "got 2.5"),
    ({"spatial": "fuzzy"}, "unknown spatial mode 'fuzzy'; choose one of exact, continuous"),
])
def test_bad_input(kwargs, message):
    with pytest.raises(UsageError, match=message):
        mnetcost.cost("v2", **kwargs)


def test_alpha_that_leaves_no_channels():
    # Keras V1 truncates int(32 * 0.01) = 0; TF-slim's min_depth keeps 8
    with pytest.raises(UsageError, match="alpha 0.01 leaves a layer of v1 with 0 channels"):
        mnetcost.cost("v1", alpha=0.01, convention="keras")
    assert mnetcost.cost("v1", alpha=0.01, convention="tf-slim").layers["c_out"].min() == 8


def test_unknown_convention_lists_them():
    with pytest.raises(UnknownConvention, match="choose one of paper, torchvision, keras, tf-slim, ptflops"):
        mnetcost.cost("v2", convention="flopcounter")


def test_the_core_does_not_import_torch():
    import subprocess
    import sys

    code = ("import sys, mnetcost, mnetcost.cli; mnetcost.cost('v2'); mnetcost.memory('v2'); "
            "mnetcost.main = mnetcost.cli.main(['table', 'v2', '-f', 'csv']); print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip().endswith("False"), out.stderr


def test_verify_without_torch_is_one_line():
    import subprocess
    import sys

    code = "import sys; sys.modules['torch'] = None; from mnetcost.cli import main; sys.exit(main(sys.argv[1:]))"
    out = subprocess.run([sys.executable, "-c", code, "verify", "v2"], capture_output=True, text=True)
    assert out.returncode == 3 and out.stderr == 'mnetcost: error: mnetcost verify needs PyTorch: pip install "mnetcost[torch]"\n'
    # the arguments are checked first: a bad option is a usage error whether or not torch is there
    out = subprocess.run([sys.executable, "-c", code, "verify", "nosuchmodel"], capture_output=True, text=True)
    assert out.returncode == 2 and "unknown model 'nosuchmodel'" in out.stderr


def test_v1_table2_reference_data_and_its_erratum():
    from mnetcost.reference import v1_table2

    paper = v1_table2().set_index("op")
    ours = mnetcost.cost("v1").by_op()
    for op, row in paper.iterrows():
        macs_ok = round(100 * ours.loc[op, "macs_share"], 2) == row["macs_share_pct"]
        assert macs_ok == (row["verdict"] == "match"), op
        assert round(100 * ours.loc[op, "weights_share"], 2) == row["params_share_pct"]
    assert paper["macs_share_pct"].sum() == pytest.approx(99.29)


def test_every_expanded_layer_has_every_field_of_a_layer():
    """Layers are made without the dataclass's __init__ (``expand._made``, for speed): each must still carry
    every field, and stay frozen."""
    import dataclasses

    import numpy as np

    from mnetcost import engine
    from mnetcost.expand import Layer

    names = {f.name for f in dataclasses.fields(Layer)}
    for model in ("v2", "v4-hybrid-medium", "lraspp-v3-large"):
        layers = engine.setup(model).expand(np.array([1.0, 0.5]), np.array([224]))
        assert all(names <= set(vars(layer)) for layer in layers)
    with pytest.raises(dataclasses.FrozenInstanceError):
        layers[0].op = "dw"


def test_an_expansion_kept_for_another_convention_is_the_one_it_would_make():
    """Expansions of one configuration are kept by everything they read (``Rules.shaping``): a convention with the
    same width rules gets the same layers as a fresh expansion; another gets its own; the list is the caller's."""
    import numpy as np

    from mnetcost import engine, expand

    tv, fvcore, keras = (engine.setup("v2", convention=c) for c in ("torchvision", "fvcore", "keras"))
    first = tv.expand(np.array([0.35]), np.array([224]))
    first.append("the caller's")
    shared = fvcore.expand(np.array([0.35]), np.array([224]))  # fvcore counts torchvision's network
    assert len(shared) == len(first) - 1 and all(a is b for a, b in zip(shared, first))
    expand._KEPT.clear()
    fresh = tv.expand(np.array([0.35]), np.array([224]))
    assert [vars(a) == vars(b) for a, b in zip(shared, fresh)] == [True] * len(fresh)
    assert keras.rules.shaping != tv.rules.shaping
    kept = keras.expand(np.array([0.35]), np.array([224]))
    assert not any(a is b for a, b in zip(kept, fresh))
    expand._KEPT.clear()
    assert [vars(a) == vars(b) for a, b in zip(kept, keras.expand(np.array([0.35]), np.array([224])))] == \
        [True] * len(kept)


def test_a_kept_expansion_cannot_be_changed_by_its_caller_and_stage_alpha_is_never_kept():
    """The kept layers read copies of the caller's sizes, read-only: a caller that reuses its array changes
    nothing kept. An expansion with one multiplier per row is never kept (its key would not hold them)."""
    import numpy as np

    from mnetcost import engine
    from mnetcost.expand import expand

    s = engine.setup("v2")
    h = np.array([224])
    first = s.expand(np.array([1.0]), h)
    h[0] = 160
    again = s.expand(np.array([1.0]), np.array([224]))
    assert again[0].h_in[0] == 224 and not again[0].h_in.flags.writeable
    rows = np.linspace(0.5, 1.4, len(s.table.rows))[None, :]
    plain = expand(s.table, s.rules, 1.0, np.array([224]), np.array([224]), 1000, "exact")
    per_row = expand(s.table, s.rules, 1.0, np.array([224]), np.array([224]), 1000, "exact", stage_alpha=rows)
    assert [np.ravel(l.c_out)[0] for l in per_row] != [np.ravel(l.c_out)[0] for l in plain]
    assert len(first) == len(again)


@pytest.mark.parametrize("model", ["v1", "v2", "v3-large", "efficientnet-b0", "v4-hybrid-medium"])
def test_an_alpha_near_the_largest_float_is_a_usage_error_on_either_path(model):
    """One configuration expands with plain numbers, whose int() of an infinite width raised OverflowError
    (CI's mutated-table fuzz found it); it is the array path's refusal, word for word."""
    from mnetcost.errors import UsageError

    for alpha in (1e308, 1.7e308):
        with pytest.raises(UsageError, match=r"gives a layer of .* inf channels; at most"):
            mnetcost.cost(model, alpha=alpha)
        with pytest.raises(UsageError, match=r"gives a layer of .* inf channels; at most"):
            mnetcost.grid(model, [alpha, 1.0])
