"""What docs/schema.md states about widths, expansions, squeeze-excite, taps and the column lists, each
checked against the program (the "How widths are scaled and rounded" section and the columns table)."""

import re
from pathlib import Path

import pytest

import mnetcost
from mnetcost.errors import TableError
from mnetcost.tables import ACTIVATIONS, OPTIONAL, parse_table

SCHEMA = (Path(__file__).resolve().parent.parent / "docs" / "schema.md").read_text()
HEADER = "stage,op,kernel,t,exp,out,n,stride,se,width,from\n"


def layers(family, rows, stem=16, **kw):
    text = f"# family: {family}\n# resolution: 32\n{HEADER}stem,conv,3,,,{stem},1,2,,stem,\n" + "".join(r + "\n" for r in rows)
    return mnetcost.cost(parse_table(text, "doc.csv"), **kw).layers.set_index("name")


def test_the_documented_column_lists_are_the_programs():
    optional = re.search(r"Optional: `([^`]*)`", SCHEMA).group(1)
    assert tuple(c.strip() for c in optional.split(",")) == OPTIONAL
    nl = next(line for line in SCHEMA.splitlines() if line.startswith("| `nl` |"))
    assert all(f"`{a}`" in nl for a in ACTIVATIONS if a not in ("", "-"))


@pytest.mark.parametrize("convention, width", [("paper", 104), ("tf-slim", 104), ("timm", 104), ("torchvision", 100),
                                               ("fvcore", 100), ("keras", 100)])
def test_exp_on_a_v2_row_is_a_factor_of_the_input(convention, width):
    assert layers("v2", ["b,bneck,3,,100,24,1,1,,,"], convention=convention).loc["b.expand", "c_out"] == width


@pytest.mark.parametrize("convention, width", [("torchvision", 56), ("fvcore", 56), ("paper", 72), ("tf-slim", 72),
                                               ("keras", 72), ("timm", 72)])
def test_t_on_a_v3_row_is_a_width(convention, width):
    L = layers("v3", ["b,bneck,3,4.5,,24,1,1,,,"], convention=convention, alpha=0.75)
    assert (L.loc["stem", "c_out"], L.loc["b.expand", "c_out"]) == (16, width)


@pytest.mark.parametrize("convention, stem, last", [("torchvision", 24, 144), ("keras", 20, 120), ("paper", 24, 120),
                                                    ("tf-slim", 24, 120), ("timm", 24, 120)])
def test_a_custom_v3_last_conv(convention, stem, last):
    """A 20-wide stem rounds to 24 even at alpha 1 (Keras' V3 stem is fixed); a factor rule reads it."""
    L = layers("v3", ["last,conv,1,,,120,1,1,,last,"], stem=20, convention=convention)
    assert (L.loc["stem", "c_out"], L.loc["last", "c_out"]) == (stem, last)


@pytest.mark.parametrize("convention", ["paper", "torchvision", "timm"])
def test_the_efficientnet_head_is_four_times_its_scaled_input(convention):
    L = mnetcost.cost("efficientnet-b0", alpha=0.5, convention=convention).layers.set_index("name")
    assert (L.loc["head", "c_in"], L.loc["head", "c_out"]) == (160, 640)


def test_an_expansion_as_wide_as_its_input_compares_rounded_widths():
    paper = layers("v2", ["b,bneck,3,1.1,,16,1,1,,,"], convention="paper")
    torchvision = layers("v2", ["b,bneck,3,1.1,,16,1,1,,,"], convention="torchvision")
    assert "b.expand" not in paper.index  # make_divisible(17.6, 8) = 16: as wide as its input
    assert torchvision.loc["b.expand", "c_out"] == 18  # round(17.6)


@pytest.mark.parametrize("family, convention, squeeze", [
    ("v2", "paper", 40), ("v2", "torchvision", 40), ("v2", "keras", 40), ("v1", "paper", 40), ("mnasnet", "torchvision", 40),
    ("v4", "timm", 40), ("v3", "timm", 40), ("v3", "torchvision", 40), ("efficientnet", "torchvision", 4)])
def test_the_squeeze_rule_by_family(family, convention, squeeze):
    """An expansion of 143 on a 16-wide input: div8 on 143 (143/4 -> 40; div8_floor would give 32) where the
    expansion stays 143, on 144 where it rounds (both V3 rules: 36 -> 40); quarter_input 16 // 4 = 4.
    Families without a rule use div8."""
    L = layers(family, ["b,bneck,3,,143,24,1,1,1,,"], convention=convention)
    exp = L.loc["b.expand", "c_out"]
    assert L.loc["b.se", "params"] == exp * squeeze + squeeze + squeeze * exp + exp
    if family in ("v2", "mnasnet") and convention in ("torchvision", "keras"):
        assert exp == 143  # kept by a factor rule: the squeeze is div8's 40, not div8_floor's 32


def test_tapping_a_layer_a_block_lacks():
    no_expansion = layers("v2", ["b,bneck,3,1,,24,1,1,,,", "x,conv,1,,,8,1,1,,fixed,b.expand"])
    assert no_expansion.loc["x", "from"] == "stem"  # the block's input
    strided = layers("v2", ["b,bneck,3,1,,24,1,2,,,", "x,conv,1,,,8,1,1,,fixed,b.add"])
    assert strided.loc["x", "from"] == "b.project"  # no residual at stride 2: the block's output
    with pytest.raises(TableError, match="reads 'b.se', which this configuration does not have"):
        layers("v2", ["b,bneck,3,1,,24,1,1,,,", "x,conv,1,,,8,1,1,,fixed,b.se"])
