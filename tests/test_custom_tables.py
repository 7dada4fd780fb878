"""User tables: precise validation, a property-based test that every input ends in a result or a
clean error, and heads (no top, a new head, classes)."""

import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mnetcost
from mnetcost.cli import main
from mnetcost.errors import MnetcostError, TableError
from mnetcost.tables import parse_table, tables_dir

TOKENS = ["", "0", "1", "2", "3", "5", "7", "16", "24", "-1", "2.5", "k", "x", "nan", "inf", "1e9", "RE", "HS", "SW",
          "conv", "dw", "dwsep", "bneck", "pool", "fc", "blob", "stem", "last", "head", "fixed", "classes", "6", "0.5"]
COLUMNS = ["stage", "op", "kernel", "t", "exp", "out", "n", "stride", "se", "nl", "bn", "width", "residual"]


def finite_int(x):
    return isinstance(x, int) and x >= 0


def outcome(text, alpha, resolution, convention, classes, top, spatial):
    """Parse and cost; the only acceptable failures are mnetcost's own errors."""
    try:
        table = parse_table(text, "fuzz.csv")
        r = mnetcost.cost(table, alpha=alpha, resolution=resolution, convention=convention, classes=classes,
                          top=top, spatial=spatial)
    except MnetcostError as e:
        assert str(e) and "Traceback" not in str(e)
        return None
    if spatial == "exact":
        assert finite_int(r.macs) and finite_int(r.params)
    else:
        assert math.isfinite(r.macs) and r.macs >= 0
    return r


options = dict(
    alpha=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.35, 0.5, 1.0, 1.3])),
    resolution=st.one_of(st.integers(-5, 400), st.none()),
    convention=st.sampled_from(["paper", "torchvision", "keras", "tf-slim", "ptflops", "thop", "bogus"]),
    classes=st.one_of(st.none(), st.integers(-2, 2000)),
    top=st.booleans(),
    spatial=st.sampled_from(["exact", "continuous", "fuzzy"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(st.lists(st.sampled_from(TOKENS), min_size=len(COLUMNS), max_size=len(COLUMNS)), max_size=8),
       family=st.sampled_from(["v1", "v2", "v3", "v7", ""]), header_cut=st.integers(0, len(COLUMNS)), **options)
def test_random_tables_end_in_a_result_or_a_clean_error(rows, family, header_cut, **kw):
    columns = COLUMNS[:header_cut] + COLUMNS[header_cut + 1:] if header_cut < len(COLUMNS) else COLUMNS
    lines = [f"# family: {family}", ",".join(columns)]
    for row in rows:
        lines.append(",".join(v for v, c in zip(row, COLUMNS) if c in columns))
    outcome("\n".join(lines) + "\n", **kw)


SHIPPED = {name: (tables_dir() / f"{name}.csv").read_text() for name in mnetcost.model_names()}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SHIPPED)), edits=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 20),
                                                                      st.sampled_from(TOKENS + ["DELETE", "DUP"])),
                                                            max_size=4), **options)
def test_mutated_shipped_tables_end_in_a_result_or_a_clean_error(name, edits, **kw):
    lines = SHIPPED[name].splitlines()
    for line_no, cell, token in edits:
        i = line_no % len(lines)
        if token == "DELETE":
            del lines[i]
        elif token == "DUP":
            lines.insert(i, lines[i])
        else:
            cells = lines[i].split(",")
            cells[cell % len(cells)] = token
            lines[i] = ",".join(cells)
        if not lines:
            lines = ["#"]
    outcome("\n".join(lines) + "\n", **kw)


@pytest.mark.parametrize("text, message", [
    ("# family: v2\nstage,op,kernel,t,out,n,stride,residual\nc1,conv,3,,32,1,2,\nb1,bneck,3,6,16,1,1,1\n",
     "line 4, column residual: a residual needs stride 1 and equal input and output widths, got stride 1 and widths 32 -> 16"),
    ("# family: v2\nstage,op,kernel,out,n,stride,residual\nc1,conv,3,32,1,2,1\n", "line 3, column residual: a residual connection is only for a bneck, fused, uib or mqa row"),
    ("# family: v2\nstage,op,kernel,out,n,stride\nb,conv,3,32,1,2\nb,conv,3,32,1,1\n", "line 4, column stage: duplicate stage name (first at line 3), got 'b'"),
    ("# family: v2\nstage,op,kernel,out,n,stride\nb.1,conv,3,32,1,2\n", "line 3, column stage: a stage name cannot contain '.'"),
    ("# family: v2\nstage,op,kernel,exp,out,n,stride\nc,conv,3,96,32,1,2\n", "line 3, column exp: an expansion width is only for a bneck, fused or uib row, got '96'"),
    ("# family: v2\nstage,op,kernel,out,n,stride\nc,conv,3,32,5000,1\n", "line 3, column n: at most 1000 repeats, got '5000'"),
    ("# family: v2\nstage,op,kernel,out,n,stride,colour\nc,conv,3,32,1,1,red\n", "unknown column(s) colour"),
    ("# family: v2\nstage,op,kernel,out,n,stride\nc,dw,3,32,1,1\n", "line 3, column out: a dw row keeps its input width; leave out blank, got '32'"),
])
def test_validation_messages(text, message):
    with pytest.raises(TableError) as e:
        parse_table(text, "/tmp/mine.csv")
    assert message in str(e.value) and str(e.value).startswith("mine.csv")


def test_a_residual_that_cannot_apply_at_this_width(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("# family: v3\nstage,op,kernel,exp,out,n,stride,residual,width\nc,conv,3,,16,1,2,,stem\n"
                    "b,bneck,3,16,16,1,1,1,\n")
    assert mnetcost.cost(str(path), convention="keras").layers["op"].tolist()[-1] == "add"
    # Keras keeps V3's 16-filter stem at any alpha while the block narrows to 8: no residual possible
    with pytest.raises(MnetcostError, match="the residual of row 'b' .* cannot apply at alpha 0.35: 16 -> 8"):
        mnetcost.cost(str(path), convention="keras", alpha=0.35)


def test_keras_transfer_learning_recipe():
    """MobileNet alpha 1 at 224, base without top, global pooling, Dense(320, relu) x 2, Dense(2):
    Keras' count_params() is 3,660,226 (trainable 3,638,338)."""
    r = mnetcost.cost("v1", convention="keras", head=(320, 320), classes=2)
    assert (r.params, r.trainable) == (3_660_226, 3_638_338)
    assert mnetcost.cost("v1", convention="keras", top=False).params == 3_228_864


def test_head_and_no_top_on_the_command_line(capsys):
    import json

    assert main(["table", "v1", "-c", "keras", "--head", "320,320", "-k", "2", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["totals"]["params"] == 3_660_226 and d["top"] == [320, 320]
    assert [l["name"] for l in d["layers"]][-4:] == ["head_pool", "dense1", "dense2", "logits"]
    assert main(["table", "v3-large", "--no-top", "-f", "json"]) == 0
    names = [l["name"] for l in json.loads(capsys.readouterr().out)["layers"]]
    assert names[-1] == "conv2" and "pool" not in names
    assert main(["table", "v2", "--no-top", "--head", "10"]) == 2
    assert "give a head or no top, not both" in capsys.readouterr().err
    assert main(["table", "v2", "--head", "0"]) == 2
    assert "--head: values must be finite and > 0" in capsys.readouterr().err


DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_the_documented_example_costs_what_the_docs_derive_by_hand():
    r = mnetcost.cost(str(DOCS / "example.csv"), classes=10)
    assert (r.macs, r.params) == (957_056, 11_226)
    assert mnetcost.cost(str(DOCS / "example.csv"), classes=10, convention="torchvision").params == 12_122
    text = (DOCS / "schema.md").read_text()
    assert "**957,056**" in text and "**11,226**" in text and "12,122" in text


def test_the_documented_errors_are_what_the_tool_prints(capsys):
    text = (DOCS / "schema.md").read_text()
    block = text.split("$ mnetcost table docs/bad.csv\n")[1].split("```")[0]
    assert main(["table", str(DOCS / "bad.csv")]) == 1
    assert capsys.readouterr().err == block


def test_v3_design_steps():
    """V3 Section 5: 16 instead of 32 initial filters saves about 10M MAdds; the efficient last stage
    about 30M (the paper). mnetcost: 10.4M and, for our reading of Figure 5, 34.3M."""
    from mnetcost.explore import diff

    stem = diff("v3-large-stem32", "v3-large").totals
    blocks, tail = diff("v3-large-v2tail", "v3-large")[1], diff("v3-large-v2tail", "v3-large").totals
    assert stem["d_macs"] == -10_436_608 and round(stem["d_macs"] / 1e6) == -10
    assert tail["d_macs"] == -34_317_760
    changes = dict(zip(blocks["block"], blocks["change"]))
    assert changes["bneck16"] == "removed" and changes["conv3"] == "added" and changes["conv2"] == "changed"


def test_diff_command(capsys):
    import json

    assert main(["diff", "v3-large-v2tail", "v3-large", "-f", "json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["totals"]["d_macs"] == -34_317_760 and sum(r["d_macs"] for r in d["rows"]) == -34_317_760
    assert main(["diff", "v2", "--alpha", "1.0,0.75", "--by", "layer", "-f", "csv"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("name,change,macs_a,macs_b,d_macs")
    assert main(["diff", "v2", "-a", "1,2,3"]) == 2
    assert "one value for both sides or two" in capsys.readouterr().err
    assert main(["diff", "v2", "-c", "paper,keras", "--by", "op"]) == 2
    assert main(["diff", "v2", "-c", "paper,keras"]) == 0
    assert "(+68,224)" in capsys.readouterr().out


V4_HEADER = "# family: v4\nstage,op,start,kernel,exp,out,n,stride,layer_scale,args\nc,conv,,3,,32,1,2,,\n"


@pytest.mark.parametrize("row, message", [
    ("u,uib,,,64,32,1,2,,", "column stride: a strided uib row needs a depthwise conv (start or kernel) to carry the stride"),
    ("u,uib,3,3,,32,1,1,,", "column t: a uib row needs an expansion: t (factor) or exp (width)"),
    ("f,fused,,,64,32,1,1,,", "column kernel: must be a positive integer"),
    ("m,mqa,,3,,32,1,1,,heads=4", "column args: an mqa row needs key_dim=N"),
    ("m,mqa,,,,32,1,1,,heads=4; key_dim=16; kv_stride=2",
     "column kernel: an mqa row with kv_stride > 1 needs the kernel of its key/value downsampling"),
    ("m,mqa,,3,,32,1,2,,heads=4; key_dim=16", "column stride: an mqa row keeps its input's size"),
    ("m,mqa,,3,,32,1,1,,heads=0; key_dim=16", "column args: heads must be a positive whole number"),
    ("m,mqa,,3,,32,1,1,,heads=2.5; key_dim=16", "column args: heads must be a positive whole number"),
    ("m,mqa,,3,,32,1,1,,heads=2; key_dim=16; colour=3", "unknown: colour"),
    ("m,mqa,,3,,32,1,1,,heads=65536; key_dim=65536", "heads x key_dim and heads x value_dim must be at most"),
    ("c2,conv,3,3,,32,1,1,,", "column start: a start depthwise kernel is only for a uib row"),
    ("c2,conv,,3,,32,1,1,1,", "column layer_scale: a layer scale is only for a fused, uib or mqa row"),
    ("u,uib,3,3,64,32,1,1,,heads=2", "column args: op arguments are only for a conv, mqa, upsample or gridpool row"),
    ("c2,conv,,3,,32,1,1,,groups=3", "column args: groups=3 does not divide the row's out width 32"),
    ("c2,conv,,3,,32,1,1,,groups=0", "column args: a conv row takes groups=G (a positive whole number) or nothing"),
    ("c2,conv,,3,,32,1,1,,groups=2.5", "column args: a conv row takes groups=G"),
    ("c2,conv,,3,,32,1,1,,colour=2", "column args: a conv row takes groups=G"),
])
def test_v4_rows_are_checked(row, message):
    with pytest.raises(TableError) as e:
        parse_table(V4_HEADER + row + "\n", "/tmp/v4.csv")
    assert str(e.value).startswith("v4.csv, line 4, ") and message in str(e.value) and "\n" not in str(e.value)


def test_a_row_error_names_the_users_file_not_its_name(tmp_path, capsys):
    """The long fuzz (#20): a user's table named like a shipped one ('# name: v2') was reported as 'v2: fc row …';
    a message about a row names the file the user gave, as the reader's messages do."""
    path = tmp_path / "mine.csv"
    path.write_text("# name: v2\n# family: v2\n# resolution: 32\nstage,op,kernel,out,n,stride\nc,conv,3,16,1,2\nfc,fc,1,10,1,1\n")
    assert main(["table", str(path)]) == 1
    assert capsys.readouterr().err == ("mnetcost: error: mine.csv: fc row 'fc' (line 6) needs a 1x1 input; "
                                       "add a pool row before it\n")


@pytest.mark.parametrize("alpha, ok", [(1.0, True), (0.5, True), (0.35, False)])
def test_a_grouped_conv_keeps_its_group_count_under_alpha(tmp_path, alpha, ok):
    """groups=G is the row's setting, never scaled: 32 -> 64 channels in 16 groups at alpha 1 and 0.5 (16 -> 32),
    refused where alpha 0.35 leaves 16 -> 24 (24 is no multiple of 16)."""
    path = tmp_path / "g.csv"
    path.write_text("# family: v2\n# resolution: 32\nstage,op,kernel,out,n,stride,width,args\n"
                    "c,conv,3,32,1,2,stem,\ng,conv,3,64,1,1,,groups=16\n")
    if not ok:
        with pytest.raises(TableError, match="groups=16, which does not divide its 16 -> 24 channels"):
            mnetcost.cost(str(path), alpha=alpha, convention="paper")
        return
    r = mnetcost.cost(str(path), alpha=alpha, convention="paper")
    cin, cout = int(r.columns["c_in"][1]), int(r.columns["c_out"][1])
    assert int(r.columns["groups"][1]) == 16
    assert int(r.columns["params"][1]) == 3 * 3 * (cin // 16) * cout  # by hand: the paper convention counts no BatchNorm
    assert int(r.columns["mult_adds"][1]) == 3 * 3 * (cin // 16) * cout * 16 * 16


def test_backbone_end_in_a_table_without_backbone_splits_its_own_rows(tmp_path):
    """Rows up to backbone-end are the backbone part: the smallest input is their total stride (8 here), not
    the whole table's (32); a bad stage name is refused."""
    body = ("stage,op,kernel,out,n,stride\nc,conv,3,16,1,2\nd,conv,3,16,1,2\nx1,conv,3,16,1,2\nx2,conv,3,16,1,2\n"
            "x3,conv,3,16,1,2\n")
    path = tmp_path / "own.csv"
    path.write_text("# family: v2\n# resolution: 8\n# backbone-end: x1\n" + body)
    r = mnetcost.cost(str(path), resolution=8, convention="paper")
    assert r.columns["part"].tolist() == ["backbone"] * 3 + ["head"] * 2
    assert r.columns["h_out"].tolist() == [4, 2, 1, 1, 1]
    from mnetcost.train import training

    frozen = training(str(path), freeze="backbone", resolution=8, convention="paper").columns["frozen"]
    assert frozen.tolist() == [True] * 3 + [False] * 2  # freeze="backbone": the rows up to backbone-end
    with pytest.raises(MnetcostError, match="total stride is 8"):
        mnetcost.cost(str(path), resolution=7, convention="paper")
    path.write_text("# family: v2\n# resolution: 8\n" + body)
    with pytest.raises(MnetcostError, match="total stride is 32"):
        mnetcost.cost(str(path), resolution=8, convention="paper")
    path.write_text("# family: v2\n# resolution: 8\n# backbone-end: nope\n" + body)
    with pytest.raises(TableError, match="metadata 'backbone-end' must name a stage of this table, got 'nope'"):
        mnetcost.cost(str(path))
