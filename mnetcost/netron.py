"""Costs on the graph: a Netron attachment (``mnetcost import MODEL.onnx --netron FILE.json``).

Netron (8.6.1 and later) opens a JSON side-car file whose ``signature`` is ``netron:attachment`` and shows
its ``metrics`` entries in the properties of the nodes they name: each entry is ``{"kind": "node",
"target": NODE_NAME, "name": ..., "value": ...}`` (read from Netron's source, ``metadata.Attachment`` in
source/view.js: the ``metrics`` list, keyed by kind and target, ``target`` being the node's name).

Each layer of the imported table puts its numbers on the file's node it came from (the convolution or
matrix product that carries the weights; a block's squeeze-excite on its pooling node): ``macs``,
``params``, ``output_bytes`` (its output elements × the dtype's bytes), and with a device the roofline's
``time_us`` and ``bound``.
"""

from __future__ import annotations

import json

SIGNATURE = "netron:attachment"
BYTES = {"float32": 4, "float16": 2, "int8": 1}


def attachment(imported, layers, timing=None, dtype: str = "float32") -> dict:
    """The attachment of an import's costed ``layers`` (``Cost.layers``), and ``timing`` (a Roofline's layers)."""
    times = {} if timing is None else {r.name: (r.time_s, r.bound) for r in timing.itertuples()}
    metrics = []
    for row in layers.itertuples():
        found = imported.layers.get(row.name)
        if found is None:
            continue
        target = found[1][0]
        values = [("macs", int(row.macs)), ("params", int(row.params)),
                  ("output_bytes", int(row.activations) * BYTES[dtype])]
        if row.name in times:
            values += [("time_us", round(float(times[row.name][0]) * 1e6, 3)), ("bound", str(times[row.name][1]))]
        metrics += [{"kind": "node", "target": target, "name": k, "value": v} for k, v in values]
    return {"signature": SIGNATURE, "metrics": metrics}


def write(path, data: dict):
    from .errors import EnvironmentProblem

    try:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
    except OSError as e:
        raise EnvironmentProblem(f"cannot write {path}: {e.strerror or e}") from None
