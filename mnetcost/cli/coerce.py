"""Start-up: typer (0.29+) checks every option value with a pydantic TypeAdapter built per parameter (~50 ms to
import pydantic, ~1 ms a parameter). mnetcost's options are text, flags, choices or values with a parser of their
own, so they are coerced here as typer does (the same values and errors: tests/test_views.py compares both paths).
Any other parameter, or a typer without this hook, keeps typer's own coercion."""

from dataclasses import dataclass
from enum import Enum

import typer

try:
    from typer._coercion import RuntimeParam
except ImportError:  # another typer: its own coercion throughout
    RuntimeParam = object

ENABLED = True  # tests switch it off to compare with typer's own coercion


def _one(runtime, value, param, ctx):
    info, annotation = runtime.parameter_info, runtime.annotation
    if info.parser is not None:
        return info.parser(value)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        if isinstance(value, annotation):
            return value
        for choice in annotation:
            if choice.value == value:
                return choice
        names = ", ".join(repr(c.value) for c in annotation)
        raise typer.BadParameter(f"Value error, {value!r} is not one of {names}.", ctx=ctx, param=param)
    return value if annotation is bool and isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class Plain(RuntimeParam):
    """Coercion without pydantic, for text, flags, choices and parsed values."""

    def _coerce_value(self, value, param, ctx):
        if param.multiple or param.nargs == -1:
            return [_one(self, v, param, ctx) for v in value]
        return _one(self, value, param, ctx)


def _plain_params(params) -> None:
    for param in params:
        d = getattr(param, "type_descriptor", None)
        a = d and d.annotation
        inner = a.__args__[0] if getattr(a, "__origin__", None) is list else None
        if getattr(param, "_runtime_param", False) is None and (d.parameter_info.parser is not None or a in (
                str, bool) or inner in (str, bool) or (isinstance(a, type) and issubclass(a, Enum))):
            param._runtime_param = Plain(parameter_info=d.parameter_info, annotation=a)


def _plain_help(cmd) -> None:
    """click makes each context's --help option anew: coerce it here too."""
    make = cmd.get_help_option

    def get_help_option(ctx):
        option = make(ctx)
        if option is not None:
            _plain_params([option])
        return option

    cmd.get_help_option = get_help_option


def command(app, argv=()):
    """The click command of ``app`` (built for each run, as typer does), its parameters coerced without pydantic
    where they can be; of its commands only the one ``argv`` names, if it names one (typer builds every option of
    every command it is given: 12 ms for all of them, 1 ms for one)."""
    from copy import copy

    from ..terminal import tidy_help

    name = next((word for word in argv if not word.startswith("-")), None)  # the first word that is no option
    named = [c for c in app.registered_commands if c.name == name]
    if named:
        app = copy(app)
        app.registered_commands = named
    group = typer.main.get_command(app)
    tidy_help(group)
    if ENABLED and RuntimeParam is not object:
        for cmd in [group, *getattr(group, "commands", {}).values()]:
            _plain_params(cmd.params)
            _plain_help(cmd)
    return group
