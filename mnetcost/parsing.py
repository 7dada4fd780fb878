"""Command-line text into the library's values: lists and ranges, A,B pairs, names, table params, head
widths, freeze points and budgets. Each problem is a UsageError that names the option. Imports nothing
heavy until a value needs it."""

from __future__ import annotations

from .errors import UsageError


def values(text, name: str, kind=float):
    """'0.5,0.75,1.0' or 'START:STOP:STEP' into numbers (None stays None)."""
    from .explore import parse_values

    return None if text is None else parse_values(text, name, kind)


def names(text: str, name: str) -> list[str]:
    """'paper,torchvision' into names; an empty one is an error."""
    out = [part.strip() for part in str(text).split(",")]
    if not all(out):
        raise UsageError(f"{name}: empty name in {text!r}")
    return out


def symbols(items):
    """['f=256'] -> {'f': 256} (None without any)."""
    if not items:
        return None
    out = {}
    for item in items:
        key, sep, value = (t.strip() for t in item.partition("="))
        if not sep or not key or not value.isascii() or not value.isdigit():
            raise UsageError(f"--set: expected NAME=WIDTH, got {item!r}")
        out[key] = int(value)
    return out


def head(text):
    """'320,320' -> (320, 320)."""
    return None if text is None else tuple(values(text, "--head", int))


def switches(aux=False, reduced_tail=False, set_=None, **top) -> dict:
    """The options that change a table's rows (--aux, --reduced-tail, --set, and --no-top and --head where a command
    has them), as the library's keywords."""
    variant = {"top": not top["no_top"], "head": head(top["head"])} if top else {}
    return {**variant, "aux": aux, "reduced_tail": reduced_tail, "symbols": symbols(set_)}


def freeze(text):
    """'backbone', a number of blocks, or None."""
    if text is None or text == "backbone":
        return text
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--freeze takes 'backbone' or a number of blocks, got {text!r}") from None


def pair(text, name: str, kind=float, default=None) -> tuple:
    """'X' (both sides) or 'X,Y' (A and B)."""
    if text is None:
        return (default, default)
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) > 2 or not all(parts) or any(":" in p for p in parts):  # a range is not a pair
        raise UsageError(f"{name}: one value for both sides or two separated by a comma (diff compares two "
                         f"configurations), got {text!r}")
    if kind is str:
        return (parts[0], parts[-1])
    found = values(",".join(parts), name, kind)
    return (found[0], found[-1])


def _bounded(value: float, text, name: str) -> float:
    if not value < 1e300:  # what the budget solvers accept
        raise UsageError(f"{name} must be a positive number below 1e300, got {text!r:.40}")
    return value


def budget(text, name: str):
    """A count or byte budget: '150M', '2e6', '512K' (None stays None)."""
    from .latency import parse_rate

    return None if text is None else _bounded(parse_rate(text, name), text, name)


def duration(text, name: str):
    """Seconds from '20ms', '0.5s' or a bare number of milliseconds (None stays None)."""
    from .latency import parse_duration

    return None if text is None else _bounded(parse_duration(text, name), text, name)


def require_one(name_values: dict, message: str) -> None:
    """At least one of these options given."""
    if all(v is None for v in name_values.values()):
        raise UsageError(message)


def exclusive(name_values: dict) -> None:
    """At most one of these options given."""
    given = [k for k, v in name_values.items() if v is not None]
    if len(given) > 1:
        raise UsageError(f"give {' or '.join(name_values)}, not both")


BUDGETS = {"max_macs": ("--max-macs", budget, "max_macs"), "max_params": ("--max-params", budget, "max_params"),
           "max_peak_memory": ("--max-peak-memory", budget, "max_peak_bytes"),
           "max_latency": ("--max-latency", duration, "max_latency")}


def budgets(required: bool = False, **texts) -> dict:
    """The budget options' texts (parsed in the order given) as the library's keywords (max_peak_bytes, seconds);
    ``required``: at least one given."""
    names = [BUDGETS[option][0] for option in texts]
    if required:
        require_one(texts, f"give a budget: {', '.join(names[:-1])} and/or {names[-1]}")
    out = {}
    for option, text in texts.items():
        name, parse, keyword = BUDGETS[option]
        out[keyword] = parse(text, name)
    return out
