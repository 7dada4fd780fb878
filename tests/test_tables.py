"""The shipped tables: they load, they agree with the papers' own redundant columns, and malformed
tables are refused with one precise line per problem."""

import dataclasses

import pytest

import mnetcost
from mnetcost.errors import TableError, UnknownModel
from mnetcost.tables import load_table, model_names, parse_table

SHIPPED = ["v1", "v1-conv", "v1-shallow", "v2", "v3-large", "v3-large-min", "v3-small", "v3-small-early", "v3-small-min",
           "mnasnet-b1", "efficientnet-b0", "v3-large-stem32", "v3-large-v2tail"]
HEADS = ["lraspp-v3-large", "deeplabv3-v3-large", "ssdlite-v3-large", "ssdlite-v3-small", "ssdlite-v2", "ssdlite-v1",
         "ssdlite-mnasnet", "deeplabv3-v1", "deeplabv3-v2", "r-aspp-v2", "r-aspp-v3-large", "lraspp-v2",
         "lraspp-v3-large-paper", "lraspp-v3-small"]


V4 = {"v4-conv-small": 224, "v4-conv-medium": 256, "v4-conv-large": 384, "v4-hybrid-medium": 256,
      "v4-hybrid-large": 384}  # the input sizes of V4 Tables 11-15
V5 = ["v5-300m", "v5-base"]


def test_every_shipped_table_is_listed():
    assert model_names() == sorted(SHIPPED + HEADS + list(V4) + V5)


@pytest.mark.parametrize("name", V4)
def test_v4_table_metadata(name):
    t = load_table(name)
    assert t.family == "v4" and t.resolution == V4[name] and t.source and t.title
    assert all(row.source for row in t.rows), "every row cites its source"


@pytest.mark.parametrize("name", HEADS)
def test_head_tables_build_on_a_backbone_without_copying_it(name):
    t = load_table(name)
    backbone = load_table(t.backbone)
    assert t.name == name and t.source and t.title and t.family == backbone.family
    assert all(row.source for row in t.rows), "every row cites its source"
    kept = [row for row in t.rows if row.part == "backbone"]
    assert kept == [dataclasses.replace(row, part="backbone") for row in backbone.rows[:len(kept)]]
    assert len(t.rows) - len(kept) == sum(1 for line in open(t.path) if line.strip() and not line.startswith("#")) - 1


@pytest.mark.parametrize("name", SHIPPED)
def test_table_metadata(name):
    t = load_table(name)
    assert t.name == name and t.family in ("v1", "v2", "v3", "mnasnet", "efficientnet") and t.resolution == 224
    assert t.source and t.title
    assert all(row.source for row in t.rows), "every row cites its source"


@pytest.mark.parametrize("name", SHIPPED + list(V4))
def test_input_column_matches_the_computed_input(name):
    """The papers print each row's input size; at alpha 1 and the table's resolution the engine must arrive at it."""
    t = load_table(name)
    layers = mnetcost.cost(name).layers
    for row in t.rows:
        first = layers[layers["stage"] == row.stage].iloc[0]
        assert f"{first['h_in']}x{first['w_in']}x{first['c_in']}" == row.input, row.stage


def test_paper_layer_counts():
    v1 = mnetcost.cost("v1").layers
    # "Counting depthwise and pointwise convolutions as separate layers, MobileNet has 28 layers" (V1 §3)
    assert v1["op"].isin(["conv", "dw", "pw", "fc"]).sum() == 28
    assert sum(r.n for r in load_table("v2").rows if r.op == "bneck") == 17  # Table 2's n column
    assert sum(1 for r in load_table("v3-large").rows if r.op == "bneck") == 15
    assert sum(1 for r in load_table("v3-small").rows if r.op == "bneck") == 11


def test_v1_last_depthwise_stride_erratum_is_recorded_and_applied():
    t = load_table("v1")
    assert any("s2" in e and "stride 1" in e for e in t.errata)
    assert t.rows[-3].stride == 1 and t.rows[-3].input == "7x7x1024"


def test_v1_shallow_drops_the_five_14x14_layers():
    full, shallow = mnetcost.cost("v1").layers, mnetcost.cost("v1-shallow").layers
    assert len(full) - len(shallow) == 10


def test_minimalistic_tables_have_no_se_no_hswish_no_5x5():
    for name in ("v3-large-min", "v3-small-min"):
        rows = load_table(name).rows
        assert not any(r.se for r in rows) and not any(r.nl == "HS" for r in rows)
        assert all(r.kernel in (1, 3) for r in rows if r.op in ("conv", "bneck"))


def test_a_table_loads_from_a_path(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text((mnetcost.tables.tables_dir() / "v2.csv").read_text())
    assert mnetcost.cost(str(path)).macs == mnetcost.cost("v2").macs


def test_unknown_model_lists_the_shipped_ones():
    with pytest.raises(UnknownModel, match="unknown model 'v4'.*v3-large"):
        load_table("v4")
    with pytest.raises(UnknownModel, match="no table file"):
        load_table("missing/table.csv")


GOOD = "# family: v2\nstage,op,kernel,t,out,n,stride\nc1,conv,3,,32,1,2\nb1,bneck,3,6,16,1,1\n"


def test_good_table_parses():
    t = parse_table(GOOD, "good.csv")
    assert [r.op for r in t.rows] == ["conv", "bneck"] and t.rows[1].t == 6


@pytest.mark.parametrize("text, message", [
    ("# family: v2\nstage,op,kernel,n,stride\nc1,conv,3,1,2\n", "missing column(s) out"),
    ("# family: v9\nstage,op,kernel,out,n,stride\nc1,conv,3,32,1,2\n", "metadata 'family' must be one of"),
    ("# family: v2\nstage,op,kernel,out,n,stride\nc1,blob,3,32,1,2\n", "line 3, column op: unknown op"),
    ("# family: v2\nstage,op,kernel,out,n,stride\nc1,conv,3,32.5,1,2\n", "line 3, column out: must be a positive integer, got '32.5'"),
    ("# family: v2\nstage,op,kernel,out,n,stride\nc1,conv,3,-32,1,2\n", "column out: must be a positive integer, got '-32'"),
    ("# family: v2\nstage,op,kernel,out,n,stride\nc1,conv,3,32,1,-2\n", "column stride: must be a positive integer, got '-2'"),
    ("# family: v2\nstage,op,kernel,out,n,stride\nc1,bneck,3,32,1,2\n", "a bneck row needs an expansion"),
    ("# family: v2\nstage,op,kernel,t,out,n,stride\nc1,conv,3,6,32,1,2\n", "column t: an expansion factor is only for a bneck, fused or uib row"),
    ("# family: v2\nstage,op,kernel,out,n,stride\nc1,bneck,3,k,1,2\n", "a width with symbols is a product of whole numbers"),
    ("# family: v2\nstage,op,kernel,out,n,stride\n", "the table has no rows"),
    ("# family: v2\n", "no header row"),
    ("# family: v2\n# resolution: -3\nstage,op,kernel,out,n,stride\nc1,conv,3,32,1,2\n", "metadata 'resolution' must be a positive integer, got '-3'"),
    ("# family: v2\n# channels: x\nstage,op,kernel,out,n,stride\nc1,conv,3,32,1,2\n", "metadata 'channels' must be a positive integer, got 'x'"),
])
def test_malformed_tables_name_file_line_column_and_value(text, message):
    with pytest.raises(TableError) as e:
        parse_table(text, "/some/where/bad.csv")
    assert message in str(e.value)
    assert str(e.value).startswith("bad.csv")


def test_every_problem_is_reported_one_line_each():
    text = "# family: v2\nstage,op,kernel,out,n,stride\nc1,conv,3,x,1,2\nc2,blob,3,8,1,1\nc3,conv,3,8,1,0\n"
    with pytest.raises(TableError) as e:
        parse_table(text, "bad.csv")
    lines = str(e.value).splitlines()
    assert [l.split(",")[1].strip() for l in lines] == ["line 3", "line 4", "line 5"]


def test_fc_row_needs_a_pooled_input(tmp_path):
    path = tmp_path / "nopool.csv"
    path.write_text("# family: v2\nstage,op,kernel,out,n,stride\nc1,conv,3,32,1,2\nfc,fc,1,k,1,1\n")
    with pytest.raises(TableError, match="fc row 'fc' \\(line 4\\) needs a 1x1 input"):
        mnetcost.cost(str(path))
