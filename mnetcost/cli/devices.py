"""The commands about devices and training: train, memory, roofline, calibrate, devices, measure, choose, verify."""

from __future__ import annotations

import sys
from typing import Annotated, Optional

import typer

from .. import parsing, vocab
from ..errors import EXIT_DIFFERENCE
from .app import app, show
from .options import (Alpha, All, AlphaList, Aux, By, Classes, Convention, Device, DeviceFile, Dtype, Fmt, Form, Format,
                      Head, Holdout, MaxLatency, MaxMacs, MaxParams, MaxPeak, Model, NoTop, Optimizer, ReducedTail,
                      Resolution, Rho, Schedule, ScheduleOpt, Set, TorchConvention, TrainDtype, complete_models, number, opt,
                      variant, whole)

F = Format.table
Output = Annotated[Optional[str], opt("--output", "-o", metavar="FILE", help="Write the profile to this device file "
                                      "(added, or replacing one of the same name).")]


@app.command()
def train(model: Model, alpha: Alpha = 1.0, rho: Rho = None, resolution: Resolution = None,
          convention: TorchConvention = vocab.TORCH_CONVENTION, classes: Classes = None,
          freeze: Annotated[Optional[str], opt("--freeze", metavar="backbone|N", help=(
              "Freeze what --no-top keeps (Keras' base_model.trainable = False), or the first N blocks of "
              "'table --by block' (the stem is block 1)."))] = None,
          batch: Annotated[int, opt("--batch", "-b", parser=whole, metavar="N", help="Images per step.")] = 1,
          optimizer: Annotated[Optimizer, opt("--optimizer", help="Optimizer state per trainable parameter: sgd 0, "
                                                                  "momentum 1, adam 2.")] = Optimizer.sgd,
          dtype: Annotated[TrainDtype, opt("--dtype", help="Bytes per value of weights and activations.")] = TrainDtype.float32,
          no_top: NoTop = False, head: Head = None, aux: Aux = False, reduced_tail: ReducedTail = False,
          set_: Set = None, by: Annotated[By, opt("--by", help="block (default) or layer.")] = By.block, fmt: Fmt = F):
    """One training step: forward and backward mult-adds (physical, and as torch's FlopCounterMode counts
    them), trainable parameters and the memory it needs, for the whole batch.

    Example: mnetcost train v2 --freeze 14 --batch 32

    Example: mnetcost train v1 --head 320,320 --classes 2 --freeze backbone -c keras
    """
    from .. import reports, views
    from ..training import training

    reports.check_breakdown("train", by.value, vocab.TRAIN_BREAKDOWNS)
    step = training(model, alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
                    freeze=parsing.freeze(freeze), batch=batch, optimizer=optimizer.value, dtype=dtype.value,
                    **variant(no_top, head, aux, reduced_tail, set_))
    show(views.training(step, reports.training_rows(step, by.value), by.value,
                        reports.saved_for_backward(step.totals)), fmt)


@app.command()
def memory(model: Model, alpha: Alpha = 1.0, rho: Rho = None, resolution: Resolution = None,
           convention: Convention = vocab.DEFAULT_CONVENTION, classes: Classes = None,
           dtype: Annotated[Dtype, opt("--dtype", help="Bytes per value for activations and weights.")] = Dtype.float16,
           schedule: ScheduleOpt = Schedule.materialized, no_top: NoTop = False, head: Head = None, aux: Aux = False,
           reduced_tail: ReducedTail = False, set_: Set = None, fmt: Fmt = F):
    """Activation memory, weight bytes, bytes moved and arithmetic intensity per layer; the peak
    under a schedule; and the widest tensor kept at each resolution (V2 Table 3's view).

    Example: mnetcost memory v2 --dtype float16 --schedule materialized
    """
    from .. import views
    from ..traffic import memory as run_memory

    m = run_memory(model, alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
                   dtype=dtype.value, schedule=schedule.value, **variant(no_top, head, aux, reduced_tail, set_))
    show(views.memory(m, dtype.value, schedule.value), fmt)


@app.command()
def roofline(model: Model, alpha: Alpha = 1.0, rho: Rho = None, resolution: Resolution = None,
             convention: Convention = vocab.DEFAULT_CONVENTION, classes: Classes = None, device: Device = None,
             device_file: DeviceFile = None,
             peak_macs: Annotated[Optional[str], opt("--peak-macs", metavar="RATE", help="Peak MAC/s, e.g. 17.2G (instead of --device).")] = None,
             bandwidth: Annotated[Optional[str], opt("--bandwidth", metavar="RATE", help="Memory bandwidth in bytes/s, e.g. 15G.")] = None,
             dtype: Annotated[Optional[Dtype], opt("--dtype", help="Bytes per value (default: the device's).")] = None,
             no_top: NoTop = False, head: Head = None, aux: Aux = False, reduced_tail: ReducedTail = False,
             set_: Set = None, fmt: Fmt = F):
    """Predicted latency on a device, layer by layer: max(MACs / the layer class's rate, bytes moved /
    bandwidth) plus the device's per-layer and per-element costs, its bound (compute or memory), and the total.

    Example: mnetcost roofline v2 --device pixel1-big-core
    Example: mnetcost roofline v3-small --peak-macs 0.96G --bandwidth 1.92G --dtype int8
    Example: mnetcost roofline v2 --device-file my-device.csv
    """
    from .. import reports, views
    from ..latency import roofline as run_roofline

    r = run_roofline(model, alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
                     dtype=dtype and dtype.value, device=device, peak_macs=peak_macs, bandwidth=bandwidth,
                     device_file=device_file, **variant(no_top, head, aux, reduced_tail, set_))
    show(views.roofline(r, model, reports.memory_bound_ops(r), reports.other_seconds(r)), fmt)


@app.command()
def calibrate(
        measurements: Annotated[Optional[str], opt("--measurements", "-m", metavar="FILE", help=(
            "A measurements CSV (written by 'mnetcost measure', or by hand: model, alpha, resolution, latency_ms)."))] = None,
        published: Annotated[Optional[str], opt("--published", "-p", metavar="SET", help=(
            "A published latency set instead: tf-slim, v2-paper, v3-paper, v4-pixel6-cpu, ... (default tf-slim)."))] = None,
        form: Annotated[Optional[Form], opt("--form", help="The device model's terms (default: full for measurements, "
                                                           "the set's own for a published set).")] = None,
        holdout: Annotated[Optional[Holdout], opt("--holdout", help="Cross-validation groups: network (model and alpha), "
                                                                    "model, or row (default: network; a published set's own).")] = None,
        ridge_point: Annotated[Optional[float], opt("--ridge-point", parser=number, metavar="MAC/B", help=(
            "Fix the ridge point (MACs per byte) instead of scanning bandwidths."))] = None,
        dtype: Annotated[Optional[Dtype], opt("--dtype", help="Bytes per value (default float32; a published set's own).")] = None,
        name: Annotated[Optional[str], opt("--name", metavar="NAME", help=(
            "The profile's name (default: calibrated, or a published set's profile)."))] = None,
        output: Output = None, fmt: Fmt = F):
    """Fit a device model to measured latencies, print each parameter with its meaning and the
    held-out error (cross-validated, beside the MACs-only proxy's), and optionally save the profile.

    Example: mnetcost calibrate --measurements measurements.csv -o my-device.csv --name my-laptop
    Example: mnetcost calibrate --published v4-pixel6-cpu
    """
    from .. import reports, views

    c = reports.calibrate(measurements, published, form=form and form.value, holdout=holdout and holdout.value,
                          ridge_point=ridge_point, dtype=dtype and dtype.value, name=name, output=output)
    show(views.calibration(c, output), fmt)


@app.command()
def devices(device_file: DeviceFile = None, fmt: Fmt = F):
    """The device profiles (shipped, or those of --device-file), each with its rates, its other terms
    and, for a fitted profile, its held-out error beside the MACs-only proxy's.

    Example: mnetcost devices
    """
    from pathlib import Path

    from .. import views
    from ..latency import devices as shipped, read_devices

    found = read_devices(device_file) if device_file is not None else shipped()
    show(views.device_list(found, device_file and Path(device_file).name), fmt)


@app.command()
def measure(
        model: Annotated[str, typer.Argument(metavar="MODEL", autocompletion=complete_models,
                                             help="A table, or several separated by commas.")],
        alpha: AlphaList = "1.0",
        resolution: Annotated[Optional[str], opt("--resolution", "-r", metavar="LIST", help="Resolutions (default: each table's own).")] = None,
        convention: Convention = vocab.DEFAULT_CONVENTION,
        runtime: Annotated[str, opt("--runtime", metavar="NAME", help="The runtime: onnxruntime (CPU).")] = "onnxruntime",
        threads: Annotated[int, opt("--threads", parser=whole, metavar="N", help="Threads for the runtime (intra- and inter-op).")] = 1,
        repeat: Annotated[Optional[int], opt("--repeat", parser=whole, metavar="R", help=(
            "Timed runs per configuration and pass (default: as many as fit in about 40 ms, at least 1)."))] = None,
        passes: Annotated[int, opt("--passes", parser=whole, metavar="P", help=(
            "Passes over all configurations, each in a new shuffled order."))] = 40,
        output: Annotated[Optional[str], opt("--output", "-o", metavar="FILE", help=(
            "Append the measurements to this CSV (created with its header)."))] = None,
        fmt: Fmt = F):
    """Time configurations on this machine: build each with the PyTorch builder, export it to ONNX,
    run it with ONNX Runtime (threads pinned, warmed up, shuffled passes), and report each latency with
    the noise of its measurement. Needs: pip install "mnetcost[measure]".

    Example: mnetcost measure v2 --alpha 0.5,1.0 --resolution 160,224 -o measurements.csv
    """
    from .. import views
    from ..timing import append, check_output, configurations, measure as run_measure

    configs = configurations(model, parsing.values(alpha, "--alpha"), parsing.values(resolution, "--resolution", int),
                             convention)
    if output is not None:
        check_output(output)
    progress = (lambda m: print(f"mnetcost: {m}", file=sys.stderr, flush=True)) if sys.stderr.isatty() else None
    rows = run_measure(configs, runtime=runtime, threads=threads, repeat=repeat, passes=passes, progress=progress)
    if output is not None:
        append(rows, output)
    show(views.measurements(rows, output), fmt)


@app.command()
def choose(device: Device = None, device_file: DeviceFile = None, max_latency: MaxLatency = None,
           max_peak_memory: MaxPeak = None,
           dtype: Annotated[Optional[Dtype], opt("--dtype", help="Bytes per activation value for peak memory "
                                                                 "(default: the device's, else int8).")] = None,
           schedule: ScheduleOpt = Schedule.materialized, max_params: MaxParams = None, max_macs: MaxMacs = None,
           source: Annotated[Optional[str], opt("--source", metavar="LIST", help=(
               "Only these accuracy sources: tf_slim, keras_io, keras_docstring, torchvision, paper_v4."))] = None,
           all_rows: Annotated[bool, opt("--all", help="Every checkpoint that fits, not only the 20 most accurate.")] = False,
           fmt: Fmt = F):
    """The published checkpoints that fit a budget, ranked by published ImageNet top-1, with predicted
    latency, MACs, params and peak memory, and which are Pareto-best on accuracy vs latency (vs MACs
    without a device). Accuracy is never estimated: only published checkpoints are listed.

    Example: mnetcost choose --device pixel1-big-core --max-latency 20ms
    Example: mnetcost choose --max-peak-memory 512K --dtype int8 --max-params 4M
    """
    from .. import views
    from ..explore import choose as run_choose

    frame = run_choose(device=device, device_file=device_file, max_latency=parsing.duration(max_latency, "--max-latency"),
                       max_peak_bytes=parsing.budget(max_peak_memory, "--max-peak-memory"),
                       max_params=parsing.budget(max_params, "--max-params"),
                       max_macs=parsing.budget(max_macs, "--max-macs"), dtype=dtype and dtype.value,
                       schedule=schedule.value, sources=None if source is None else [x.strip() for x in source.split(",")])
    budget = views.budget_text(max_latency=max_latency, max_peak_memory=max_peak_memory, max_params=max_params,
                               max_macs=max_macs)
    show(views.choice(frame, budget, dtype and dtype.value, schedule.value, all_rows), fmt)


@app.command()
def verify(model: Model, alpha: Alpha = 1.0, rho: Rho = None, resolution: Resolution = None,
           convention: Annotated[str, opt("--convention", "-c", metavar="NAME", help=(
               "A convention with a PyTorch meaning: torchvision, paper, keras, tf-slim (V2/V3), the counters."))
           ] = vocab.TORCH_CONVENTION, classes: Classes = None, no_top: NoTop = False, head: Head = None,
           aux: Aux = False, reduced_tail: ReducedTail = False, set_: Set = None, fmt: Fmt = F):
    """Build MODEL as a PyTorch module and compare every layer's parameters, MACs
    (FlopCounterMode / 2) and output shape with mnetcost's; exit code 4 on any difference, 3 without PyTorch.
    Needs PyTorch: pip install "mnetcost[torch]".

    Example: mnetcost verify v3-small --alpha 0.75 --resolution 97
    """
    from .. import reports, views
    from ..engine import cost
    from ..errors import EnvironmentProblem

    options = dict(alpha=alpha, rho=rho, resolution=resolution, convention=convention, classes=classes,
                   **variant(no_top, head, aux, reduced_tail, set_))
    reports.check_verify_size(cost(model, **options))
    try:
        from ..torch import verify as run_verify
    except ImportError:
        raise EnvironmentProblem('mnetcost verify needs PyTorch: pip install "mnetcost[torch]"') from None
    v = run_verify(model, **options)
    show(views.verification(v), fmt)
    return 0 if v.ok else EXIT_DIFFERENCE
