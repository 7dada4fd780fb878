"""Start-up: typer (0.29+) checks every option value with a pydantic TypeAdapter built per parameter, which
imports pydantic (~50 ms) and builds a schema for each (~1 ms): longer than computing a table. mnetcost's
options are all text, flags, choices or values with a parser of their own, so they are coerced here, the
way typer does (the same values, the same error messages: tests/test_views.py compares both paths). Any
other parameter, or a typer without this hook, keeps typer's own coercion."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import typer

try:
    from typer._coercion import RuntimeParam
except ImportError:  # another typer: its own coercion throughout
    RuntimeParam = None

ENABLED = True  # tests switch it off to compare with typer's own coercion


def _choice(value, annotation, param, ctx):
    if isinstance(value, annotation):
        return value
    for choice in annotation:
        if choice.value == value:
            return choice
    names = ", ".join(repr(c.value) for c in annotation)
    raise typer.BadParameter(f"Value error, {value!r} is not one of {names}.", ctx=ctx, param=param)


def _one(runtime, value, param, ctx):
    info, annotation = runtime.parameter_info, runtime.annotation
    if info.parser is not None:
        return info.parser(value)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return _choice(value, annotation, param, ctx)
    if annotation is bool and isinstance(value, bool):
        return value
    return str(value)

if RuntimeParam is not None:
    @dataclass(frozen=True)
    class Plain(RuntimeParam):
        """Coercion without pydantic, for text, flags, choices and parsed values."""

        def _coerce_value(self, value, param, ctx):
            if param.multiple or param.nargs == -1:
                return [_one(self, v, param, ctx) for v in value]
            return _one(self, value, param, ctx)


def _plain(param) -> bool:
    info = param.type_descriptor.parameter_info
    annotation = param.type_descriptor.annotation
    inner = getattr(annotation, "__args__", (None,))[0] if getattr(annotation, "__origin__", None) is list else None
    kinds = (str, bool)
    return (info.parser is not None or annotation in kinds or inner in kinds
            or (isinstance(annotation, type) and issubclass(annotation, Enum)))


def _plain_params(params) -> None:
    for param in params:
        if getattr(param, "_runtime_param", False) is None and _plain(param):
            d = param.type_descriptor
            param._runtime_param = Plain(parameter_info=d.parameter_info, annotation=d.annotation)


def _plain_help(cmd) -> None:
    """click makes each context's --help option anew: coerce it here too."""
    make = cmd.get_help_option

    def get_help_option(ctx):
        option = make(ctx)
        if option is not None:
            _plain_params([option])
        return option

    cmd.get_help_option = get_help_option


def command(app):
    """The click command of ``app`` (built for each run, as typer does), its parameters coerced without pydantic
    where they can be."""
    from ..terminal import tidy_help

    group = typer.main.get_command(app)
    tidy_help(group)
    if ENABLED and RuntimeParam is not None:
        for cmd in [group, *getattr(group, "commands", {}).values()]:
            _plain_params(cmd.params)
            _plain_help(cmd)
    return group
