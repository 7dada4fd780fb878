"""Every rounding rule's array path (one value per configuration: the sweep's) equals its scalar path (one
configuration's), element by element, for any width, multiplier and input width."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mnetcost.scaling import SQUEEZE_RULES, WIDTH_RULES, make_divisible

widths = st.integers(1, 4096)
alphas = st.lists(st.floats(0.01, 8.0, allow_nan=False), min_size=1, max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(WIDTH_RULES)), widths, alphas, st.integers(1, 4096), st.integers(1, 512))
def test_width_rules_array_path_equals_scalar_path(rule, c, alpha, in_s, in_0):
    f = WIDTH_RULES[rule]
    array = np.asarray(f(c, np.array(alpha), np.full(len(alpha), float(in_s)), in_0), dtype=float)
    scalar = [f(c, a, in_s, in_0) for a in alpha]
    assert np.array_equal(np.broadcast_to(array, (len(alpha),)), np.array(scalar, dtype=float)), (rule, c)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(SQUEEZE_RULES)), st.lists(st.integers(1, 8192), min_size=1, max_size=20),
       st.integers(1, 4096))
def test_squeeze_rules_array_path_equals_scalar_path(rule, expansions, c_in):
    f = SQUEEZE_RULES[rule]
    array = np.asarray(f(np.array(expansions, dtype=float), np.full(len(expansions), float(c_in))), dtype=float)
    scalar = [f(e, c_in) for e in expansions]
    assert np.array_equal(array, np.array(scalar, dtype=float))


@settings(max_examples=500, deadline=None)
@given(st.lists(st.floats(0.0, 1e7, allow_nan=False), min_size=1, max_size=20), st.sampled_from([1, 4, 8, 16]))
def test_make_divisible_array_path_equals_scalar_path(values, divisor):
    assert np.array_equal(make_divisible(np.array(values), divisor),
                          np.array([make_divisible(v, divisor) for v in values], dtype=float))


def test_make_divisible_by_hand():
    """torchvision's _make_divisible, by hand: 32 x 0.35 = 11.2 -> 16 (8 would be more than 10% down)."""
    assert [make_divisible(v) for v in (11.2, 12.0, 20.0, 3.0, 100.0)] == [16, 16, 24, 8, 104]
