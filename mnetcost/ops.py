"""One pure cost function per primitive op, in a registry.

Each function takes the layer geometry (numbers or numpy arrays, element-wise) and returns
``(macs, weights, biases)``: multiply-accumulates, weight values, and the bias values the layer
carries if it has biases (it does exactly when it has no BatchNorm). Formulas are the papers'.
An op without a cost function raises ``UnknownOp``: it is never counted as zero.
"""

from __future__ import annotations

from .errors import UnknownOp


def standard_conv(k, c_in, c_out, h_out, w_out, **_):
    """D_K·D_K·M·N·D_F·D_F mult-adds, D_K·D_K·M·N weights (V1 paper, eq. 2)."""
    return k * k * c_in * c_out * h_out * w_out, k * k * c_in * c_out, c_out


def depthwise_conv(k, c_in, h_out, w_out, **_):
    """D_K·D_K·M·D_F·D_F mult-adds, D_K·D_K·M weights: one k x k filter per channel (V1 paper, eq. 4)."""
    return k * k * c_in * h_out * w_out, k * k * c_in, c_in


def pointwise_conv(c_in, c_out, h_out, w_out, **_):
    """M·N·D_F·D_F mult-adds, M·N weights: a 1x1 conv (V1 paper, eq. 5, second term)."""
    return c_in * c_out * h_out * w_out, c_in * c_out, c_out


def fully_connected(c_in, c_out, **_):
    """M·N mult-adds and weights on a 1x1 input; N biases."""
    return c_in * c_out, c_in * c_out, c_out


def squeeze_excite(c_out, c_mid, **_):
    """Two FCs C -> C/r -> C on the pooled vector: 2·C·(C/r) mult-adds and weights, C/r + C biases
    (V3 paper, Section 5.3). The pooling and the channel scale are not mult-adds."""
    return 2 * c_out * c_mid, 2 * c_out * c_mid, c_mid + c_out


def global_pool(c_in, **_):
    """Average pooling: additions and one division per channel, no mult-adds, no weights."""
    return 0 * c_in, 0 * c_in, 0 * c_in


def residual_add(c_out, **_):
    """Element-wise addition of a block's input: no mult-adds, no weights."""
    return 0 * c_out, 0 * c_out, 0 * c_out


COST_FUNCTIONS = {
    "conv": standard_conv,
    "dw": depthwise_conv,
    "pw": pointwise_conv,
    "fc": fully_connected,
    "se": squeeze_excite,
    "pool": global_pool,
    "add": residual_add,
}


def cost_function(op: str):
    try:
        return COST_FUNCTIONS[op]
    except KeyError:
        raise UnknownOp(f"no cost function for op {op!r}; known ops: {', '.join(COST_FUNCTIONS)}") from None
