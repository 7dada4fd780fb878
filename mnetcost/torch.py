"""Build any table as a PyTorch module and check mnetcost's counts against PyTorch's own.

Optional: ``pip install "mnetcost[torch]"``. Nothing else in mnetcost imports torch.

The module is built from the very primitive layers the cost engine counts (``expand``), one
submodule per layer: a convolution (bias exactly when the layer has no BatchNorm) with its
BatchNorm and activation, squeeze-excite (pool, two 1x1 convs with biases, ReLU, hard-sigmoid gate),
global average pooling, a Linear classifier, and residual additions. BatchNorm modules exist when
the convention counts BatchNorm parameters (torchvision: weight and bias; keras: also the running
statistics, which PyTorch holds as buffers); under ``paper`` and ``tf-slim`` (V2/V3) the module has
none. TF-slim's V1 count (3 values per BatchNorm channel) has no PyTorch counterpart.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .conventions import get_convention
from .engine import cost
from .errors import UsageError
from .expand import expand
from .tables import load_table

ACTIVATIONS = {"RE": nn.ReLU, "RE6": nn.ReLU6, "HS": nn.Hardswish, "SW": nn.SiLU, "SIG": nn.Sigmoid, "HSIG": nn.Hardsigmoid}


def _act(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        return nn.Identity()
    return ACTIVATIONS[name]() if name == "SIG" else ACTIVATIONS[name](inplace=True)


class ConvLayer(nn.Sequential):
    def __init__(self, layer, batchnorm: bool):
        k = layer.kernel
        parts = [nn.Conv2d(layer.c_in, layer.c_out, k, layer.stride, padding=(k - 1) // 2, groups=layer.groups,
                           bias=layer.bias)]
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


class Residual(nn.Module):
    """Adds the block's input (kept by the network) to the block's output."""

    def forward(self, x, skip):
        return x + skip


class MobileNet(nn.Module):
    """A network of named primitive layers; ``names[i]`` is mnetcost's name of ``layers[i]``."""

    def __init__(self, layers, batchnorm: bool, se_act: str = "RE", se_gate: str = "HSIG"):
        super().__init__()
        self.names = [l.name for l in layers]
        self.blocks = [l.block for l in layers]
        modules = {}
        for l in layers:
            if l.op in ("conv", "pw", "dw"):
                m = ConvLayer(l, batchnorm)
            elif l.op == "se":
                m = SqueezeExcite(l.c_out, l.c_mid, se_act, se_gate)
            elif l.op == "pool":
                m = nn.AdaptiveAvgPool2d(1)
            elif l.op == "fc":
                m = Classifier(l)
            elif l.op == "add":
                m = Residual()
            else:
                raise UsageError(f"no PyTorch module for op {l.op!r}")
            modules[key(l.name)] = m
        self.layers = nn.ModuleDict(modules)

    def forward(self, x):
        block_input, current = {}, None
        for name, block, module in zip(self.names, self.blocks, self.layers.values()):
            if block != current:
                block_input[block], current = x, block
            x = module(x, block_input[block]) if isinstance(module, Residual) else module(x)
        return x


def key(name: str) -> str:
    """A layer's name as a submodule key (module names cannot contain dots)."""
    return name.replace(".", "_")


def _rules(model, convention):
    table = load_table(model)
    rules = get_convention(convention).rules(table.family)
    if rules.bn_params not in (0, 2, 4):
        raise UsageError(f"convention {rules.convention!r} counts {rules.bn_params} values per BatchNorm channel "
                         f"for {table.family}: no PyTorch module has that")
    return table, rules


def build(model, *, alpha: float = 1.0, rho=None, resolution=None, convention="torchvision", classes=None,
          top=True, head=None, device=None) -> MobileNet:
    """An ``nn.Module`` with the structure of ``model`` under ``convention`` (eval mode)."""
    table, rules = _rules(model, convention)
    r = cost(table, alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
             top=top, head=head)
    layers = expand(table, rules, r.alpha, r.resolution, r.classes, "exact", top=r.top is not False,
                    head=None if isinstance(r.top, bool) else r.top)
    with torch.device(device or "cpu"):
        net = MobileNet(layers, batchnorm=rules.bn_params > 0, se_act=rules.se_act, se_gate=rules.se_gate)
    net.in_channels = table.channels
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
           top=True, head=None, device: str = "cpu") -> Verification:
    """Build ``model`` and compare, layer by layer, mnetcost's params, MACs and output shapes with
    PyTorch's: the sum of parameter sizes (plus running statistics under keras), FlopCounterMode / 2,
    and the shapes of a forward pass at the requested resolution. ``device="meta"`` runs the forward
    pass on shapes only (the same counts, no arithmetic)."""
    table, rules = _rules(model, convention)
    r = cost(table, alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
             top=top, head=head)
    net = build(table, alpha=r.alpha, resolution=r.resolution, convention=convention, classes=r.classes, top=top,
                head=head, device=device)
    return compare(net, r, device=device)


def compare(net: MobileNet, r, device: str = "cpu") -> Verification:
    """Compare a built module with the cost result ``r`` of the same table, convention, width and
    classes, at ``r``'s resolution (the module itself works at any resolution)."""
    from torch.utils.flop_counter import FlopCounterMode

    rules = r.rules
    shapes = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, n=n: shapes.__setitem__(n, tuple(out.shape)))
             for n, m in net.layers.items()]
    x = torch.zeros(1, net.in_channels, r.resolution, r.resolution, device=device)
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
