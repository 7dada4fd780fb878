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
    weights = k * k * c_in * c_out
    return weights * (h_out * w_out), weights, c_out


def depthwise_conv(k, c_in, h_out, w_out, **_):
    """D_K·D_K·M·D_F·D_F mult-adds, D_K·D_K·M weights: one k x k filter per channel (V1 paper, eq. 4)."""
    weights = k * k * c_in
    return weights * (h_out * w_out), weights, c_in


def pointwise_conv(c_in, c_out, h_out, w_out, **_):
    """M·N·D_F·D_F mult-adds, M·N weights: a 1x1 conv (V1 paper, eq. 5, second term)."""
    weights = c_in * c_out
    return weights * (h_out * w_out), weights, c_out


def fully_connected(c_in, c_out, **_):
    """M·N mult-adds and weights on a 1x1 input; N biases."""
    weights = c_in * c_out
    return weights, weights, c_out


def squeeze_excite(c_out, c_mid, **_):
    """Two FCs C -> C/r -> C on the pooled vector: 2·C·(C/r) mult-adds and weights, C/r + C biases
    (V3 paper, Section 5.3). The pooling and the channel scale are not mult-adds."""
    weights = 2 * c_out * c_mid
    return weights, weights, c_mid + c_out


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


def counted_ops(rules, op, act, bn, bias, c_in, c_out, c_mid, h_in, w_in, h_out, w_out):
    """Operations a FLOP counter adds to the mult-adds, per layer (numpy arrays, element-wise).

    BatchNorm, activations, pooling and bias additions are counted per element or per channel,
    with the counts ``rules`` gives; every convention of the papers and frameworks has them at zero.
    A squeeze-excite layer counts its pooling, its inner activation on the squeezed vector, its gate
    and its two biases."""
    import numpy as np

    out_el = h_out * w_out * c_out
    in_el = h_in * w_in * c_in
    is_se, is_pool = op == "se", op == "pool"
    act_coef = np.array([rules.act_ops.get(a, 0) for a in act], dtype=np.int64)
    ops = np.where(bn, rules.bn_ops * out_el + rules.bn_ops_channel * c_out, 0)
    ops = ops + np.where(is_se, rules.act_ops.get(rules.se_act, 0) * c_mid + rules.act_ops.get(rules.se_gate, 0) * c_out,
                         act_coef * out_el)
    ops = ops + np.where(is_pool, rules.pool_in * in_el + rules.pool_out * c_out, 0)
    ops = ops + np.where(is_se, rules.se_pool_in * in_el + rules.se_pool_out * c_in, 0)
    ops = ops + np.where(bias, rules.bias_ops * np.where(is_se, c_mid + c_out, out_el), 0)
    return ops


def cost_function(op: str):
    try:
        return COST_FUNCTIONS[op]
    except KeyError:
        raise UnknownOp(f"no cost function for op {op!r}; known ops: {', '.join(COST_FUNCTIONS)}") from None
