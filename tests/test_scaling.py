"""Channel-rounding rules and spatial arithmetic."""

import pytest

from mnetcost.scaling import SQUEEZE_RULES, make_divisible, out_size, scale_width


@pytest.mark.parametrize("v, expected", [
    (32 * 0.35, 16),   # 11.2 -> 8 would lose > 10%, so 16 (torchvision's v2 stem at width 0.35)
    (32 * 0.5, 16), (32 * 0.75, 24), (16 * 0.75, 16), (96 * 0.35, 32), (1280 * 1.4, 1792), (1280 * 1.3, 1664),
    (3, 8), (12, 16), (20, 24), (35.9, 40), (36, 40), (44, 48), (43.9, 40),
])
def test_make_divisible(v, expected):
    assert make_divisible(v, 8) == expected


def test_make_divisible_result_is_a_multiple_and_within_ten_percent():
    for tenths in range(10, 20000):
        v = tenths / 10
        d = make_divisible(v, 8)
        assert d % 8 == 0 and d >= 8 and d >= 0.9 * v


@pytest.mark.parametrize("rule, c, alpha, in_s, in_0, expected", [
    ("trunc8", 32, 0.25, 3, 3, 8),        # TF-slim V1: max(int(8.0), 8)
    ("trunc8", 32, 0.2, 3, 3, 8),         # int(6.4) = 6 -> min_depth 8
    ("trunc", 32, 0.2, 3, 3, 6),          # Keras V1 has no minimum
    ("trunc", 1024, 1.3, 3, 3, 1331),     # Keras V1 at 1.3: 1331 (not a multiple of 8)
    ("keep_div8", 1280, 0.5, 0, 0, 1280),  # V2 last layer kept below 1
    ("keep_div8", 1280, 1.4, 0, 0, 1792),
    ("factor_div8", 72, 0.75, 16, 16, 72),   # Keras/TF-slim V3-Small at 0.75: 4.5 x the scaled input 16 ...
    ("div8", 72, 0.75, 16, 16, 56),          # ... where torchvision scales the expansion itself: 54 -> 56
    ("factor_div8", 960, 0.35, 56, 160, 336),
    ("factor_round", 96, 0.35, 8, 16, 48),   # torchvision V2 hidden = round(8 * 6)
    ("div8_int", 24, 0.35, 0, 0, 8),
    ("fixed", 16, 0.35, 0, 0, 16),
])
def test_width_rules(rule, c, alpha, in_s, in_0, expected):
    assert scale_width(rule, c, alpha, in_s, in_0) == expected


def test_squeeze_rules():
    # torchvision V3: _make_divisible(exp // 4, 8); Keras / TF-slim: _depth(exp * 0.25); both 24 for 72
    assert SQUEEZE_RULES["div8_floor"](72, 24) == SQUEEZE_RULES["div8"](72, 24) == 24
    # they part where flooring crosses the 10% rule: 143 // 4 = 35 -> 32 (within 10%), 35.75 -> 32 is not -> 40
    assert SQUEEZE_RULES["div8_floor"](143, 24) == 32 and SQUEEZE_RULES["div8"](143, 24) == 40
    # EfficientNet: a quarter of the block's input width, not of the expansion, unrounded
    assert SQUEEZE_RULES["quarter_input"](96, 16) == 4 and SQUEEZE_RULES["quarter_input"](6, 3) == 1


@pytest.mark.parametrize("h, s, expected", [(224, 2, 112), (97, 2, 49), (7, 1, 7), (1, 2, 1), (5, 2, 3)])
def test_same_padding_output_is_ceil(h, s, expected):
    assert out_size(h, s, "exact") == expected


def test_continuous_output_is_real():
    assert out_size(14 * 0.714, 1, "continuous") == pytest.approx(9.996)
    assert out_size(159.936, 2, "continuous") == pytest.approx(79.968)
