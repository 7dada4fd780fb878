"""Tables as graphs: references, merges, upsampling, head tables on a backbone, one evaluation path,
and the errors a malformed graph gets. Expected numbers are derived by hand in docs/schema.md."""

from pathlib import Path

import numpy as np
import pytest

import mnetcost
from mnetcost.engine import grid
from mnetcost.errors import MnetcostError, TableError, UsageError
from mnetcost.tables import parse_table
from mnetcost.traffic import memory, peak_grid

DOCS = Path(__file__).resolve().parent.parent / "docs"
HEADS = ["lraspp-v3-large", "deeplabv3-v3-large", "ssdlite-v3-large", "ssdlite-v3-small", "ssdlite-v2"]


def test_the_documented_two_branch_head():
    """docs/schema.md derives these by hand: backbone 956,416 MACs and 10,576 params (the worked example
    without its pool and classifier), head 168,960 MACs and 2,469 params."""
    r = mnetcost.cost(DOCS / "branch.csv")
    assert (r.macs, r.params, r.classes) == (1_125_376, 13_045, 5)
    L = r.layers.set_index("name")
    assert L.loc["gate", "from"] == "a,b" and (L.loc["gate", "h_out"], L.loc["gate", "c_out"]) == (8, 16)
    assert (L.loc["up", "h_out"], L.loc["cat", "c_out"], L.loc["cat", "from"]) == (16, 80, "up,b1.1.expand")
    assert L.loc["cls", "macs"] == 80 * 5 * 16 * 16 and L.loc["cls", "params"] == 405
    head = L[L.index.isin(["a", "pool", "b", "gate", "up", "cat", "cls"])]
    assert (head["macs"].sum(), head["params"].sum()) == (168_960, 2_469)


def test_plain_chains_are_unchanged_by_the_graph_format():
    """A chain written with explicit references costs what the implicit chain costs."""
    chain = "# family: v2\n# resolution: 32\nstage,op,kernel,t,out,n,stride,from\nstem,conv,3,,16,1,2,\nb,bneck,3,4,24,2,2,{}\n"
    assert mnetcost.cost(parse_table(chain.format(""))).macs == mnetcost.cost(parse_table(chain.format("stem"))).macs


def table(rows, header="stage,op,kernel,out,n,stride,nl,bn,width,from,size"):
    return parse_table("# family: v2\n# resolution: 32\n" + header + "\n" + "\n".join(rows) + "\n", "g.csv")


STEM = "stem,conv,3,16,1,2,RE,1,fixed,,"


@pytest.mark.parametrize("rows, message", [
    ([STEM, "x,conv,1,8,1,1,RE,1,fixed,nothing,"], "names no earlier stage, block or layer"),
    ([STEM, "x,conv,1,8,1,1,RE,1,fixed,y,", "y,conv,1,8,1,1,RE,1,fixed,,"], "no cycles"),
    ([STEM, "x,conv,1,8,1,1,RE,1,fixed,stem.expand,"], "names no layer of an earlier row"),
    ([STEM, "x,concat,,,1,1,,,,stem,"], "reads two or more tensors"),
    ([STEM, "x,upsample,,,1,1,,,,stem,"], "names the tensor whose size it takes"),
    ([STEM, "x,conv,1,8,1,1,RE,1,fixed,stem,nothing"], "column size"),
    ([STEM, "input,conv,1,8,1,1,RE,1,fixed,,"], "'input' names the network's input"),
])
def test_malformed_graphs_are_one_line_each(rows, message):
    with pytest.raises(TableError) as e:
        table(rows)
    assert message in str(e.value)


@pytest.mark.parametrize("rows, message", [
    ([STEM, "down,conv,3,16,1,2,RE,1,fixed,,", "x,concat,,,1,1,,,,\"stem,down\","], "combines tensors of different sizes"),
    ([STEM, "w,conv,1,8,1,1,RE,1,fixed,,", "x,add,,,1,1,,,,\"stem,w\","], "of different widths"),
])
def test_shapes_that_cannot_merge_are_refused(rows, message):
    with pytest.raises(TableError) as e:
        mnetcost.cost(table(rows))
    assert message in str(e.value)


def test_head_table_errors(tmp_path):
    bad = tmp_path / "h.csv"
    bad.write_text("# backbone: v3-large\nstage,op,kernel,out,n,stride,from\nx,conv,1,8,1,1,bneck99.expand\n")
    with pytest.raises(TableError, match="names no earlier stage"):
        mnetcost.cost(bad)
    bad.write_text("# backbone: nosuchnet\nstage,op,kernel,out,n,stride\nx,conv,1,8,1,1\n")
    with pytest.raises(TableError, match="metadata 'backbone'"):
        mnetcost.cost(bad)
    bad.write_text("# backbone: v3-large\nstage,op,kernel,out,n,stride\nconv2,conv,1,8,1,1\n")
    with pytest.raises(TableError, match="duplicate stage name .first in the backbone v3-large"):
        mnetcost.cost(bad)
    with pytest.raises(UsageError, match="no aux rows"):
        mnetcost.cost("lraspp-v3-large", aux=True)
    with pytest.raises(UsageError, match="no reduced tail"):
        mnetcost.cost("ssdlite-v2", reduced_tail=True)
    with pytest.raises(UsageError, match="head table"):
        mnetcost.cost("ssdlite-v2", top=False)


def test_output_stride_turns_the_last_stride_into_a_dilation():
    """torchvision's dilated=True: the last stage runs at stride 16 with dilation 2; parameters unchanged."""
    dense = mnetcost.cost("lraspp-v3-large", convention="torchvision").layers.set_index("name")
    assert (dense.loc["bneck13.dw", "stride"], dense.loc["bneck13.dw", "dilation"]) == (1, 2)
    assert (dense.loc["bneck15.dw", "dilation"], dense.loc["conv2", "h_out"]) == (2, 33)  # 520 px / 16
    assert (dense.loc["bneck12.dw", "dilation"], dense.loc["bneck4.project", "h_out"]) == (1, 65)


HYBRID_OS16 = "# backbone: v4-hybrid-medium\n# output-stride: 16\nstage,op,kernel,out,n,stride,from\nhead,conv,1,k,1,1,\n"


def test_output_stride_leaves_the_attention_key_value_downsampling_alone():
    """timm's output_stride rewrites a block's main stride only, never Mobile MQA's kv_stride: before the
    cut mqa8's keys and values still go from 16x16 to 8x8 (4·256·64·128 MACs, as without a cut); after
    it, the main strides become dilations as before."""
    plain = mnetcost.cost("v4-hybrid-medium", convention="timm").layers.set_index("name")
    cut = mnetcost.cost(parse_table(HYBRID_OS16, "h.csv"), convention="timm").layers.set_index("name")
    assert (cut.loc["mqa8.key_down", "stride"], cut.loc["mqa8.key_down", "h_out"]) == (2, 8)
    assert (cut.loc["mqa8.value_down", "stride"], cut.loc["mqa8.value_down", "dilation"]) == (2, 1)
    assert cut.loc["mqa8.attn", "macs"] == plain.loc["mqa8.attn", "macs"] == 4 * 256 * 64 * (64 + 64) == 8_388_608
    block = [n for n in plain.index if n.startswith("mqa8.")]
    columns = ["op", "stride", "dilation", "h_in", "h_out", "c_out", "macs", "params"]
    assert cut.loc[block, columns].equals(plain.loc[block, columns])
    # the main stride beyond 16 is still a dilation: uib16's middle depthwise conv, and every later 5x5 one
    assert (cut.loc["uib16.dw", "stride"], cut.loc["uib16.dw", "dilation"], cut.loc["uib16.dw", "h_out"]) == (1, 2, 16)
    assert (plain.loc["uib16.dw", "stride"], plain.loc["uib16.dw", "dilation"]) == (2, 1)
    assert (cut.loc["uib17.dw", "dilation"], cut.loc["mqa23.attn", "h_in"]) == (2, 16)


def test_output_stride_dilates_a_key_value_downsampling_after_the_cut(tmp_path):
    """After the cut, a kv_stride > 1 block keeps its kv stride; its downsampling conv takes the block's
    dilation (timm passes the block's dilation to the key/value down conv)."""
    (tmp_path / "b.csv").write_text(
        "# family: v4\n# resolution: 64\nstage,op,kernel,out,n,stride,args\n"
        "stem,conv,3,16,1,2,\ndown,conv,3,32,1,2,\nattn,mqa,3,32,1,1,heads=2; key_dim=16; kv_stride=2\n"
        "pool,pool,,,1,1,\nfc,fc,1,k,1,1,\n")
    (tmp_path / "h.csv").write_text("# backbone: b.csv\n# output-stride: 2\nstage,op,kernel,out,n,stride\nout,conv,1,4,1,1\n")
    L = mnetcost.cost(tmp_path / "h.csv", convention="timm").layers.set_index("name")
    assert (L.loc["down", "stride"], L.loc["down", "dilation"], L.loc["down", "h_out"]) == (1, 2, 32)
    assert (L.loc["attn.key_down", "stride"], L.loc["attn.key_down", "dilation"], L.loc["attn.key_down", "h_out"]) == (2, 2, 16)
    assert L.loc["attn.attn", "macs"] == 2 * 32 * 32 * 16 * 16 * (16 + 16)


def test_reduced_tail_halves_what_the_table_names():
    full = mnetcost.cost("ssdlite-v3-large", convention="torchvision").layers.set_index("name")
    half = mnetcost.cost("ssdlite-v3-large", convention="torchvision", reduced_tail=True).layers.set_index("name")
    assert (full.loc["bneck13.project", "c_out"], half.loc["bneck13.project", "c_out"]) == (160, 80)
    assert (full.loc["bneck14.expand", "c_out"], half.loc["bneck14.expand", "c_out"]) == (960, 480)
    assert full.loc["bneck13.expand", "c_out"] == half.loc["bneck13.expand", "c_out"] == 672  # before the tail
    assert (full.loc["conv2", "c_out"], half.loc["conv2", "c_out"]) == (960, 480)


def test_anchors_and_extra_widths_are_each_conventions_rule():
    tv = mnetcost.cost("ssdlite-v3-large", convention="torchvision", alpha=0.5).layers.set_index("name")
    paper = mnetcost.cost("ssdlite-v3-large", convention="paper", alpha=0.5).layers.set_index("name")
    assert (tv.loc["cls1", "c_out"], tv.loc["reg1", "c_out"], tv.loc["cls2", "c_out"]) == (6 * 91, 24, 6 * 91)
    assert (paper.loc["cls1", "c_out"], paper.loc["reg1", "c_out"], paper.loc["cls2", "c_out"]) == (3 * 91, 12, 6 * 91)
    assert (tv.loc["extra1", "c_out"], paper.loc["extra1", "c_out"], paper.loc["extra4_reduce", "c_out"]) == (512, 256, 32)


@pytest.mark.parametrize("name", HEADS)
def test_sweep_equals_cost_point_by_point_on_heads(name):
    for convention, aux, tail in (("torchvision", False, False), ("paper", "aux" in mnetcost.load_table(name).switches,
                                                                      bool(mnetcost.load_table(name).reduced_tail))):
        alphas, res = [0.5, 0.75, 1.0], [224, 320, 513]
        macs, params = grid(name, alphas, res, convention=convention, aux=aux, reduced_tail=tail)
        for i, a in enumerate(alphas):
            for j, px in enumerate(res):
                r = mnetcost.cost(name, alpha=a, resolution=px, convention=convention, aux=aux, reduced_tail=tail)
                assert (macs[i, j], params[i]) == (r.macs, r.params)


def test_fvcore_counts_the_heads_upsampling_and_pooling():
    r = mnetcost.cost("lraspp-v3-large", convention="fvcore").layers.set_index("name")
    assert r.loc["out", "other_ops"] == 4 * 21 * 520 * 520 and r.loc["out", "mult_adds"] == 0
    assert r.loc["scale_pool", "other_ops"] == 960 * 33 * 33
    tv = mnetcost.cost("lraspp-v3-large", convention="torchvision").layers
    assert tv["other_ops"].sum() == 0 and len(tv[tv["op"].isin(["upsample", "mul", "add", "pool"])]) > 0


@pytest.mark.parametrize("schedule", ["materialized", "layerwise"])
def test_memory_and_peak_grid_agree_on_inputs_of_any_width(tmp_path, schedule):
    """The issue's case: 512 input channels, one 1x1 conv to 64 at 14 px. Both paths read the table's channels."""
    t = tmp_path / "wide.csv"
    t.write_text("# family: v2\n# resolution: 14\n# channels: 512\nstage,op,kernel,out,n,stride,width\nc,conv,1,64,1,1,fixed\n")
    held = 14 * 14 * 512 + (14 * 14 * 64 if schedule == "layerwise" else 0)
    assert memory(t, dtype="float32", schedule=schedule).peak_bytes == held * 4
    assert peak_grid(t, [1.0], [14], dtype="float32", schedule=schedule)[0, 0] == held * 4


@pytest.mark.parametrize("name", HEADS + ["v2", "v3-large"])
def test_memory_equals_peak_grid_on_graphs(name):
    for schedule in ("materialized", "layerwise"):
        g = peak_grid(name, [0.75, 1.0], [224, 320], schedule=schedule, convention="torchvision")
        for i, a in enumerate([0.75, 1.0]):
            for j, px in enumerate([224, 320]):
                m = memory(name, alpha=a, resolution=px, schedule=schedule, convention="torchvision")
                assert g[i, j] == m.peak_bytes


def test_a_tap_lives_until_its_last_reader():
    """LR-ASPP's low-level features (bneck4) are held through the whole backbone tail."""
    m = memory("lraspp-v3-large", convention="torchvision", schedule="layerwise", dtype="int8")
    L = m.layers.set_index("name")
    tap = 65 * 65 * 40
    residual_input = L.loc["bneck11.project", "out_bytes"]  # bneck12 adds its input back
    without_tap = L.loc["bneck12.dw", "in_bytes"] + L.loc["bneck12.dw", "out_bytes"] + residual_input
    assert L.loc["bneck12.dw", "live_bytes"] == without_tap + tap
    assert bool(L.loc["bneck4.project", "materialized"]) and not L.loc["bneck13.expand", "materialized"]


def test_liveness_is_linear_in_the_layers(tmp_path):
    """A 2-row table of 1000 repeats each: 2,000 blocks, 8,001 layers, costed and planned at once; 20 such rows
    (80,000 layers) are beyond the 10,000-layer bound and refused up front."""
    def table(n_rows):
        rows = "\n".join(f"s{i},bneck,3,2,16,1000,1" for i in range(n_rows))
        t = tmp_path / f"long{n_rows}.csv"
        t.write_text(f"# family: v2\n# resolution: 32\nstage,op,kernel,t,out,n,stride\nstem,conv,3,,16,1,1\n{rows}\n")
        return t

    m = memory(table(2), schedule="layerwise")
    assert len(m.layers) == 1 + 2 * 1000 * 4
    assert m.peak_bytes == peak_grid(table(2), [1.0], [32], schedule="layerwise")[0, 0]
    with pytest.raises(TableError, match="more than 10,000 layers"):
        memory(table(20))


def test_every_error_is_a_library_error(tmp_path):
    t = tmp_path / "cat.csv"
    t.write_text("# family: v2\nstage,op,kernel,out,n,stride,from\nx,concat,,,1,1,\"input,input\"\n")
    r = mnetcost.cost(t)
    assert (r.layers["c_out"].tolist(), r.macs) == ([6], 0)
    with pytest.raises(MnetcostError):
        mnetcost.cost("deeplabv3-v3-large", aux="yes")
    assert np.array_equal(grid("deeplabv3-v3-large", [1.0], [520], aux=True, convention="torchvision")[0],
                          [[10_452_447_938]])


def test_the_documented_user_op(tmp_path):
    """docs/schema.md's grouped convolution, registered and used from a table, in cost and sweep alike."""
    from mnetcost import OpCost

    def grouped_conv(layer, rules):
        weights = layer.kernel * layer.kernel * layer.c_in * layer.c_out // layer.args["groups"]
        return OpCost(macs=weights * layer.area_out, weights=weights, biases=layer.c_out)

    ops = mnetcost.register_op("gconv", grouped_conv)
    t = tmp_path / "g.csv"
    t.write_text("# family: v2\n# resolution: 32\nstage,op,kernel,out,n,stride,width,args\n"
                 "stem,conv,3,16,1,2,fixed,\ng,gconv,3,32,1,2,fixed,groups=4\n")
    r = mnetcost.cost(t, ops=ops)
    assert r.layers.set_index("name").loc["g", "mult_adds"] == 9 * 16 * 32 // 4 * 8 * 8
    macs, params = grid(t, [1.0], [32, 64], ops=ops)
    assert macs[0, 0] == r.macs and macs[0, 1] == mnetcost.cost(t, resolution=64, ops=ops).macs and params[0] == r.params
    with pytest.raises(TableError, match="op arguments"):  # a built-in row without arguments refuses them
        parse_table("# family: v2\nstage,op,kernel,out,n,stride,args\nx,dw,3,8,1,1,groups=4\n")
    with pytest.raises(TableError, match="takes groups=G"):  # the built-in conv takes groups, nothing else
        parse_table("# family: v2\nstage,op,kernel,out,n,stride,args\nx,conv,3,8,1,1,heads=4\n")


def test_a_merge_that_names_a_stage_reads_its_last_layer():
    """A concat or add whose ``from`` names a stage of blocks reads the stage's last layer: the memory plan
    and the PyTorch builder look tensors up by layer name (before, 'b' itself was looked up: a KeyError)."""
    t = parse_table("# family: v2\n# resolution: 32\nstage,op,kernel,t,out,n,stride,from\nstem,conv,3,,16,1,2,\n"
                    "b,bneck,3,6,16,2,1,\nc,conv,1,,16,1,1,stem\ncat,concat,,,,1,1,\"b,c\"\nsum,add,,,,1,1,\"b,c\"\n", "m.csv")
    layers = mnetcost.cost(t).layers.set_index("name")
    assert layers.loc["cat", "from"] == "b.2.add,c" and layers.loc["sum", "from"] == "b.2.add,c"
    assert mnetcost.memory(t, schedule="layerwise").peak_bytes > 0
