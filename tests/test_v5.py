"""MobileNetV5 against timm: every total the generator recorded (tests/data/timm_v5_totals.csv: timm 1.0.31,
torch 2.14.1, FlopCounterMode / 2, fused attention off and on) and every block of four per-module records
(tests/data/timm_v5_layers.csv), from tests/data/generators/timm_v5_truth.py."""

import csv
import itertools
from pathlib import Path

import pytest

import mnetcost

DATA = Path(__file__).parent / "data"
TABLES = {"mobilenetv5_300m_enc": "v5-300m", "mobilenetv5_300m": "v5-300m", "mobilenetv5_base": "v5-base"}


def _rows(name):
    with open(DATA / name, newline="") as f:
        return list(csv.DictReader(f))


def _config(r):
    h, w, k = int(r["height"]), int(r["width"]), int(r["num_classes"])
    kw = dict(alpha=float(r["channel_multiplier"]), resolution=h if h == w else (h, w))
    if TABLES[r["model"]] == "v5-base":
        kw.update(top=False) if k == 0 else kw.update(classes=k)
    return TABLES[r["model"]], kw


def _classifier(r):
    """timm's mobilenetv5_300m with classes: the encoder, global pooling and a Linear 2048 -> k with a bias
    (the v5-300m table is the encoder Gemma 3n uses, without them)."""
    k = int(r["num_classes"]) if r["model"] == "mobilenetv5_300m" else 0
    return 2048 * k + k, 2048 * k


@pytest.mark.parametrize("r", _rows("timm_v5_totals.csv"),
                         ids=lambda r: f"{r['model']}-{r['height']}x{r['width']}-k{r['num_classes']}-a{r['channel_multiplier']}")
def test_v5_equals_timm(r):
    model, kw = _config(r)
    params, macs = _classifier(r)
    ours = mnetcost.cost(model, convention="timm", **kw)
    assert (ours.params, ours.macs) == (int(r["params"]) - params, int(r["macs"]) - macs)
    attention = ours.layers.loc[ours.layers["op"] == "attn", "macs"].sum()
    assert attention == int(r["attention_macs"])
    fused = mnetcost.cost(model, convention="timm-fused", **kw)
    assert fused.macs == int(r["macs_fused"]) - macs  # the fused kernel counts 0 (measured, torch 2.14.1)


def _timm_blocks(rows):
    """(block, params, MACs) in network order: the stem, each of timm's blocks, the fusion adapter, the head."""
    def block(name):
        if name.startswith("blocks."):
            return ".".join(name.split(".")[:3])
        return name.split(".")[0].split("/")[0] if not name.startswith(("global_pool", "flatten", "classifier")) else "head"
    out = []
    for key, group in itertools.groupby(rows, key=lambda r: block(r["module_name"])):
        group = list(group)
        out.append((key, sum(int(g["params"] or 0) for g in group), sum(int(g["macs"] or 0) for g in group)))
    return out


def _our_blocks(r):
    """Our blocks in network order, the fusion adapter's rows as one block and the pool and fc as the head."""
    def block(name):
        return "msfa" if name.startswith("msfa") else "head" if name in ("pool", "fc") else name
    frame = r.layers
    out = []
    for key, group in itertools.groupby(zip(frame["block"], frame["params"], frame["macs"]), key=lambda t: block(t[0])):
        group = list(group)
        out.append((key, sum(int(g[1]) for g in group), sum(int(g[2]) for g in group)))
    return out


@pytest.mark.parametrize("model, resolution, classes", [("mobilenetv5_300m_enc", "256", "0"),
                                                        ("mobilenetv5_base", "256", "1000"),
                                                        ("mobilenetv5_base", "320", "1000"),
                                                        ("mobilenetv5_base", "512", "10")])
def test_v5_block_by_block(model, resolution, classes):
    rows = [r for r in _rows("timm_v5_layers.csv")
            if (r["model"], r["resolution"], r["num_classes"]) == (model, resolution, classes)]
    kw = {} if model.endswith("_enc") else {"classes": int(classes)}
    theirs = _timm_blocks(rows)
    ours = _our_blocks(mnetcost.cost(TABLES[model], convention="timm", resolution=int(resolution), **kw))
    assert len(ours) == len(theirs)
    for (name, params, macs), (their_name, their_params, their_macs) in zip(ours, theirs):
        assert (params, macs) == (their_params, their_macs), (name, their_name)


def test_v5_output_is_a_16_by_16_grid_at_any_size():
    for res in (256, 320, (480, 640), 768):
        last = mnetcost.cost("v5-300m", convention="timm", resolution=res).layers.iloc[-1]
        assert (last["name"], last["h_out"], last["w_out"], last["c_out"]) == ("msfa_norm", 16, 16, 2048)


def test_v5_attention_share_grows_with_resolution():
    """The issue's teaching claim: about 1% of MACs at 256 px, about 11% at 768 px."""
    def share(res):
        r = mnetcost.cost("v5-300m", convention="timm", resolution=res)
        return r.layers.loc[r.layers["op"] == "attn", "macs"].sum() / r.macs
    assert 0.01 <= share(256) < 0.02 and 0.10 <= share(768) < 0.12


def test_the_v5_page_states_what_the_library_computes():
    """docs/v5.md's table, cell by cell, against the library (its figures cannot drift)."""
    text = (Path(__file__).parent.parent / "docs" / "v5.md").read_text()
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| v5-")]
    assert len(rows) == 6
    for cells in rows:
        table, res, macs, fused, attention, share, params, activations, peak = (c.strip() for c in cells)
        r = mnetcost.cost(table, convention="timm", resolution=int(res))
        att = int(r.layers.loc[r.layers["op"] == "attn", "macs"].sum())
        got = [r.macs, mnetcost.cost(table, convention="timm-fused", resolution=int(res)).macs, att, r.params,
               r.activations, mnetcost.memory(r, dtype="float16", schedule="layerwise").peak_bytes]
        assert [int(x.replace(",", "")) for x in (macs, fused, attention, params, activations, peak)] == got
        assert share == f"{att / r.macs:.2%}"
