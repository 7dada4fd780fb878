"""Reading an ONNX file into the layers mnetcost knows (``mnetcost import``'s first half).

``read`` loads the file with the official ``onnx`` package (the ``import`` extra) without its weights'
values (counts need shapes only; external-data files are checked to exist, never read), runs its shape
inference, and walks the graph in its (topological) order. Only the tensors computed from the image
are followed: initializers, constants and shape computations (``Shape`` → ``Slice`` → ``Concat`` for a
``Resize``'s target size) are not layers. Each operator node becomes a ``Node`` — a convolution
(standard, pointwise or depthwise), a BatchNorm, an activation, an element-wise add or multiply, global
pooling, a fully connected layer, a concatenation, an upsampling — or disappears as a view of its input
(Identity, Dropout, Flatten and Reshape of a 1×1 map). BatchNorms and activations are then folded into
the layer they follow (``fuse``). Anything else is refused with its op type and node name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from .errors import EnvironmentProblem, TableError, UnknownOp, UsageError

MAX_NODES = 50_000  # operator nodes one file may have (torchvision's MobileNets: 200 to 400)
MAX_BYTES = 2 ** 31  # protobuf's own limit for one file
ACTS = {"Relu": "RE", "HardSwish": "HS", "HardSigmoid": "HSIG", "Sigmoid": "SIG", "Gelu": "GE"}
VIEWS = {"Identity", "Dropout", "Flatten", "Reshape", "Squeeze", "Unsqueeze"}
META = {"Shape", "Size"}  # read a tensor's shape, not its values
SUPPORTED = ("Conv (any kernel, stride, dilation, group)", "BatchNormalization", "Relu",
             "Clip (0..6: ReLU6)", "HardSwish", "HardSigmoid", "Sigmoid", "Mul(x, Sigmoid(x)) (SiLU)", "Gelu",
             "Add", "Mul", "GlobalAveragePool", "ReduceMean (over H and W)", "Gemm", "MatMul (by a weight)",
             "Concat (channels)", "Resize (to another tensor's size)", "Identity", "Dropout",
             "Flatten/Reshape/Squeeze/Unsqueeze (of a 1x1 map)", "Transpose/Reshape/Concat of head outputs",
             "com.microsoft FusedConv (ONNX Runtime's, with Relu, Clip 0..6, HardSigmoid, Sigmoid)",
             "attention: MatMul (or com.microsoft FusedMatMul) of reshaped query and key, Softmax, MatMul by the value")


@dataclass
class Node:
    """One layer: ``op`` conv, pw, dw, gconv (``args`` groups), norm, act, add, mul, pool, fc, concat, upsample; reading the data
    tensors ``inputs``, writing ``output``. ``onnx`` lists the file's node names it stands for."""

    op: str
    name: str
    inputs: list
    output: str
    k: int = 1
    s: int = 1
    dil: int = 1
    cin: int = 0
    cout: int = 0
    bias: bool = False
    act: str = ""
    bn: bool = False
    size: str = ""  # upsample: the tensor whose height and width it takes
    nearest: bool = False
    onnx: list = field(default_factory=list)
    args: dict = field(default_factory=dict)


@dataclass
class Graph:
    """The layers of one file, its image input (name, channels, height, width), its outputs, and the
    shapes shape inference gave every tensor (name -> dims)."""

    nodes: list
    image: str
    channels: int
    height: int
    width: int
    outputs: list
    dims: dict
    notes: list
    opset: int


def _onnx():
    try:
        import onnx
    except ImportError:
        raise EnvironmentProblem('importing ONNX needs the onnx package: pip install "mnetcost[import]"') from None
    return onnx


def load(path) -> object:
    """The ModelProto of ``path``, without its external data; a missing, unreadable, oversized, truncated
    or non-ONNX file, or a missing external-data file, is one error."""
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"an ONNX model is a path to its file, got {path!r:.80}")
    onnx = _onnx()
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UsageError(f"no ONNX file at {path!r}")
    if os.path.getsize(path) >= MAX_BYTES:
        raise UsageError(f"{os.path.basename(path)} is larger than 2 GB, protobuf's limit for one ONNX file")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:  # protobuf's DecodeError, or onnx's own
        raise TableError(f"{os.path.basename(path)} is not a readable ONNX model ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else 'cannot parse'})") from None
    if not model.graph.node or model.ir_version <= 0:
        raise TableError(f"{os.path.basename(path)} is not an ONNX model (no graph: empty, truncated or another format)")
    if len(model.graph.node) > MAX_NODES:
        raise TableError(f"{os.path.basename(path)} has {len(model.graph.node):,} nodes; mnetcost imports at most "
                         f"{MAX_NODES:,}")
    _check_external(model, os.path.dirname(os.path.abspath(path)), os.path.basename(path))
    return model


def _check_external(model, folder: str, name: str):
    for t in model.graph.initializer:
        if t.data_location == 1:  # EXTERNAL
            where = {e.key: e.value for e in t.external_data}.get("location", "")
            if not os.path.isfile(os.path.join(folder, where)):
                raise TableError(f"{name} keeps tensor {t.name!r} in the external-data file {where!r}, which is "
                                 "missing beside it")


def _shapes(model, name: str) -> dict:
    """name -> dims (ints, or None for a symbolic dim) of every tensor shape inference can tell."""
    onnx = _onnx()
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception as e:
        raise TableError(f"{name}: ONNX shape inference fails ({str(e).splitlines()[0]:.160})") from None
    g = inferred.graph
    out = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        t = vi.type.tensor_type
        if t.HasField("shape"):
            out[vi.name] = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
    for t in g.initializer:
        out[t.name] = list(t.dims)
    return out


def _image(model, dims: dict, name: str):
    inits = {t.name for t in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise TableError(f"{name}: mnetcost imports a network with one image input; this one has {len(inputs)}")
    d = dims.get(inputs[0]) or []
    if len(d) != 4 or not all(isinstance(v, int) and v > 0 for v in d[1:]):
        raise TableError(f"{name}: the input {inputs[0]!r} must be N x C x H x W with fixed C, H and W "
                         f"(export it at one size; mnetcost re-derives every other), got {d}")
    if d[2] != d[3]:
        raise TableError(f"{name}: the input is {d[2]}x{d[3]}; mnetcost imports square inputs")
    return inputs[0], d[1], d[2], d[3]


def read(path) -> Graph:
    """The layers of the ONNX file at ``path`` (its BatchNorms and activations folded), its input and outputs."""
    model = load(path)
    name = os.path.basename(os.fspath(path))
    dims = _shapes(model, name)
    image, channels, h, w = _image(model, dims, name)
    walk = _Walk(model, dims, image, name)
    for node in model.graph.node:
        walk.visit(node)
    outputs = [walk.alias.get(o.name, o.name) for o in model.graph.output]
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0)
    return Graph(fuse(walk.nodes, outputs), image, channels, h, w, outputs, dims, walk.notes, opset)


def _attrs(node) -> dict:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


class _Walk:
    """The walk over the file's nodes in order: which tensors are data (computed from the image), which
    are views of others (``alias``), which read shapes (``meta``: the data tensors they read), which
    are head outputs in another layout (``layout``), and the layers found so far."""

    def __init__(self, model, dims, image, name):
        self.dims, self.name, self.notes = dims, name, []
        self.alias, self.data, self.meta, self.layout, self.const = {}, {image}, {}, set(), {}
        self.image, self.hw, self.one = image, {}, set()
        # attention: a reshaped tensor's N x C x H x W origin, the score and probability matrices' (query, key)
        # origins, and the attention outputs
        self.origin, self.scores, self.attended = {}, {}, set()
        self.size = {image: tuple(dims[image][2:])}  # tensor -> (H, W), by ONNX's own arithmetic  # hw: a shape computation's last two numbers (a Resize's H, W)
        self.weights = {t.name: list(t.dims) for t in model.graph.initializer}
        for t in model.graph.initializer:
            if t.data_location != 1 and len(t.dims) <= 1 and (not t.dims or t.dims[0] <= 8):
                self.const[t.name] = _values(t)
        self.nodes, self.producer = [], {}

    def fail(self, node, why: str):
        raise UnknownOp(f"{self.name}: node {node.name or node.output[0]!r} ({node.op_type}) {why}; mnetcost imports "
                        f"{', '.join(SUPPORTED)}")

    def visit(self, node):
        ins = [self.alias.get(i, i) for i in node.input]
        data = [i for i in ins if i in self.data]
        if node.domain not in ("", "ai.onnx") and not (node.domain == "com.microsoft" and node.op_type in (
                "FusedConv", "FusedMatMul")):
            self.fail(node, f"is in the operator domain {node.domain!r}")
        if node.op_type == "Constant":
            self._constant(node)
        elif not data:
            self._static(node, ins)
        elif node.op_type in META:
            self.meta[node.output[0]] = set(data)
        elif any(i in self.layout for i in data) and not (node.op_type not in LAYOUT and all(
                self.origin.get(i) in self.attended for i in data if i in self.layout)):
            _attention_step(self, node, data)
        else:
            back = {i: self.origin[i] for i in data if i in self.layout}  # an attention's output, back in N x C x H x W
            self._data(node, [back.get(i, i) for i in ins], [back.get(i, i) for i in data])

    def _constant(self, node):
        value = _attrs(node).get("value")
        if value is not None and len(value.dims) <= 1 and (not value.dims or value.dims[0] <= 8):
            self.const[node.output[0]] = _values(value)

    def _static(self, node, ins):
        """A node of constants or shapes only: not a layer; a shape computation keeps what it reads."""
        read = set().union(*(self.meta.get(i, set()) for i in ins)) if ins else set()
        numbers = [v for i in ins for v in self.const.get(i, [])]
        for o in node.output:
            if node.op_type == "Concat" and len(numbers) >= 2:
                self.hw[o] = [int(v) for v in numbers[-2:]]
            if read:
                self.meta[o] = read
            if node.op_type == "Identity" and ins and ins[0] in self.weights:
                self.weights[o] = self.weights[ins[0]]
                if ins[0] in self.const:
                    self.const[o] = self.const[ins[0]]
            elif o in self.dims and o not in self.weights:
                self.weights[o] = self.dims[o]

    def _to_layout(self, node, origin=None):
        for o in node.output:
            self.layout.add(o)
            self.data.add(o)
            self.origin[o] = origin

    def _data(self, node, ins, data):
        handler = HANDLERS.get(node.op_type, _view if node.op_type in VIEWS else None)
        if node.op_type in ACTS:
            handler = _activation
        if handler is None:
            self.fail(node, "is not an operator mnetcost knows")
        found = handler(self, node, ins, data)
        for o in node.output[:1]:
            self.data.add(o)
        if found is not None:
            found.onnx.append(node.name or node.output[0])
            self.nodes.append(found)
            self.producer[found.output] = found
            self.size.setdefault(found.output, self.size_of(found))
            if found.op == "pool" or (found.op in ("pw", "fc", "act", "add", "mul") and all(
                    self.spatial_one(i) for i in found.inputs)):
                self.one.add(found.output)

    def size_of(self, n: Node):
        if n.op in ("pool", "fc"):
            return 1, 1
        if n.op == "upsample":
            return self.size.get(n.size)
        sizes = [self.size.get(i) for i in n.inputs]
        return max(sizes, key=lambda hw: hw[0] * hw[1]) if None not in sizes else None

    def channels(self, tensor: str) -> int:
        d = self.dims.get(tensor) or []
        return d[1] if len(d) > 1 and isinstance(d[1], int) else 0

    def spatial_one(self, tensor: str) -> bool:
        """Whether ``tensor`` is a 1x1 map (or a vector): by its inferred shape, else by what computed it (a
        global pooling, and layers on its output; shape inference stops at operators of other domains)."""
        d = self.dims.get(tensor) or []
        return len(d) == 2 or (len(d) == 4 and d[2] == 1 and d[3] == 1) or tensor in self.one


def _values(t) -> list:
    from onnx import numpy_helper

    try:
        return [float(v) for v in numpy_helper.to_array(t).reshape(-1)]
    except (ValueError, TypeError) as e:  # data that does not fit its shape, or of no numeric type
        raise TableError(f"tensor {t.name!r} does not hold the values its type and shape say ({e})") from None


def _square(w, node, values, what) -> int:
    values = list(values)
    if len(set(values)) != 1:
        w.fail(node, f"has a non-square {what} {values}")
    return int(values[0])


def _conv(w, node, ins, data):
    a, wd = _attrs(node), w.weights.get(ins[1]) if len(ins) > 1 else None
    if len(data) != 1 or not wd or len(wd) != 4 or not all(isinstance(d, int) and d > 0 for d in wd):
        w.fail(node, f"is not a 2-D convolution of the image's tensors by a weight (weight shape {wd})")
    k = _square(w, node, wd[2:], "kernel")
    s = _square(w, node, a.get("strides", [1, 1]), "stride")
    dil = _square(w, node, a.get("dilations", [1, 1]), "dilation")
    g, cout = int(a.get("group", 1)), int(wd[0])
    cin = int(wd[1]) * g
    bias = len(ins) > 2 and bool(ins[2])
    if data[0] in w.size and w.size[data[0]]:
        w.size[node.output[0]] = _conv_size(w.size[data[0]], a, k, s, dil)
    if g == 1:
        op = "pw" if k == 1 else "conv"
    elif g == cin == cout:
        op = "dw"
    elif cout % g == 0:
        op = "gconv"  # a conv row with args groups=g
    else:
        w.fail(node, f"is a grouped convolution (group {g}) whose {cout} output channels do not divide by its groups")
    return Node(op, node.name, [data[0]], node.output[0], k=k, s=s, dil=dil, cin=cin, cout=cout, bias=bias,
                args={"groups": g} if op == "gconv" else {})


def _conv_size(hw, a, k, s, dil) -> tuple:
    """A convolution's output height and width as ONNX computes them (its pads, or auto_pad)."""
    pad = a.get("auto_pad", b"NOTSET")
    pad = pad.decode() if isinstance(pad, bytes) else pad
    pads = list(a.get("pads", [0, 0, 0, 0]))
    out = []
    for i, x in enumerate(hw):
        if pad in ("SAME_UPPER", "SAME_LOWER"):
            out.append(-(-x // s))
        else:
            total = 0 if pad == "VALID" else pads[i] + pads[i + 2]
            out.append((x + total - dil * (k - 1) - 1) // s + 1)
    return tuple(out)


FUSED_ACTS = {"Relu": "RE", "HardSigmoid": "HSIG", "Sigmoid": "SIG"}


def _fusedconv(w, node, ins, data):
    """ONNX Runtime's com.microsoft FusedConv: act(conv(x) + z), z an optional fourth input (a residual)."""
    a = _attrs(node)
    act = a.get("activation", b"")
    act = act.decode() if isinstance(act, bytes) else act
    params = [float(v) for v in a.get("activation_params", [])]
    code = "RE6" if act == "Clip" and params == [0.0, 6.0] else FUSED_ACTS.get(act, "" if not act else None)
    if code is None:
        w.fail(node, f"fuses the activation {act} {params}, not one mnetcost knows")
    z = ins[3] if len(ins) > 3 and ins[3] else ""
    conv = _conv(w, node, ins[:3], [d for d in data if d != z] or data)
    if not z:
        conv.act = code
        return conv
    conv.output = f"{node.output[0]}#conv"  # the conv's own output, before the fused addition
    conv.onnx.append(node.name or node.output[0])
    w.nodes.append(conv)
    w.producer[conv.output] = conv
    return Node("add", node.name, [conv.output, z], node.output[0], cin=conv.cout, cout=conv.cout, act=code)


def _batchnormalization(w, node, ins, data):
    c = int((w.weights.get(ins[1]) or [w.channels(data[0])])[0])
    return Node("norm", node.name, [data[0]], node.output[0], cin=c, cout=c, bn=True)


def _activation(w, node, ins, data):
    if node.op_type == "HardSigmoid" and abs(_attrs(node).get("alpha", 0.2) - 1 / 6) > 1e-6:
        w.notes.append(f"{node.name}: HardSigmoid with alpha {_attrs(node).get('alpha', 0.2):g} (torch's is 1/6) "
                       "read as hard sigmoid")
    return Node("act", node.name, [data[0]], node.output[0], act=ACTS[node.op_type])


def _clip(w, node, ins, data):
    a = _attrs(node)
    lo = w.const.get(ins[1], [None])[0] if len(ins) > 1 and ins[1] else a.get("min")
    hi = w.const.get(ins[2], [None])[0] if len(ins) > 2 and ins[2] else a.get("max")
    if lo == 0 and hi == 6:
        act = "RE6"
    elif lo == 0 and hi is None:
        act = "RE"
    else:
        w.fail(node, f"clips to [{lo}, {hi}]; only ReLU6 (0, 6) and ReLU (0, none) are activations mnetcost knows")
    return Node("act", node.name, [data[0]], node.output[0], act=act)


def _add(w, node, ins, data):
    op = node.op_type.lower()
    if len(data) == 2:
        return Node(op, node.name, data, node.output[0], cin=w.channels(data[0]), cout=w.channels(node.output[0]))
    if len(ins) != 2:
        w.fail(node, f"has {len(ins)} inputs, not two")
    other = next(i for i in ins if i not in w.data)
    size = 1
    for d in w.weights.get(other) or w.dims.get(other) or []:
        size *= d or 1
    last = w.producer.get(data[0])
    if op == "add" and last is not None and last.op == "fc" and not last.bias and size == last.cout:
        last.bias = True  # MatMul + Add: a fully connected layer's bias
    elif op == "mul" and size == 1:
        w.notes.append(f"{node.name}: a multiplication by a constant, no mult-adds and no weights")
    elif op == "mul" and size > 1 and sorted(d for d in (w.weights.get(other) or []) if d != 1) == [size]:
        return Node("scale", node.name, [data[0]], node.output[0], cin=size, cout=size)  # a layer scale
    else:
        w.fail(node, f"{'adds' if op == 'add' else 'multiplies by'} a constant of {size} values (a layer scale or "
                     "a bias that follows no fully connected layer)")
    w.alias[node.output[0]] = data[0]
    return None


def _globalaveragepool(w, node, ins, data):
    c = w.channels(data[0])
    return Node("pool", node.name, [data[0]], node.output[0], cin=c, cout=c)


def _reducemean(w, node, ins, data):
    axes = _attrs(node).get("axes") or (w.const.get(ins[1]) if len(ins) > 1 else None)
    if sorted(int(x) % 4 for x in axes or []) != [2, 3]:
        w.fail(node, f"averages over axes {axes}; only global pooling (over H and W) is a table's op")
    return _globalaveragepool(w, node, ins, data)


def _gemm(w, node, ins, data):
    a = _attrs(node)
    wd = w.weights.get(ins[1]) if len(ins) > 1 else None
    if len(data) != 1 or ins[0] != data[0] or not wd or len(wd) != 2 or a.get("transA", 0) or not all(
            isinstance(d, int) and d > 0 for d in wd):
        w.fail(node, "is not a fully connected layer (the data times a weight matrix)")
    cin, cout = (wd[1], wd[0]) if a.get("transB", 0) else (wd[0], wd[1])
    bias = len(ins) > 2 and bool(ins[2])
    return Node("fc", node.name, [data[0]], node.output[0], cin=int(cin), cout=int(cout), bias=bias)


def _matmul(w, node, ins, data):
    if len(data) == 2:
        w.fail(node, "multiplies two computed tensors (attention matmuls are not imported yet)")
    if not w.spatial_one(data[0]):
        w.fail(node, "multiplies a map that is not 1x1 by a weight (a token-wise linear layer)")
    return _gemm(w, node, ins, data)


def _concat(w, node, ins, data):
    rank = len(w.dims.get(node.output[0]) or [])
    if int(_attrs(node).get("axis", 0)) % max(rank, 1) != 1 or rank != 4 or len(data) != len(ins):
        w._to_layout(node)
        return None
    return Node("concat", node.name, data, node.output[0], cout=w.channels(node.output[0]))


def _resize(w, node, ins, data):
    sizes = ins[3] if len(ins) > 3 and ins[3] else ""
    read = w.meta.get(sizes, set()) - {data[0]}  # a size built as (N, C of the input) + another tensor's H, W
    hw = w.hw.get(sizes) or [int(v) for v in w.const.get(sizes, [])[-2:]] or None
    target = next(iter(read)) if len(read) == 1 else _same_size(w, node, hw)
    nearest = _attrs(node).get("mode", b"nearest") in (b"nearest", "nearest")
    return Node("upsample", node.name, [data[0]], node.output[0], size=target, nearest=nearest,
                cout=w.channels(data[0]))


def _same_size(w, node, hw) -> str:
    """A Resize whose target size the exporter wrote as numbers (torch traces ``low.shape[-2:]`` so): the
    image when it is the image's size, else the first data tensor of that size, said in the table's notes."""
    d = w.dims.get(node.output[0]) or []
    if (len(d) != 4 or None in d[2:]) and hw:
        d = [None, None] + hw
    if len(d) != 4 or None in d[2:]:
        w.fail(node, "resizes to a size shape inference cannot tell")
    for t in [w.image] + [n.output for n in w.nodes]:
        if w.size.get(t) == tuple(d[2:]):
            if t != w.image:
                w.notes.append(f"{node.name}: resizes to {d[2]}x{d[3]}, numbers in the file; read as the size of "
                               f"the first tensor of that size (node {w.producer[t].onnx[0]}), which follows the input")
            return t
    w.fail(node, f"resizes to {d[2]}x{d[3]} (numbers in the file), the size of no tensor before it")


def _transpose(w, node, ins, data):
    w._to_layout(node, data[0])


LAYOUT = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity"}


def _attention_step(w, node, data):
    """A node on reshaped tensors: a view (keeping its origin), a scale by a number, Q x K^T (scores), softmax,
    or probabilities x V: an attention layer reading the query's, key's and value's N x C x H x W origins."""
    op, out, src = node.op_type.replace("FusedMatMul", "MatMul"), node.output[0], data[0]  # ORT's: scaled, transposed
    if op in LAYOUT or (op in ("Mul", "Div") and len(data) == 1):
        w._to_layout(node, w.origin.get(src))
        if src in w.scores:
            w.scores[out] = w.scores[src]
    elif op == "Softmax" and src in w.scores:
        w._to_layout(node, None)
        w.scores[out] = w.scores[src] + ("softmax",)
    elif op == "MatMul" and len(data) == 2 and src in w.scores and len(w.scores[src]) == 3:
        q, k, _ = w.scores[src]
        n = _attention(w, node, q, k, w.origin.get(data[1]))
        w._to_layout(node, n.output)
    elif op == "MatMul" and len(data) == 2 and all(w.origin.get(d) for d in data):
        w._to_layout(node, None)
        w.scores[out] = (w.origin[data[0]], w.origin[data[1]])
    elif op == "Concat":
        w._to_layout(node, None)
    else:
        w.fail(node, "reads a tensor reshaped out of N x C x H x W in a way mnetcost cannot follow (it follows "
                     "views, Q x K^T, softmax and x V: attention; and a head's output layout)")


def _attention(w, node, q, k, v) -> Node:
    """heads x N_q x N_kv x (d_k + d_v) mult-adds: the query's, key's and value's widths give the heads."""
    pq, pk, pv = (w.producer.get(t) for t in (q, k, v))
    if None in (pq, pk, pv) or not (pk.cout and pv.cout) or pq.cout % pk.cout or not w.size.get(q):
        w.fail(node, "is an attention whose query, key and value are not projections mnetcost can read")
    heads = pq.cout // pk.cout
    n = Node("attn", node.name, [q, k, v], f"{node.output[0]}#attention", cin=pq.cin, cout=heads * pv.cout,
             onnx=[node.name or node.output[0]])
    n.args = {"heads": heads, "key_dim": pk.cout, "value_dim": pv.cout}
    w.nodes.append(n)
    w.producer[n.output] = n
    w.data.add(n.output)
    w.size[n.output] = w.size[q]
    w.attended.add(n.output)
    return n


def _view(w, node, ins, data):
    """Identity and Dropout are their input; flattening or reshaping a 1x1 map keeps its channels."""
    if node.op_type in ("Identity", "Dropout") or w.spatial_one(data[0]):
        w.alias[node.output[0]] = data[0]
        return None
    w._to_layout(node, data[0])
    return None


HANDLERS = {"Conv": _conv, "BatchNormalization": _batchnormalization, "Clip": _clip, "Add": _add, "Mul": _add,
            "GlobalAveragePool": _globalaveragepool, "ReduceMean": _reducemean, "Gemm": _gemm, "MatMul": _matmul,
            "Concat": _concat, "Resize": _resize, "Transpose": _transpose, "FusedConv": _fusedconv}


def fuse(nodes: list, outputs: list) -> list:
    """Fold each BatchNorm into the convolution it follows, Mul(x, Sigmoid(x)) into a SiLU (and
    Mul(x, HardSigmoid(x)) into a hard swish), and each activation into the layer it follows, where that
    layer's output has no other reader."""
    readers = _readers(nodes, outputs)
    by_out = {n.output: n for n in nodes}
    for n in nodes:
        if n.op == "mul" and len(n.inputs) == 2:
            for x, g in (n.inputs, n.inputs[::-1]):
                gate = by_out.get(g)
                if gate and gate.op == "act" and gate.act in ("SIG", "HSIG") and gate.inputs == [x] and readers[g] == 1:
                    n.op, n.act, n.inputs = "act", "SW" if gate.act == "SIG" else "HS", [x]
                    n.onnx = gate.onnx + n.onnx
                    gate.op = "gone"
                    break
    nodes, renamed = [n for n in nodes if n.op != "gone"], {}
    for kinds, take in (({"norm"}, ("conv", "pw", "dw", "gconv")),
                        ({"act"}, ("conv", "pw", "dw", "gconv", "fc", "norm", "add", "mul"))):
        by_out, readers, kept = {n.output: n for n in nodes}, _readers(nodes, outputs), []
        for n in nodes:
            last = by_out.get(n.inputs[0]) if n.inputs else None
            if n.op in kinds and last is not None and last.op in take and readers[last.output] == 1 and not last.act \
                    and not (n.op == "norm" and last.bn):
                last.bn, last.act = last.bn or n.op == "norm", n.act
                renamed[last.output] = n.output
                last.output, last.onnx = n.output, last.onnx + n.onnx
                by_out[n.output] = last
                continue
            kept.append(n)
        nodes = kept
    for n in nodes:  # an upsampling takes the size of a tensor whose layer took on its activation
        while n.size in renamed:
            n.size = renamed[n.size]
    return nodes


def _readers(nodes, outputs) -> dict:
    from collections import Counter

    count = Counter(i for n in nodes for i in n.inputs)
    count.update(outputs)
    return count
