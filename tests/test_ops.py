"""The op registry: each cost function on a hand-built layer, against the papers' formulas."""

import numpy as np
import pytest

import mnetcost
from mnetcost.conventions import get_convention
from mnetcost.errors import TableError, UnknownOp, UsageError
from mnetcost.expand import Layer
from mnetcost.ops import BUILTIN, Area, OpCost, Terms, op_cost

PAPER = get_convention("paper").rules("v2")
FVCORE = get_convention("fvcore").rules("v2")


def layer(op, k=1, c_in=16, c_out=16, c_mid=0, h_in=9, h_out=9, bn=False, bias=False, act=""):
    return Layer(name="x", stage="x", block="x", op=op, kernel=k, stride=1, groups=1, c_in=c_in, c_out=c_out,
                 h_in=np.array([h_in]), w_in=np.array([h_in]), h_out=np.array([h_out]), w_out=np.array([h_out]),
                 bn=bn, bias=bias, act=act, c_mid=c_mid)


def one(x):
    return int(np.sum(x.value())) if isinstance(x, Terms) else int(np.sum(x))


def counts(l, rules=PAPER):
    c = op_cost(l, rules)
    return one(c.macs), one(c.weights), one(c.biases), one(c.other)


def test_standard_conv_is_dk_dk_m_n_df_df():
    assert counts(layer("conv", k=3, c_in=2, c_out=4, h_out=5))[:2] == (4 * 25 * 18, 3 * 3 * 2 * 4)


def test_depthwise_conv_is_dk_dk_m_df_df():
    assert counts(layer("dw", k=5, c_in=7, c_out=7, h_out=3))[:2] == (7 * 9 * 25, 25 * 7)


def test_pointwise_conv_is_m_n_df_df():
    assert counts(layer("pw", c_in=3, c_out=8, h_out=4))[:2] == (3 * 8 * 16, 24)


def test_fully_connected_has_biases():
    assert counts(layer("fc", c_in=10, c_out=3, h_out=1, bias=True))[:3] == (30, 30, 3)


def test_squeeze_excite_two_fcs():
    assert counts(layer("se", c_in=16, c_out=16, c_mid=8, bias=True))[:3] == (256, 256, 24)


@pytest.mark.parametrize("op", ["pool", "add", "mul", "concat", "upsample"])
def test_ops_without_arithmetic_cost_nothing_under_the_papers(op):
    assert counts(layer(op)) == (0, 0, 0, 0)


def test_fvcore_counts_four_per_bilinear_output_element_and_one_per_pooled_input():
    assert counts(layer("upsample", c_out=8, h_in=3, h_out=12), FVCORE)[3] == 4 * 8 * 144
    assert counts(layer("pool", c_in=8, c_out=8, h_in=7, h_out=1), FVCORE)[3] == 8 * 49 + 0 * 8
    assert counts(layer("concat"), FVCORE)[3] == counts(layer("mul"), FVCORE)[3] == 0


def test_counts_keep_their_area_apart_for_any_power_of_it():
    area = Area(np.array([4, 9]))
    t = np.array([2.0, 3.0]) * area + 5 * (area * area)
    assert set(t.items) == {area.key, Area(np.array([16, 81])).key}
    assert np.array_equal(t.value(), [[2 * 4 + 5 * 16, 2 * 9 + 5 * 81], [3 * 4 + 80, 3 * 9 + 405]])


def test_unknown_op_is_an_error_never_zero():
    with pytest.raises(UnknownOp):
        BUILTIN["shuffle"]
    assert set(BUILTIN) == {"conv", "dw", "pw", "fc", "se", "pool", "add", "mul", "concat", "upsample", "norm", "attn",
                            "scale", "gridpool"}


def test_a_registered_op_is_costed_from_its_own_arguments(tmp_path):
    def scaled_identity(layer, rules):
        return OpCost(layer.args["factor"] * layer.c_in * layer.area_out, 0)

    ops = mnetcost.register_op("scaled_identity", scaled_identity)
    table = tmp_path / "t.csv"
    table.write_text("# family: v2\n# resolution: 8\nstage,op,kernel,out,n,stride,args\n"
                     "stem,conv,3,8,1,1,\nodd,scaled_identity,,,1,2,factor=3\n")
    r = mnetcost.cost(table, ops=ops)
    assert r.layers["mult_adds"].tolist() == [3 * 3 * 3 * 8 * 64, 3 * 8 * 16]
    with pytest.raises(TableError, match="scaled_identity"):  # the op set is a value: nothing global changed
        mnetcost.cost(table)
    assert "scaled_identity" not in BUILTIN and "scaled_identity" in ops
    with pytest.raises(UsageError):
        mnetcost.register_op("conv", scaled_identity)


def test_mqa_block_as_docs_schema_derives_it():
    """docs/schema.md's worked attention block (v4-hybrid-medium's first, 256 px, timm), derived by hand there."""
    layers = mnetcost.cost("v4-hybrid-medium", convention="timm").layers
    block = layers[layers["block"] == "mqa8"].set_index("name")
    assert block.loc["mqa8.attn", "macs"] == 4 * 256 * 64 * (64 + 64) == 8_388_608
    assert block["params"].sum() == (2 * 160 + 160 * 256 + 2 * (9 * 160 + 2 * 160) + 160 * 64 + 160 * 64 + 256 * 160
                                     + 160) == 106_400
    assert list(block["op"]) == ["norm", "pw", "dw", "pw", "dw", "pw", "attn", "pw", "scale", "add"]


def test_attention_grows_with_the_area_squared():
    def attn(res):
        c = mnetcost.cost("v4-hybrid-medium", convention="timm", resolution=res).layers
        return c.loc[c["op"] == "attn", "macs"].sum()
    assert attn(512) == 16 * attn(256)  # twice the side: 4x the query tokens, 4x the key/value tokens


def test_uib_variants_by_hand():
    """C = 160, t = 4, 16 x 16, 3x3: pointwise 2·HW·C·tC; depthwise 9·HW·C before, 9·HW·tC after the expansion."""
    v = mnetcost.ratios.uib_variants(160, t=4, size=16).set_index("variant")
    pw, before, after = 2 * 256 * 160 * 640, 9 * 256 * 160, 9 * 256 * 640
    assert dict(v["macs"]) == {"ExtraDW": pw + before + after, "IB": pw + after, "ConvNext": pw + before, "FFN": pw}
    assert v.loc["FFN", "params"] == 2 * 160 * 640 and v.loc["ExtraDW", "params"] == 2 * 160 * 640 + 9 * 160 + 9 * 640
