"""Each cost function against the formula written out by hand on tiny shapes."""

import numpy as np
import pytest

from mnetcost.errors import UnknownOp
from mnetcost.ops import COST_FUNCTIONS, cost_function


def test_standard_conv_counts_every_input_channel_at_every_output_pixel():
    # 3x3 kernel, 2 -> 4 channels, 5x6 output: each of 4*5*6 outputs sums 3*3*2 products
    assert cost_function("conv")(k=3, c_in=2, c_out=4, c_mid=0, h_out=5, w_out=6) == (4 * 5 * 6 * 18, 3 * 3 * 2 * 4, 4)


def test_depthwise_conv_is_one_filter_per_channel():
    assert cost_function("dw")(k=5, c_in=7, c_out=7, c_mid=0, h_out=2, w_out=3) == (7 * 2 * 3 * 25, 25 * 7, 7)


def test_pointwise_conv():
    assert cost_function("pw")(k=1, c_in=3, c_out=8, c_mid=0, h_out=4, w_out=4) == (3 * 8 * 16, 24, 8)


def test_fully_connected_ignores_spatial_size():
    assert cost_function("fc")(k=1, c_in=10, c_out=3, c_mid=0, h_out=1, w_out=1) == (30, 30, 3)


def test_squeeze_excite_is_two_fcs():
    # C=16 -> C/r=8 -> C=16: 16*8 + 8*16 products and weights, 8 + 16 biases
    assert cost_function("se")(k=1, c_in=16, c_out=16, c_mid=8, h_out=9, w_out=9) == (256, 256, 24)


@pytest.mark.parametrize("op", ["pool", "add"])
def test_pool_and_add_are_not_mult_adds(op):
    assert cost_function(op)(k=1, c_in=16, c_out=16, c_mid=0, h_out=9, w_out=9) == (0, 0, 0)


def test_cost_functions_work_elementwise_on_arrays():
    k = np.array([1, 3])
    macs, weights, _ = cost_function("conv")(k=k, c_in=np.array([2, 2]), c_out=np.array([4, 4]), h_out=np.array([2, 2]), w_out=np.array([2, 2]))
    assert list(macs) == [2 * 4 * 4, 9 * 2 * 4 * 4] and list(weights) == [8, 72]


def test_unknown_op_is_an_error_not_zero():
    with pytest.raises(UnknownOp, match="no cost function for op 'shuffle'"):
        cost_function("shuffle")
    assert set(COST_FUNCTIONS) == {"conv", "dw", "pw", "fc", "se", "pool", "add"}
