"""A property-based fuzz of the CLI itself, run in-process: hypothesis draws argument vectors (every command but
verify, hostile option values, shipped and generated tables) and every outcome must be a result with valid,
sane numbers or `mnetcost: error:` lines with a documented exit code, within a time bound.

CI runs MNETCOST_FUZZ_EXAMPLES (default 150) examples per test; a long run on demand:
MNETCOST_FUZZ_EXAMPLES=3000 pytest tests/test_fuzz_cli.py (see benchmarks/README.md for the last one)."""

import contextlib
import csv
import io
import json
import os
import signal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mnetcost
from mnetcost.cli import main

EXAMPLES = int(os.environ.get("MNETCOST_FUZZ_EXAMPLES", "150"))
SECONDS = 30  # one command, at most (a busy CI machine is 2-3x slower than a developer's)
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("MNETCOST_FUZZ_RANDOM"),
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

NUMBERS = ["0", "-1", "1", "0.5", "0.35", "1.4", "3", "7", "97", "160", "224", "1e-300", "1e300", "1e400", "nan", "inf",
           "-inf", "2147483649", "9223372036854775808", "9" * 60, "0x10", "", " ", "1,2", "0.5,1", "1:2:0.5", "96:224:32",
           "224x320", "1e3", "[/]", "=1", "a", "²", "１"]
MODELS = ["v1", "v2", "v3-small", "v4-hybrid-medium", "lraspp-v3-large", "ssdlite-v2", "mobilenet_v2", "V2", "nosuch",
          "nosuch.csv", "/", "~nosuchuser/x.csv", "a" * 300]
CONVENTIONS = ["paper", "torchvision", "keras", "tf-slim", "timm", "timm-fused", "fvcore", "nope", "paper,torchvision"]
COMMANDS = {
    "table": ["--alpha", "--rho", "--resolution", "--convention", "--classes", "--head", "--by", "--unit", "--no-top",
              "--spatial", "--set", "--aux", "--reduced-tail"],
    "compare": ["--alpha", "--resolution", "--convention", "--classes"],
    "diff": ["--alpha", "--resolution", "--convention", "--by"],
    "sweep": ["--alpha", "--resolution", "--convention", "--classes", "--spatial"],
    "fit": ["--max-macs", "--max-params", "--max-peak-memory", "--alpha", "--resolution", "--dtype", "--schedule",
            "--max-latency", "--device"],
    "memory": ["--alpha", "--resolution", "--dtype", "--schedule", "--convention", "--head"],
    "roofline": ["--device", "--peak-macs", "--bandwidth", "--alpha", "--resolution", "--dtype"],
    "train": ["--freeze", "--batch", "--head", "--classes", "--optimizer", "--alpha", "--resolution", "--by"],
    "ratio": ["--kernel", "--in", "--out", "--size", "--alpha", "--rho", "--spatial"],
    "models": ["--unit"], "reference": [], "conventions": [], "calibrate": ["--published", "--form", "--holdout", "--name"],
    "choose": ["--device", "--max-latency", "--max-peak-memory", "--max-params", "--max-macs", "--dtype"],
    "devices": [],
}
FLAGS = {"--no-top", "--aux", "--reduced-tail"}
CHOICES = {"--convention": CONVENTIONS, "--by": ["layer", "op", "block", "stage", "part", "colour"],
           "--unit": ["macs", "flops", "x"], "--spatial": ["exact", "continuous", "x"], "--set": ["f=256", "f", "=1"],
           "--dtype": ["int8", "float16", "float32", "int4"], "--schedule": ["layerwise", "materialized", "x"],
           "--device": ["pixel1-big-core", "pixel8-edgetpu-int8", "nope"], "--freeze": ["backbone", "14", "0", "99", "x"],
           "--optimizer": ["sgd", "adam", "lion"], "--published": ["v3-paper", "v4-pixel6-cpu", "x"],
           "--form": ["full", "roofline", "x"], "--holdout": ["network", "row", "x"],
           "--max-latency": ["20ms", "0.5s", "3", "-1ms", "x", "1e400"]}
POSITIONAL = {"table": 1, "compare": 2, "diff": 2, "sweep": 1, "fit": 1, "memory": 1, "roofline": 1, "train": 1}


@st.composite
def argv(draw):
    command = draw(st.sampled_from(sorted(COMMANDS)))
    args = [command] + [draw(st.sampled_from(MODELS)) for _ in range(draw(st.integers(0, POSITIONAL.get(command, 0))))]
    for option in draw(st.lists(st.sampled_from(COMMANDS[command] or ["--format"]), max_size=4, unique=True)):
        if option in FLAGS:
            args.append(option)
        else:
            args += [option, draw(st.sampled_from(CHOICES.get(option, NUMBERS)))]
    args += ["-f", draw(st.sampled_from(["table", "csv", "json", "markdown"]))]
    return args


class Timeout(Exception):
    pass


def run(args):
    """main(args) in this process, with its output, under an alarm."""
    out, err = io.StringIO(), io.StringIO()

    def alarm(signum, frame):
        raise Timeout(" ".join(args)[:300])

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(SECONDS)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue()


def check_outcome(args, code, out, err):
    assert code in (0, 1, 2, 3), (args, code, err)
    if code:
        assert err and all(line.startswith("mnetcost: error: ") for line in err.splitlines()), (args, err)
        assert "internal error" not in err and "Traceback" not in err, (args, err)
        return
    assert "Traceback" not in err and "Warning" not in err, (args, err)
    fmt = args[-1]
    if fmt == "json":
        document = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in JSON: {args}"))
        totals = document.get("totals") or {}
        for key in ("macs", "params", "forward_macs", "backward_macs", "backward_macs_torch", "saved_bytes"):
            value = totals.get(key)
            assert value is None or value >= 0, (args, key, value)
            if value is not None and "continuous" not in args:
                assert isinstance(value, int), (args, key, value)
    elif fmt == "csv":
        for row in csv.reader(io.StringIO(out)):
            for cell in row:
                assert not cell.startswith(("=", "+", "@")), (args, cell)
    assert all(ch.isprintable() or ch in "\n\t" for ch in out), args


@FUZZ
@given(args=argv())
def test_every_command_ends_in_a_result_or_one_error_line(args):
    check_outcome(args, *run(args))


@FUZZ
@given(model=st.sampled_from(["v1", "v2", "v3-large", "v3-small", "mnasnet-b1", "efficientnet-b0", "v4-conv-small",
                              "v4-hybrid-medium", "lraspp-v3-large", "ssdlite-v3-small"]),
       convention=st.sampled_from(["paper", "torchvision"]),
       alphas=st.lists(st.floats(0.2, 2.0), min_size=2, max_size=2),
       resolutions=st.lists(st.integers(96, 600), min_size=2, max_size=2))
def test_shipped_tables_are_monotone_and_params_ignore_the_resolution(model, convention, alphas, resolutions):
    family = mnetcost.load_table(model).family
    convention = "timm" if family == "v4" else convention
    (a1, a2), (r1, r2) = sorted(alphas), sorted(resolutions)
    if mnetcost.load_table(model).backbone:
        a1 = a2 = 1.0  # torchvision's segmentation heads have one width
    small = mnetcost.cost(model, alpha=a1, resolution=r1, convention=convention)
    wide = mnetcost.cost(model, alpha=a2, resolution=r1, convention=convention)
    large = mnetcost.cost(model, alpha=a1, resolution=r2, convention=convention)
    assert small.macs <= wide.macs and small.params <= wide.params
    assert small.macs <= large.macs and small.params == large.params
    assert min(small.layers["macs"]) >= 0 and min(small.layers["params"]) >= 0
