"""Width and resolution scaling: every channel-rounding rule and the spatial arithmetic live here.

A table row states its paper width ``c`` and its *role* (``stem``, ``block``, ``expand``, ``last``,
``head``, ``classes``); a counting convention maps each role of each family to one named rule below.
"""

from __future__ import annotations

import numpy as np


def make_divisible(v, divisor: int = 8, min_value: int | None = None):
    """Round ``v`` to the nearest multiple of ``divisor``, never below ``min_value`` nor 10% under ``v``.

    The rule of TF-slim's ``mobilenet.py`` and torchvision's ``_utils._make_divisible``. Works on a
    number (returns an int) or element-wise on a numpy array (returns whole numbers as float64: exact
    below 2**53, and no conversion pass), with the same floating-point steps."""
    if min_value is None:
        min_value = divisor
    if np.ndim(v) == 0:
        new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
        return new_v + divisor if new_v < 0.9 * v else new_v
    v = np.asarray(v, dtype=float)
    # floor(floor(v + d/2) / d) == floor((v + d/2) / d) for v >= 0: the same integers as int(...) // d
    new_v = v + divisor / 2
    new_v /= divisor
    np.floor(new_v, out=new_v)
    new_v *= divisor
    np.maximum(new_v, min_value, out=new_v)
    np.add(new_v, divisor, out=new_v, where=new_v < 0.9 * v)
    return new_v


def _int(x):
    """int() of a number, or of each element of an array (truncation toward zero, as int())."""
    return int(x) if np.ndim(x) == 0 else np.trunc(x)


# Each rule: (c, alpha, in_scaled, in_paper) -> channels. ``c`` is the paper's width of this layer,
# ``in_scaled``/``in_paper`` the layer's input width after and before scaling (for rules that size a
# layer as a factor of its input, as an expansion does). ``alpha`` and ``in_scaled`` may be arrays
# (one value per configuration): every rule is element-wise.
def _div8(c, alpha, in_s, in_0):
    """make_divisible(c * alpha, 8): TF-slim V2/V3, torchvision, Keras V2 stem and V3."""
    return make_divisible(c * alpha, 8)


def _div8_int(c, alpha, in_s, in_0):
    """make_divisible(int(c * alpha), 8): Keras MobileNetV2 block outputs."""
    return make_divisible(_int(c * alpha), 8)


def _trunc8(c, alpha, in_s, in_0):
    """max(int(c * alpha), 8): TF-slim MobileNet V1 ``depth`` with min_depth=8."""
    return np.maximum(_int(c * alpha), 8) if np.ndim(alpha) else max(int(c * alpha), 8)


def _trunc16(c, alpha, in_s, in_0):
    """max(int(c * alpha), 16): the TF Object Detection API's SSD extra layers (``min_depth`` 16)."""
    return np.maximum(_int(c * alpha), 16) if np.ndim(alpha) else max(int(c * alpha), 16)


def _trunc(c, alpha, in_s, in_0):
    """int(c * alpha): Keras MobileNet V1 (no minimum)."""
    return _int(c * alpha)


def _keep_div8(c, alpha, in_s, in_0):
    """c for alpha <= 1, make_divisible(c * alpha, 8) above: the V2 paper's last-layer rule."""
    if np.ndim(alpha) == 0:
        return c if alpha <= 1.0 else make_divisible(c * alpha, 8)
    return np.where(np.asarray(alpha) <= 1.0, c, make_divisible(c * np.asarray(alpha), 8))


def _fix_below075(c, alpha, in_s, in_0):
    """c for alpha < 0.75, make_divisible(c * alpha, 8) from there: timm MobileNetV3's stem (fix_stem)."""
    if np.ndim(alpha) == 0:
        return c if alpha < 0.75 else make_divisible(c * alpha, 8)
    return np.where(np.asarray(alpha) < 0.75, c, make_divisible(c * np.asarray(alpha), 8))


def _factor_div8(c, alpha, in_s, in_0):
    """make_divisible(in_scaled * c / in_paper, 8): an expansion by a factor of the scaled input
    (TF-slim ``expand_input_by_factor``, Keras V3)."""
    return make_divisible(in_s * (c / in_0), 8)


def _factor_round(c, alpha, in_s, in_0):
    """int(round(in_scaled * t)): torchvision MobileNetV2 ``hidden_dim`` (round half to even, as round())."""
    x = in_s * (c / in_0)
    return int(round(x)) if np.ndim(x) == 0 else np.round(x)


def _factor(c, alpha, in_s, in_0):
    """int(in_scaled * t): Keras MobileNetV2 ``expansion * in_channels``."""
    return _int(in_s * (c / in_0))


def _fixed(c, alpha, in_s, in_0):
    """c, whatever alpha."""
    return c if np.ndim(alpha) == 0 else np.full(np.shape(alpha), c, dtype=float)


WIDTH_RULES = {
    "div8": _div8,
    "div8_int": _div8_int,
    "trunc8": _trunc8,
    "trunc": _trunc,
    "trunc16": _trunc16,
    "keep_div8": _keep_div8,
    "fix_below075": _fix_below075,
    "factor_div8": _factor_div8,
    "factor_round": _factor_round,
    "factor": _factor,
    "fixed": _fixed,
}

# The rules that size a layer from its input width (the others read only c and alpha).
FACTOR_RULES = frozenset({"factor_div8", "factor_round", "factor"})

# Squeeze-excite squeeze width from the block's (scaled) expansion and input widths.
SQUEEZE_RULES = {
    "div8_floor": lambda exp, c_in: make_divisible(exp // 4, 8),  # torchvision V3: _make_divisible(exp // 4, 8)
    "div8": lambda exp, c_in: make_divisible(exp / 4, 8),  # Keras / TF-slim V3: _depth(exp * 0.25)
    "quarter_input": lambda exp, c_in: np.maximum(1, c_in // 4),  # torchvision EfficientNet: max(1, input_channels // 4)
}


def scale_width(rule: str, c: float, alpha: float, in_s: float, in_0: float) -> int:
    return WIDTH_RULES[rule](c, alpha, in_s, in_0)


def out_size(h, stride: int, spatial: str):
    """Output height of a layer: ceil(h / stride) with SAME padding (exact), or h / stride (continuous)."""
    if spatial == "exact":
        return -(-h // stride)
    return h / stride
