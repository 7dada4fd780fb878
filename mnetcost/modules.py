"""The PyTorch module of each built-in op (the ``module`` facet of ``mnetcost.ops``' specs). Imports torch:
only ``mnetcost.torch`` and the op specs' ``module`` facets load it, when a module is built.

A convolution has a bias exactly when the layer has no BatchNorm, then its BatchNorm and activation;
squeeze-excite is a pool, two 1x1 convs with biases, an inner activation and a gate; attention is written
with explicit matmuls (timm's unfused path), so that FlopCounterMode counts QK^T and AV. BatchNorm
modules exist when the convention counts BatchNorm parameters."""

from __future__ import annotations

import torch
from torch import nn

from .vocab import OUT_OF_PLACE

ACTIVATIONS = {"RE": nn.ReLU, "RE6": nn.ReLU6, "HS": nn.Hardswish, "SW": nn.SiLU, "SIG": nn.Sigmoid,
               "HSIG": nn.Hardsigmoid, "GE": nn.GELU}


def activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        return nn.Identity()
    return ACTIVATIONS[name]() if name in OUT_OF_PLACE else ACTIVATIONS[name](inplace=True)


class RmsNorm2d(nn.Module):
    """RMSNorm over the channels of an N x C x H x W tensor, with a weight and no bias (timm's RmsNorm2d,
    MobileNetV5's norm): C parameters, no running statistics."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))

    def forward(self, x):
        scale = torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)
        return x * scale * self.weight.view(1, -1, 1, 1)


def norm_module(channels: int, rules):
    """The convention's norm: none (it counts no norm parameters), RMSNorm (1 value per channel: V5) or
    BatchNorm (2, or 4 with the running statistics)."""
    if rules.bn_params == 0:
        return None
    return RmsNorm2d(channels) if rules.bn_params == 1 else nn.BatchNorm2d(channels)


class ConvLayer(nn.Sequential):
    def __init__(self, layer, rules):
        k, d = layer.kernel, layer.dilation
        parts = [nn.Conv2d(layer.c_in, layer.c_out, k, layer.stride, padding=(k - 1) // 2 * d, dilation=d,
                           groups=layer.groups, bias=layer.bias)]
        norm = norm_module(layer.c_out, rules) if layer.bn else None
        parts += [norm] if norm is not None else []
        parts.append(activation(layer.act))
        super().__init__(*parts)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze: int, act: str = "RE", gate: str = "HSIG"):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = activation(act)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.gate = activation(gate)

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


class Classifier(nn.Sequential):
    def __init__(self, layer):
        super().__init__(nn.Flatten(1), nn.Linear(layer.c_in, layer.c_out), activation(layer.act))


class Merge(nn.Module):
    """Element-wise sum or product of its inputs (a 1x1 map broadcasts), or their concatenation, then
    the row's activation."""

    def __init__(self, op: str, act: str):
        super().__init__()
        self.op, self.act = op, activation(act)

    def forward(self, *xs):
        if self.op == "concat":
            return torch.cat(xs, dim=1)
        out = xs[0]
        for x in xs[1:]:
            out = out + x if self.op == "add" else out * x
        return self.act(out)


class Attention(nn.Module):
    """Multi-query attention's matmuls on projected tensors: queries (heads x key_dim channels), one
    key head and one value head (possibly at a lower resolution) shared by every query head; returns
    heads x value_dim channels at the queries' size."""

    def __init__(self, heads: int, key_dim: int):
        super().__init__()
        self.heads, self.scale = heads, key_dim ** -0.5

    def forward(self, q, k, v, size=None):
        b, _, h, w = q.shape
        q = q.reshape(b, self.heads, -1, h * w).transpose(-1, -2)  # b, heads, N_q, key_dim
        k = k.flatten(2).unsqueeze(1)  # b, 1, key_dim, N_kv
        v = v.flatten(2).transpose(-1, -2).unsqueeze(1)  # b, 1, N_kv, value_dim
        attn = ((q * self.scale) @ k).softmax(dim=-1)
        return (attn @ v).transpose(-1, -2).reshape(b, -1, h, w)


class LayerScale(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((channels,), 1e-5))

    def forward(self, x):
        return x * self.gamma.view(1, -1, 1, 1)


class Upsample(nn.Module):
    """Bilinear interpolation to another tensor's size (torchvision's heads: ``align_corners=False``), or
    nearest-neighbour."""

    def __init__(self, nearest: bool = False):
        super().__init__()
        self.nearest = nearest

    def forward(self, x, size):
        if self.nearest:
            return nn.functional.interpolate(x, size=size, mode="nearest")
        return nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)


class GridPool(nn.Module):
    """Down to a G x G grid: average pooling by the ratio where the size is a multiple of G, else bilinear."""

    def __init__(self, grid: int):
        super().__init__()
        self.grid = grid

    def forward(self, x):
        h, w = x.shape[-2:]
        if h % self.grid == 0 and w % self.grid == 0:
            kernel = (h // self.grid, w // self.grid)
            return nn.functional.avg_pool2d(x, kernel, kernel) if kernel != (1, 1) else x
        return nn.functional.interpolate(x, size=(self.grid, self.grid), mode="bilinear", align_corners=False)


# the builders the op specs name: (layer, rules) -> module
def conv(layer, rules):
    return ConvLayer(layer, rules)


def fc(layer, rules):
    """A BatchNorm'd FC is a 1x1 conv on a 1x1 map; otherwise a Linear classifier."""
    return ConvLayer(layer, rules) if layer.bn else Classifier(layer)


def se(layer, rules):
    return SqueezeExcite(layer.c_out, layer.c_mid, rules.se_act, rules.se_gate)


def pool(layer, rules):
    return nn.AdaptiveAvgPool2d(1)


def merge(layer, rules):
    return Merge(layer.op, layer.act)


def upsample(layer, rules):
    return Upsample(bool(layer.args.get("nearest")))


def gridpool(layer, rules):
    return GridPool(layer.args["grid"])


def norm(layer, rules):
    """A norm on its own, then the row's activation."""
    parts = [norm_module(layer.c_out, rules) or nn.Identity(), activation(layer.act)]
    return nn.Sequential(*parts)


def attention(layer, rules):
    return Attention(layer.args["heads"], layer.args["key_dim"])


def scale(layer, rules):
    return LayerScale(layer.c_out)
