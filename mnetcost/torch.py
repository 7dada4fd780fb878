"""Build any table as a PyTorch module and check mnetcost's counts against PyTorch's own.

Optional: ``pip install "mnetcost[torch]"``. Nothing else in mnetcost imports torch.

The module is built from the very primitive layers the cost engine counts (``expand``), one
submodule per layer: a convolution (bias exactly when the layer has no BatchNorm) with its
BatchNorm and activation, squeeze-excite (pool, two 1x1 convs with biases, ReLU, hard-sigmoid gate),
global average pooling, a Linear classifier, residual additions, and MobileNetV4's BatchNorm-only
layers, multi-query attention matmuls and layer scales. BatchNorm modules exist when
the convention counts BatchNorm parameters (torchvision: weight and bias; keras: also the running
statistics, which PyTorch holds as buffers); under ``paper`` and ``tf-slim`` (V2/V3) the module has
none. TF-slim's V1 count (3 values per BatchNorm channel) has no PyTorch counterpart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .engine import cost, hw, setup
from .errors import UsageError
from .expand import single
from .tables import OUT_OF_PLACE

ACTIVATIONS = {"RE": nn.ReLU, "RE6": nn.ReLU6, "HS": nn.Hardswish, "SW": nn.SiLU, "SIG": nn.Sigmoid, "HSIG": nn.Hardsigmoid, "GE": nn.GELU}


def _act(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        return nn.Identity()
    return ACTIVATIONS[name]() if name in OUT_OF_PLACE else ACTIVATIONS[name](inplace=True)


class ConvLayer(nn.Sequential):
    def __init__(self, layer, batchnorm: bool):
        k, d = layer.kernel, layer.dilation
        parts = [nn.Conv2d(layer.c_in, layer.c_out, k, layer.stride, padding=(k - 1) // 2 * d, dilation=d,
                           groups=layer.groups, bias=layer.bias)]
        if layer.bn and batchnorm:
            parts.append(nn.BatchNorm2d(layer.c_out))
        parts.append(_act(layer.act))
        super().__init__(*parts)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze: int, act: str = "RE", gate: str = "HSIG"):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = _act(act)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.gate = _act(gate)

    def forward(self, x):
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


class Classifier(nn.Sequential):
    def __init__(self, layer):
        super().__init__(nn.Flatten(1), nn.Linear(layer.c_in, layer.c_out), _act(layer.act))


class Merge(nn.Module):
    """Element-wise sum or product of its inputs (a 1x1 map broadcasts), or their concatenation, then
    the row's activation."""

    def __init__(self, op: str, act: str):
        super().__init__()
        self.op, self.act = op, _act(act)

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
    heads x value_dim channels at the queries' size. Written with explicit matmuls, as timm's
    unfused path, so that FlopCounterMode counts QK^T and AV."""

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
    """Bilinear interpolation to another tensor's size (torchvision's heads: ``align_corners=False``)."""

    def forward(self, x, size):
        return nn.functional.interpolate(x, size=size, mode="bilinear", align_corners=False)


class MobileNet(nn.Module):
    """A network of named primitive layers; ``names[i]`` is mnetcost's name of ``layers[i]`` and
    ``inputs[i]`` the names of the tensors it reads ("input": the image). Returns the network's
    outputs: the tensors no layer reads (one tensor, or a tuple)."""

    def __init__(self, layers, batchnorm: bool, se_act: str = "RE", se_gate: str = "HSIG"):
        super().__init__()
        self.names = [l.name for l in layers]
        self.inputs = [l.inputs for l in layers]
        self.size_of = [l.size_of for l in layers]
        read = {t for ins in self.inputs for t in ins}
        self.outputs = [n for n in self.names if n not in read]
        modules = {}
        for l in layers:
            if l.op in ("conv", "pw", "dw") or (l.op == "fc" and l.bn):  # a BatchNorm'd fc: a 1x1 conv on a 1x1 map
                m = ConvLayer(l, batchnorm)
            elif l.op == "norm":
                m = nn.BatchNorm2d(l.c_out) if batchnorm else nn.Identity()
            elif l.op == "attn":
                m = Attention(l.args["heads"], l.args["key_dim"])
            elif l.op == "scale":
                m = LayerScale(l.c_out)
            elif l.op == "se":
                m = SqueezeExcite(l.c_out, l.c_mid, se_act, se_gate)
            elif l.op == "pool":
                m = nn.AdaptiveAvgPool2d(1)
            elif l.op == "fc":
                m = Classifier(l)
            elif l.op in ("add", "mul", "concat"):
                m = Merge(l.op, l.act)
            elif l.op == "upsample":
                m = Upsample()
            else:
                raise UsageError(f"no PyTorch module for op {l.op!r}")
            modules[key(l.name)] = m
        self.layers = nn.ModuleDict(modules)

    def forward(self, x):
        tensors, sizes = {"input": x}, {"input": x.shape[-2:]}
        last_use = {t: i for i, ins in enumerate(self.inputs) for t in ins}
        for i, (name, module) in enumerate(zip(self.names, self.layers.values())):
            args = [tensors[t] for t in self.inputs[i]] + ([sizes[self.size_of[i]]] if self.size_of[i] else [])
            tensors[name] = module(*args)
            sizes[name] = tensors[name].shape[-2:]
            for t in self.inputs[i]:
                if last_use[t] == i and t not in self.outputs:
                    del tensors[t]  # free what no later layer reads
        out = tuple(tensors[n] for n in self.outputs)
        return out[0] if len(out) == 1 else out


def key(name: str) -> str:
    """A layer's name as a submodule key (module names cannot contain dots)."""
    return name.replace(".", "_")


def _checked(model, convention, classes=None, top=True, head=None, aux=False, reduced_tail=False, symbols=None):
    s = setup(model, convention, classes, "exact", top, head, aux, reduced_tail, symbols)
    if s.rules.bn_params not in (0, 2, 4):
        raise UsageError(f"convention {s.rules.convention!r} counts {s.rules.bn_params} values per BatchNorm channel "
                         f"for {s.table.family}: no PyTorch module has that")
    return s


def build(model, *, alpha: float = 1.0, rho=None, resolution=None, convention="torchvision", classes=None,
          top=True, head=None, aux=False, reduced_tail=False, symbols=None, device=None) -> MobileNet:
    """An ``nn.Module`` with the structure of ``model`` under ``convention`` (eval mode), for the input
    resolution given (upsampling layers have fixed output sizes; convolutions work at any size)."""
    s = _checked(model, convention, classes, top, head, aux, reduced_tail, symbols)
    r = cost(s.table, alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
             top=top, head=head, aux=aux, reduced_tail=reduced_tail, symbols=symbols)
    h, w = hw(r.resolution)
    layers = single(s.expand(np.array([r.alpha]), np.array([h]), widths=np.array([w])))
    with torch.device(device or "cpu"):
        net = MobileNet(layers, batchnorm=s.rules.bn_params > 0, se_act=s.rules.se_act, se_gate=s.rules.se_gate)
    net.in_channels = s.table.channels
    return net.eval()


def torch_params(module: nn.Module, running_stats: bool) -> int:
    """Parameter count of ``module``; with ``running_stats`` also BatchNorm's running mean and variance."""
    n = sum(p.numel() for p in module.parameters())
    if running_stats:
        n += sum(m.running_mean.numel() + m.running_var.numel() for m in module.modules() if isinstance(m, nn.BatchNorm2d))
    return n


@dataclass
class Verification:
    model: str
    convention: str
    alpha: float
    resolution: int
    classes: int
    rows: list  # one dict per layer: name, op, params (mnetcost, torch), macs (mnetcost, torch), shape (mnetcost, torch), ok

    @property
    def ok(self) -> bool:
        return all(r["ok"] for r in self.rows)

    @property
    def totals(self) -> dict:
        return {k: sum(r[k] for r in self.rows) for k in ("params", "torch_params", "macs", "torch_macs")}


def verify(model, *, alpha: float = 1.0, rho=None, resolution=None, convention="torchvision", classes=None,
           top=True, head=None, aux=False, reduced_tail=False, symbols=None, device: str = "cpu") -> Verification:
    """Build ``model`` and compare, layer by layer, mnetcost's params, MACs and output shapes with
    PyTorch's: the sum of parameter sizes (plus running statistics under keras), FlopCounterMode / 2,
    and the shapes of a forward pass at the requested resolution. ``device="meta"`` runs the forward
    pass on shapes only (the same counts, no arithmetic)."""
    s = _checked(model, convention, classes, top, head, aux, reduced_tail, symbols)
    r = cost(s.table, alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
             top=top, head=head, aux=aux, reduced_tail=reduced_tail, symbols=symbols)
    net = build(s.table, alpha=r.alpha, resolution=r.resolution, convention=convention, classes=r.classes, top=top,
                head=head, aux=aux, reduced_tail=reduced_tail, symbols=symbols, device=device)
    return compare(net, r, device=device)


def compare(net: MobileNet, r, device: str = "cpu") -> Verification:
    """Compare a built module with the cost result ``r`` of the same table, convention, width and
    classes, at ``r``'s resolution (the module itself works at any resolution)."""
    from torch.utils.flop_counter import FlopCounterMode

    rules = r.rules
    shapes = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=n: shapes.__setitem__(n, tuple(out.shape)))
             for n, m in net.layers.items()]
    x = torch.zeros(1, net.in_channels, *hw(r.resolution), device=device)
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            net(x)
    finally:
        for h in hooks:
            h.remove()
    flops = counter.get_flop_counts()
    root = type(net).__name__
    c = r.columns
    if [key(n) for n in c["name"]] != list(net.layers):
        raise UsageError("the module and the cost result describe different networks")
    rows = []
    for i, name in enumerate(c["name"]):
        k = key(name)
        module = net.layers[k]
        torch_macs = sum(flops.get(f"{root}.layers.{k}", {}).values()) // 2
        out = shapes[k]
        torch_shape = (out[2], out[3], out[1]) if len(out) == 4 else (1, 1, out[1])
        ours_shape = (int(c["h_out"][i]), int(c["w_out"][i]), int(c["c_out"][i]))
        row = {"name": name, "op": c["op"][i], "params": int(c["params"][i]),
               "torch_params": torch_params(module, rules.bn_params == 4),
               "macs": int(c["mult_adds"][i]), "torch_macs": int(torch_macs),
               "shape": "x".join(map(str, ours_shape)), "torch_shape": "x".join(map(str, torch_shape))}
        row["ok"] = (row["params"], row["macs"], row["shape"]) == (row["torch_params"], row["torch_macs"], row["torch_shape"])
        rows.append(row)
    return Verification(r.model, rules.convention, r.alpha, r.resolution, r.classes, rows)
