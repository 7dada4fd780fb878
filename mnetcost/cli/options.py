"""The CLI's options, each defined once as an ``Annotated`` type, and the groups several commands share;
choices and defaults come from ``mnetcost.vocab``, help texts from ``help.toml`` (never retyped here)."""

import functools
import inspect
import sys
from collections import namedtuple
from enum import Enum
from importlib import import_module
from pathlib import Path
from typing import Annotated, List, Optional

import typer

from .. import parsing, vocab

TOML = import_module("tomllib" if sys.version_info >= (3, 11) else "tomli")  # tomli: Python 3.10's tomllib
HELP = TOML.loads(Path(__file__).with_name("help.toml").read_text(encoding="utf-8"))


def choices(name: str, values) -> type:
    """A str Enum of the library's names, for typer's choice checking and --help."""
    return Enum(name, {v.replace("-", "_"): v for v in values}, type=str)


Format, Spatial, Unit, By, Dtype, TrainDtype, Schedule, Optimizer, Form, Holdout = (
    choices(n, getattr(vocab, v)) for n, v in (
    ("Format", "FORMATS"), ("Spatial", "SPATIAL"), ("Unit", "UNITS"), ("By", "BREAKDOWNS"), ("Dtype", "DTYPES"),
    ("TrainDtype", "TRAIN_DTYPES"), ("Schedule", "SCHEDULES"), ("Optimizer", "OPTIMIZERS"), ("Form", "FORMS"),
    ("Holdout", "HOLDOUTS")))


def _parser(kind, what):
    def parse(text):
        try:
            return kind(text)
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not {what}") from None
    return parse


number, whole = _parser(float, "a number"), _parser(int, "a whole number")


def resolution(text):
    """PX, or HxW for a non-square input."""
    parts = str(text).lower().split("x")
    return f"{whole(parts[0])}x{whole(parts[1])}" if len(parts) == 2 else whole(text)


def _completion(module: str, names: str):
    def complete(incomplete: str):
        return [n for n in getattr(import_module(f"mnetcost.{module}"), names)() if n.startswith(incomplete)]
    return complete


complete_models, complete_conventions = _completion("tables", "model_names"), _completion("conventions",
                                                                                          "convention_names")


def O(decls: str, kind=Optional[str], metavar=None, key=None, **kw):  # noqa: E743
    """An option: its names separated by '/', its type (default: optional text), its help (help.toml's entry
    ``key``, by default its long name)."""
    help = HELP["options"][key or decls.split("/")[0].lstrip("-")]
    return Annotated[kind, typer.Option(*decls.split("/"), metavar=metavar, help=help, **kw)]


def A(metavar: str, key: str, kind=str):
    """A positional argument naming tables."""
    return Annotated[kind, typer.Argument(metavar=metavar, autocompletion=complete_models, help=HELP["options"][key])]


def C(metavar: str, key="convention", kind=str):
    """A --convention option."""
    return O("--convention/-c", kind, metavar, key, autocompletion=complete_conventions)


Flag = functools.partial(O, kind=bool)
Number, Whole = (functools.partial(O, parser=p) for p in (number, whole))
Model, Convention = A("MODEL", "model"), C("NAME")
Alpha, Rho = Number("--alpha/-a", float, "FLOAT"), Number("--rho", Optional[float], "FLOAT")
Resolution = O("--resolution/-r", metavar="PX", parser=resolution)
Classes = Whole("--classes/-k", Optional[int], "K")
SpatialOpt, Fmt, UnitOpt = O("--spatial", Spatial), O("--format/-f", Format), O("--unit/-u", Unit)
NoTop, Aux, ReducedTail = Flag("--no-top"), Flag("--aux"), Flag("--reduced-tail")
Head, Set = O("--head", metavar="WIDTHS"), O("--set", Optional[List[str]], "NAME=WIDTH")
Device, DeviceFile = O("--device/-d", metavar="NAME"), O("--device-file", metavar="FILE")
AlphaList, ResolutionList = O("--alpha/-a", str, "LIST", "alphas"), O("--resolution/-r", str, "LIST", "resolutions")
MaxMacs, MaxParams = O("--max-macs", metavar="N"), O("--max-params", metavar="N")
MaxPeak, MaxLatency = O("--max-peak-memory", metavar="BYTES"), O("--max-latency", metavar="TIME")
ScheduleOpt = O("--schedule", Schedule)
F, U = Format.table, Unit.macs


# Options that several commands share ({name: (option, default)}), given to a command as one dict of the library's
# keywords (``build``).
Group = namedtuple("Group", "options build", defaults=(dict,))


CONFIG = {"model": (Model, inspect.Parameter.empty), "alpha": (Alpha, 1.0), "rho": (Rho, None), "resolution": (
    Resolution, None), "convention": (Convention, vocab.DEFAULT_CONVENTION), "classes": (Classes, None)}
Config = Group(CONFIG)
TorchConfig = Group({**CONFIG, "convention": (C("NAME", "torch-convention"), vocab.TORCH_CONVENTION)})
VerifyConfig = Group({**CONFIG, "convention": (C("NAME", "verify-convention"), vocab.TORCH_CONVENTION)})
SWITCHES = {"aux": (Aux, False), "reduced_tail": (ReducedTail, False), "set_": (Set, None)}
Switches = Group(SWITCHES, lambda kw: parsing.switches(**kw))
Variant = Group({"no_top": (NoTop, False), "head": (Head, None), **SWITCHES}, lambda kw: parsing.switches(**kw))
ReportGrid = Group({"device": (Device, None), "device_file": (DeviceFile, None), "alphas": (O(  # report's sliders
    "--alpha-range", metavar="A:B:STEP"), None), "resolutions": (O("--resolution-range", metavar="A:B:STEP"), None),
    "conventions": (O("--conventions", metavar="LIST"), None)})


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
