"""Build any table as a PyTorch module and check mnetcost's counts against PyTorch's own.

Optional: ``pip install "mnetcost[torch]"``. Only this module and ``mnetcost.modules`` import torch.

The module is built from the very primitive layers the cost engine counts (``expand``), one
submodule per layer, each made by its op spec's ``module`` facet (``mnetcost.modules`` for the built-in
ops; a user's op brings its own). BatchNorm modules exist when
the convention counts BatchNorm parameters (torchvision: weight and bias; keras: also the running
statistics, which PyTorch holds as buffers); under ``paper`` and ``tf-slim`` (V2/V3) the module has
none. TF-slim's V1 count (3 values per BatchNorm channel) has no PyTorch counterpart.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from contextlib import contextmanager

from .config import configure
from .engine import cost_layers, hw
from .errors import EnvironmentProblem, UsageError
from .traffic import check_forward


@contextmanager
def memory_guard(what: str):
    """A real out-of-memory while building or running (Python's MemoryError, PyTorch's or ONNX Runtime's failed
    allocation) is the environment's problem (``EnvironmentProblem``, exit 3), never an internal error."""
    try:
        yield
    except MemoryError:
        raise EnvironmentProblem(f"{what} ran out of memory on this machine; choose a smaller resolution or width") from None
    except Exception as e:  # torch: RuntimeError "can't allocate memory"; onnxruntime: its own exception types
        text = str(e).lower()
        if isinstance(e, getattr(torch, "OutOfMemoryError", ())) or any(
                s in text for s in ("allocate memory", "out of memory", "failed to allocate", "bad_alloc", "bad allocation")):
            raise EnvironmentProblem(f"{what} ran out of memory on this machine ({str(e).splitlines()[0]:.120}); "
                                     "choose a smaller resolution or width") from None
        raise

class MobileNet(nn.Module):
    """A network of named primitive layers; ``names[i]`` is mnetcost's name of ``layers[i]`` and
    ``inputs[i]`` the names of the tensors it reads ("input": the image). Returns the network's
    outputs: the tensors no layer reads (one tensor, or a tuple)."""

    def __init__(self, layers, s):
        super().__init__()
        self.names = [l.name for l in layers]
        self.inputs = [l.inputs for l in layers]
        self.size_of = [l.size_of for l in layers]
        read = {t for ins in self.inputs for t in ins}
        self.outputs = [n for n in self.names if n not in read]
        self.layers = nn.ModuleDict({key(l.name): s.ops[l.op].facet("module")(l, s.rules) for l in layers})

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


def _checked(s):
    if s.rules.bn_params not in (0, 1, 2, 4):
        raise UsageError(f"convention {s.rules.convention!r} counts {s.rules.bn_params} values per BatchNorm channel "
                         f"for {s.table.family}: no PyTorch module has that")
    return s


def _build(r, layers, s, device=None) -> MobileNet:
    with torch.device(device or "cpu"):
        net = MobileNet(layers, s)
    net.in_channels = s.table.channels
    return net.eval()


def build(model, config=None, *, device=None, **options) -> MobileNet:
    """An ``nn.Module`` with the structure of ``model`` under a configuration (``config`` or keyword options
    as for ``cost``; the convention defaults to torchvision's), in eval mode, for the input resolution given
    (upsampling layers have fixed output sizes; convolutions work at any size)."""
    r, layers, s = cost_layers(model, configure(config, {"convention": "torchvision"}, **options))
    return _build(r, layers, _checked(s), device)


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


def verify(model, config=None, *, device: str = "cpu", **options) -> Verification:
    """Build ``model`` and compare, layer by layer, mnetcost's params, MACs and output shapes with
    PyTorch's: the sum of parameter sizes (plus running statistics under keras), FlopCounterMode / 2,
    and the shapes of a forward pass at the requested resolution. ``device="meta"`` runs the forward
    pass on shapes only (the same counts, no arithmetic). A configuration whose forward pass would need more
    than ``traffic.FORWARD_LIMIT`` bytes is refused before anything is built; running out of memory is an
    ``EnvironmentProblem``."""
    r, layers, s = cost_layers(model, configure(config, {"convention": "torchvision"}, **options))
    if device != "meta":  # the meta device allocates nothing
        check_forward(r, layers, "verify")
    with memory_guard("verify"):
        return compare(_build(r, layers, _checked(s), device), r, device=device)


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
