"""The CLI's options, each defined once as an ``Annotated`` type, and the groups several commands share;
choices and defaults come from ``mnetcost.vocab`` (the library's own definitions), never retyped here."""

import functools
import inspect
from enum import Enum
from typing import Annotated, List, Optional

import typer

from .. import vocab

EMPTY = inspect.Parameter.empty


def choices(name: str, values) -> type:
    """A str Enum of the library's names, for typer's choice checking and --help."""
    return Enum(name, {v.replace("-", "_"): v for v in values}, type=str)


Format, Spatial, Unit, By = (choices(n, v) for n, v in (("Format", vocab.FORMATS), ("Spatial", vocab.SPATIAL),
                                                        ("Unit", vocab.UNITS), ("By", vocab.BREAKDOWNS)))
Dtype, TrainDtype, Schedule = (choices(n, v) for n, v in (("Dtype", vocab.DTYPES), ("TrainDtype", vocab.TRAIN_DTYPES),
                                                          ("Schedule", vocab.SCHEDULES)))
Optimizer, Form, Holdout = (choices(n, v) for n, v in (("Optimizer", vocab.OPTIMIZERS), ("Form", vocab.FORMS),
                                                       ("Holdout", vocab.HOLDOUTS)))


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


def O(decls: str, help: str, kind=Optional[str], metavar=None, **kw):  # noqa: E743
    """An option: its names separated by '/', its help, its type (default: optional text)."""
    return Annotated[kind, typer.Option(*decls.split("/"), metavar=metavar, help=help, **kw)]


def A(metavar: str, help: str, kind=str):
    """A positional argument naming tables."""
    return Annotated[kind, typer.Argument(metavar=metavar, autocompletion=complete_models, help=help)]


def C(metavar: str, help: str, kind=str):
    """A --convention option."""
    return O("--convention/-c", help, kind, metavar, autocompletion=complete_conventions)


Model = A("MODEL", "A shipped table (v1, v2, v3-large, ...; see 'mnetcost models') or a path to a CSV table.")
Alpha = O("--alpha/-a", "Width multiplier alpha (> 0).", float, "FLOAT", parser=number)
Rho = O("--rho", "Resolution multiplier rho (input = rho x 224).", Optional[float], "FLOAT", parser=number)
Resolution = O("--resolution/-r", "Input resolution in pixels, or HxW (e.g. 1024x2048); instead of --rho.",
               metavar="PX", parser=resolution)
Convention = C("NAME", "Counting convention: paper, torchvision, keras, tf-slim, timm, timm-fused, or a FLOP "
               "counter's (ptflops, ptflops-aten, fvcore, thop, torchinfo); 'mnetcost conventions' lists them.")
Classes = O("--classes/-k", "Classifier classes (default: the convention's).", Optional[int], "K", parser=whole)
SpatialOpt = O("--spatial", "exact: whole-pixel SAME sizes; continuous: rho x D_F as a real number.", Spatial)
Fmt = O("--format/-f", "table (rich), csv, json or markdown (machine formats: data only).", Format)
UnitOpt = O("--unit/-u", "Show counts as MACs (multiply-adds) or FLOPs (2 x MACs).", Unit)
Flag = functools.partial(O, kind=bool)
NoTop = Flag("--no-top", "The base network only, without the classifier top (Keras' include_top=False).")
Head = O("--head", "Replace the top: global pooling, dense layers of these widths with ReLU, the classifier (e.g. "
         "320,320).", metavar="WIDTHS")
Aux = Flag("--aux", "Include the rows of the auxiliary head (DeepLabV3's FCN head on bneck4).")
ReducedTail = Flag("--reduced-tail", "Halve the last stage's widths as the table's reduced-tail line says (V3's RF2 / "
                   "dagger).")
Set = O("--set", "Set a table param (a '# param:' line), e.g. --set f=256 for a head's filters; repeatable.",
        Optional[List[str]], "NAME=WIDTH")
Device = O("--device/-d", "A device profile: a shipped one ('mnetcost devices' lists them), or one in --device-file.",
           metavar="NAME")
DeviceFile = O("--device-file", "A CSV of device profiles, e.g. written by 'mnetcost calibrate -o FILE'.", metavar="FILE")
ALPHA_HELP, RESOLUTION_HELP = "Width multipliers: 0.5,0.75,1.0 or START:STOP:STEP.", "Resolutions in pixels: " \
    "128,160,224 or START:STOP:STEP."
AlphaList, ResolutionList = O("--alpha/-a", ALPHA_HELP, str, "LIST"), O("--resolution/-r", RESOLUTION_HELP, str, "LIST")
MaxMacs = O("--max-macs", "At most this many MACs, e.g. 150M.", metavar="N")
MaxParams = O("--max-params", "At most this many parameters, e.g. 2M.", metavar="N")
MaxPeak = O("--max-peak-memory", "At most this many bytes of activations at the peak, e.g. 512K (K = 1000).",
            metavar="BYTES")
MaxLatency = O("--max-latency", "At most this latency on --device, e.g. 20ms (a bare number is ms).", metavar="TIME")
ScheduleOpt = O("--schedule", "materialized (V2 paper: only tensors between blocks) or layerwise (a plain executor).",
                Schedule)


def variant(no_top=False, head=None, aux=False, reduced_tail=False, set_=None) -> dict:
    """The options that change a table's rows, as the library's keywords."""
    from .. import parsing

    return {"top": not no_top, "head": parsing.head(head), "aux": aux, "reduced_tail": reduced_tail,
            "symbols": parsing.symbols(set_)}


class Group:
    """Options that several commands share, given to a command as one dict of the library's keywords."""

    def __init__(self, options: dict, build=dict):
        self.options, self.build = options, build


CONFIG = {"model": (Model, EMPTY), "alpha": (Alpha, 1.0), "rho": (Rho, None), "resolution": (Resolution, None),
          "convention": (Convention, vocab.DEFAULT_CONVENTION), "classes": (Classes, None)}
Config = Group(CONFIG)
TorchConfig = Group({**CONFIG, "convention": (C("NAME", "Counting convention (default torchvision: PyTorch's modules "
                                                "and counter)."), vocab.TORCH_CONVENTION)})
VerifyConfig = Group({**CONFIG, "convention": (C("NAME", "A convention with a PyTorch meaning: torchvision, paper, "
                                                 "keras, tf-slim (V2/V3), the counters."), vocab.TORCH_CONVENTION)})
Variant = Group({"no_top": (NoTop, False), "head": (Head, None), "aux": (Aux, False),
                 "reduced_tail": (ReducedTail, False), "set_": (Set, None)}, lambda kw: variant(**kw))


def grouped(fn):
    """A command whose parameters annotated with a Group stand for the group's options (in its place in --help);
    the command receives each group's values as one dict."""
    params, groups = [], {}
    for p in inspect.signature(fn).parameters.values():
        if isinstance(p.annotation, Group):
            groups[p.name] = p.annotation
            params += [inspect.Parameter(n, p.POSITIONAL_OR_KEYWORD, annotation=a, default=d)
                       for n, (a, d) in p.annotation.options.items()]
        else:
            params.append(p)

    @functools.wraps(fn)
    def command(**kw):
        values = {name: g.build({n: kw.pop(n) for n in g.options}) for name, g in groups.items()}
        return fn(**kw, **values)

    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    return command
