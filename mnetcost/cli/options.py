"""The CLI's options, each defined once as an ``Annotated`` type; the choices and defaults come from
``mnetcost.vocab`` (the library's own definitions), never retyped here."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, List, Optional

import typer

from .. import vocab


def choices(name: str, values) -> type:
    """A str Enum of the library's names, for typer's choice checking and --help."""
    return Enum(name, {v.replace("-", "_"): v for v in values}, type=str)


Format = choices("Format", vocab.FORMATS)
Spatial = choices("Spatial", vocab.SPATIAL)
Unit = choices("Unit", vocab.UNITS)
By = choices("By", vocab.BREAKDOWNS)
Dtype = choices("Dtype", vocab.DTYPES)
TrainDtype = choices("TrainDtype", vocab.TRAIN_DTYPES)
Schedule = choices("Schedule", vocab.SCHEDULES)
Optimizer = choices("Optimizer", vocab.OPTIMIZERS)
Form = choices("Form", vocab.FORMS)
Holdout = choices("Holdout", vocab.HOLDOUTS)


def number(text) -> float:
    try:
        return float(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a number") from None


def whole(text) -> int:
    try:
        return int(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a whole number") from None


def resolution(text):
    """PX, or HxW for a non-square input."""
    parts = str(text).lower().split("x")
    return f"{whole(parts[0])}x{whole(parts[1])}" if len(parts) == 2 else whole(text)


def complete_models(incomplete: str):
    from ..tables import model_names

    return [m for m in model_names() if m.startswith(incomplete)]


def complete_conventions(incomplete: str):
    from ..conventions import convention_names

    return [c for c in convention_names() if c.startswith(incomplete)]


def opt(*names, **kw):
    return typer.Option(*names, **kw)


MODEL_HELP = "A shipped table (v1, v2, v3-large, ...; see 'mnetcost models') or a path to a CSV table."
Model = Annotated[str, typer.Argument(metavar="MODEL", autocompletion=complete_models, help=MODEL_HELP)]
Alpha = Annotated[float, opt("--alpha", "-a", parser=number, metavar="FLOAT", help="Width multiplier alpha (> 0).")]
Rho = Annotated[Optional[float], opt("--rho", parser=number, metavar="FLOAT",
                                     help="Resolution multiplier rho (input = rho x 224).")]
Resolution = Annotated[Optional[str], opt("--resolution", "-r", parser=resolution, metavar="PX",
                                          help="Input resolution in pixels, or HxW (e.g. 1024x2048); instead of --rho.")]
CONVENTION_HELP = ("Counting convention: paper, torchvision, keras, tf-slim, timm, timm-fused, or a FLOP counter's "
                   "(ptflops, ptflops-aten, fvcore, thop, torchinfo); 'mnetcost conventions' lists them.")
Convention = Annotated[str, opt("--convention", "-c", metavar="NAME", autocompletion=complete_conventions,
                                help=CONVENTION_HELP)]
TorchConvention = Annotated[str, opt("--convention", "-c", metavar="NAME", autocompletion=complete_conventions,
                                     help="Counting convention (default torchvision: PyTorch's modules and counter).")]
Conventions = Annotated[str, opt("--convention", "-c", metavar="LIST", autocompletion=complete_conventions,
                                 help="Conventions: paper,torchvision,keras,tf-slim.")]
Classes = Annotated[Optional[int], opt("--classes", "-k", parser=whole, metavar="K",
                                       help="Classifier classes (default: the convention's).")]
SpatialOpt = Annotated[Spatial, opt("--spatial", help="exact: whole-pixel SAME sizes; continuous: rho x D_F as a real number.")]
Fmt = Annotated[Format, opt("--format", "-f", help="table (rich), csv, json or markdown (machine formats: data only).")]
UnitOpt = Annotated[Unit, opt("--unit", "-u", help="Show counts as MACs (multiply-adds) or FLOPs (2 x MACs).")]
NoTop = Annotated[bool, opt("--no-top", help="The base network only, without the classifier top (Keras' include_top=False).")]
Head = Annotated[Optional[str], opt("--head", metavar="WIDTHS", help="Replace the top: global pooling, dense layers of "
                                    "these widths with ReLU, the classifier (e.g. 320,320).")]
Aux = Annotated[bool, opt("--aux", help="Include the rows of the auxiliary head (DeepLabV3's FCN head on bneck4).")]
ReducedTail = Annotated[bool, opt("--reduced-tail", help="Halve the last stage's widths as the table's reduced-tail "
                                                         "line says (V3's RF2 / dagger).")]
Set = Annotated[Optional[List[str]], opt("--set", metavar="NAME=WIDTH", help="Set a table param (a '# param:' line), "
                                         "e.g. --set f=256 for a head's filters; repeatable.")]
Device = Annotated[Optional[str], opt("--device", "-d", metavar="NAME", help="A device profile: a shipped one "
                                      "('mnetcost devices' lists them), or one in --device-file.")]
DeviceFile = Annotated[Optional[str], opt("--device-file", metavar="FILE",
                                          help="A CSV of device profiles, e.g. written by 'mnetcost calibrate -o FILE'.")]
ALPHA_LIST = opt("--alpha", "-a", metavar="LIST", help="Width multipliers: 0.5,0.75,1.0 or START:STOP:STEP.")
RESOLUTION_LIST = opt("--resolution", "-r", metavar="LIST", help="Resolutions in pixels: 128,160,224 or START:STOP:STEP.")
AlphaList, ResolutionList = Annotated[str, ALPHA_LIST], Annotated[str, RESOLUTION_LIST]
MaxMacs = Annotated[Optional[str], opt("--max-macs", metavar="N", help="At most this many MACs, e.g. 150M.")]
MaxParams = Annotated[Optional[str], opt("--max-params", metavar="N", help="At most this many parameters, e.g. 2M.")]
MaxPeak = Annotated[Optional[str], opt("--max-peak-memory", metavar="BYTES",
                                       help="At most this many bytes of activations at the peak, e.g. 512K (K = 1000).")]
MaxLatency = Annotated[Optional[str], opt("--max-latency", metavar="TIME",
                                          help="At most this latency on --device, e.g. 20ms (a bare number is ms).")]
ScheduleOpt = Annotated[Schedule, opt("--schedule", help="materialized (V2 paper: only tensors between blocks) or "
                                                         "layerwise (a plain executor).")]
All = Annotated[bool, opt("--all", help="Every row, not only those shown by default (the best, the changed).")]
Output = Annotated[Optional[str], opt("--output", "-o", metavar="FILE", help="Write to this file as well.")]


def variant(no_top=False, head=None, aux=False, reduced_tail=False, set_=None) -> dict:
    """The options that change a table's rows, as the library's keywords."""
    from .. import parsing

    return {"top": not no_top, "head": parsing.head(head), "aux": aux, "reduced_tail": reduced_tail,
            "symbols": parsing.symbols(set_)}
