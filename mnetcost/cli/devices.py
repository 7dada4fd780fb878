"""The commands about training, memory and devices: each parses, calls the library, shows the view."""

import sys
from typing import Optional

from .. import parsing, vocab
from ..errors import EXIT_DIFFERENCE
from .app import app, show
from .options import (A, O, AlphaList, By, Config, Convention, Device, DeviceFile, Dtype, Fmt, Form, Format, Holdout,
                      MaxLatency, MaxMacs, MaxParams, MaxPeak, Optimizer, Schedule, ScheduleOpt, TorchConfig,
                      TrainDtype, Variant, VerifyConfig, grouped, number, whole)

F = Format.table


@app.command()
@grouped
def train(cfg: TorchConfig, freeze: O("--freeze", "Freeze what --no-top keeps (Keras' base_model.trainable = False), "
                                      "or the first N blocks of 'table --by block' (the stem is block 1).",
                                      metavar="backbone|N") = None,
          batch: O("--batch/-b", "Images per step.", int, "N", parser=whole) = 1,
          optimizer: O("--optimizer", "Optimizer state per trainable parameter: sgd 0, momentum 1, adam 2.",
                       Optimizer) = Optimizer.sgd,
          dtype: O("--dtype", "Bytes per value of weights and activations.", TrainDtype) = TrainDtype.float32,
          var: Variant = None, by: O("--by", "block (default) or layer.", By) = By.block, fmt: Fmt = F):
    """One training step: forward and backward mult-adds (physical, and as torch's FlopCounterMode counts
    them), trainable parameters and the memory it needs, for the whole batch.

    Example: mnetcost train v2 --freeze 14 --batch 32

    Example: mnetcost train v1 --head 320,320 --classes 2 --freeze backbone -c keras"""
    from .. import reports, views
    from ..train import training

    reports.check_breakdown("train", by.value, vocab.TRAIN_BREAKDOWNS)
    step = training(**cfg, freeze=parsing.freeze(freeze), batch=batch, optimizer=optimizer.value, dtype=dtype.value,
                    **var)
    rows = reports.training_rows(step, by.value)
    show(views.training(step, rows, by.value, reports.saved_for_backward(step.totals)), fmt)


@app.command()
@grouped
def memory(cfg: Config, dtype: O("--dtype", "Bytes per value for activations and weights.", Dtype) = Dtype.float32,
           schedule: ScheduleOpt = Schedule.materialized, var: Variant = None, fmt: Fmt = F):
    """Activation memory, weight bytes, bytes moved and arithmetic intensity per layer; the peak
    under a schedule; and the widest tensor kept at each resolution (V2 Table 3's view).

    Example: mnetcost memory v2 --dtype float16 --schedule materialized"""
    from .. import views
    from ..traffic import memory as run_memory

    m = run_memory(**cfg, dtype=dtype.value, schedule=schedule.value, **var)
    show(views.memory(m, dtype.value, schedule.value), fmt)


@app.command()
@grouped
def roofline(cfg: Config, device: Device = None, device_file: DeviceFile = None,
             peak_macs: O("--peak-macs", "Peak MAC/s, e.g. 17.2G (instead of --device).", metavar="RATE") = None,
             bandwidth: O("--bandwidth", "Memory bandwidth in bytes/s, e.g. 15G.", metavar="RATE") = None,
             dtype: O("--dtype", f"Bytes per value ({vocab.DTYPE_RULE}).", Optional[Dtype]) = None,
             var: Variant = None, fmt: Fmt = F):
    """Predicted latency on a device, layer by layer: max(MACs / the layer class's rate, bytes moved /
    bandwidth) plus the device's per-layer and per-element costs, its bound (compute or memory), and the total.

    Example: mnetcost roofline v2 --device pixel1-big-core
    Example: mnetcost roofline v3-small --peak-macs 0.96G --bandwidth 1.92G --dtype int8
    Example: mnetcost roofline v2 --device-file my-device.csv"""
    from .. import reports, views
    from ..latency import roofline as run_roofline

    r = run_roofline(**cfg, dtype=dtype and dtype.value, device=device, peak_macs=peak_macs, bandwidth=bandwidth,
                     device_file=device_file, **var)
    show(views.roofline(r, cfg["model"], reports.memory_bound_ops(r), reports.other_seconds(r)), fmt)


@app.command()
def calibrate(
        measurements: O("--measurements/-m", "A measurements CSV (written by 'mnetcost measure', or by hand: model, "
                        "alpha, resolution, latency_ms).", metavar="FILE") = None,
        published: O("--published/-p", "A published latency set instead: tf-slim, v2-paper, v3-paper, "
                     "v4-pixel6-cpu, ... (default tf-slim).", metavar="SET") = None,
        form: O("--form", "The device model's terms (default: full for measurements, the set's own for a published "
                "set).", Optional[Form]) = None,
        holdout: O("--holdout", "Cross-validation groups: network (model and alpha), model, or row (default: "
                   "network; a published set's own).", Optional[Holdout]) = None,
        ridge_point: O("--ridge-point", "Fix the ridge point (MACs per byte) instead of scanning bandwidths.",
                       Optional[float], "MAC/B", parser=number) = None,
        dtype: O("--dtype", "Bytes per value (default float32; a published set's own).", Optional[Dtype]) = None,
        name: O("--name", "The profile's name (default: calibrated, or a published set's profile).",
                metavar="NAME") = None,
        output: O("--output/-o", "Write the profile to this device file (added, or replacing one of the same name).",
                  metavar="FILE") = None, fmt: Fmt = F):
    """Fit a device model to measured latencies, print each parameter with its meaning and the
    held-out error (cross-validated, beside the MACs-only proxy's), and optionally save the profile.

    Example: mnetcost calibrate --measurements measurements.csv -o my-device.csv --name my-laptop
    Example: mnetcost calibrate --published v4-pixel6-cpu"""
    from .. import reports, views

    c = reports.calibrate(measurements, published, form=form and form.value, holdout=holdout and holdout.value,
                          ridge_point=ridge_point, dtype=dtype and dtype.value, name=name, output=output)
    show(views.calibration(c, output), fmt)


@app.command()
def devices(device_file: DeviceFile = None, fmt: Fmt = F):
    """The device profiles (shipped, or those of --device-file), each with its rates, its other terms
    and, for a fitted profile, its held-out error beside the MACs-only proxy's.

    Example: mnetcost devices"""
    from pathlib import Path

    from .. import views
    from ..latency import devices as shipped, read_devices

    found = read_devices(device_file) if device_file is not None else shipped()
    show(views.device_list(found, device_file and Path(device_file).name), fmt)


@app.command()
def measure(model: A("MODEL", "A table, or several separated by commas."),
            alpha: O("--alpha/-a", "Width multipliers: 0.5,1.0 or START:STOP:STEP.", str, "LIST") = "1.0",
            resolution: O("--resolution/-r", "Resolutions (default: each table's own).", metavar="LIST") = None,
            convention: Convention = vocab.DEFAULT_CONVENTION,
            runtime: O("--runtime", "The runtime: onnxruntime (CPU).", str, "NAME") = "onnxruntime",
            threads: O("--threads", "Threads for the runtime (intra- and inter-op).", int, "N", parser=whole) = 1,
            repeat: O("--repeat", "Timed runs per configuration and pass (default: as many as fit in about 40 ms, at "
                      "least 1).", Optional[int], "R", parser=whole) = None,
            passes: O("--passes", "Passes over all configurations, each in a new shuffled order.", int, "P",
                      parser=whole) = 40,
            output: O("--output/-o", "Append the measurements to this CSV (created with its header).",
                      metavar="FILE") = None, fmt: Fmt = F):
    """Time configurations on this machine: build each with the PyTorch builder, export it to ONNX,
    run it with ONNX Runtime (threads pinned, warmed up, shuffled passes), and report each latency with
    the noise of its measurement. Needs: pip install "mnetcost[measure]".

    Example: mnetcost measure v2 --alpha 0.5,1.0 --resolution 160,224 -o measurements.csv"""
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
def choose(device: Device = None, device_file: DeviceFile = None,
           max_latency: O("--max-latency", "At most this predicted latency, e.g. 20ms (a bare number is ms).",
                          metavar="TIME") = None,
           max_peak_memory: O("--max-peak-memory", "At most this many bytes of activations at the peak, e.g. 512K.",
                              metavar="BYTES") = None,
           dtype: O("--dtype", f"Bytes per activation value for peak memory ({vocab.DTYPE_RULE}).",
                    Optional[Dtype]) = None,
           schedule: ScheduleOpt = Schedule.materialized, max_params: MaxParams = None, max_macs: MaxMacs = None,
           source: O("--source", "Only these accuracy sources: tf_slim, keras_io, keras_docstring, torchvision, "
                     "paper_v4.", metavar="LIST") = None,
           all_rows: O("--all", "Every checkpoint that fits, not only the 20 most accurate.", bool) = False,
           fmt: Fmt = F):
    """The published checkpoints that fit a budget, ranked by published ImageNet top-1, with predicted
    latency, MACs, params and peak memory, and which are Pareto-best on accuracy vs latency (vs MACs
    without a device). Accuracy is never estimated: only published checkpoints are listed.

    Example: mnetcost choose --device pixel1-big-core --max-latency 20ms
    Example: mnetcost choose --max-peak-memory 512K --dtype int8 --max-params 4M"""
    from .. import views
    from ..explore import choose as run_choose

    frame = run_choose(device=device, device_file=device_file, max_latency=parsing.duration(max_latency, "--max-latency"),
                       max_peak_bytes=parsing.budget(max_peak_memory, "--max-peak-memory"),
                       max_params=parsing.budget(max_params, "--max-params"),
                       max_macs=parsing.budget(max_macs, "--max-macs"), dtype=dtype and dtype.value,
                       schedule=schedule.value, sources=None if source is None else parsing.names(source, "--source"))
    budget = views.budget_text(max_latency=max_latency, max_peak_memory=max_peak_memory, max_params=max_params,
                               max_macs=max_macs)
    show(views.choice(frame, budget, dtype and dtype.value, schedule.value, all_rows), fmt)


@app.command()
@grouped
def verify(cfg: VerifyConfig, var: Variant = None, fmt: Fmt = F):
    """Build MODEL as a PyTorch module and compare every layer's parameters, MACs
    (FlopCounterMode / 2) and output shape with mnetcost's; exit code 4 on any difference, 3 without PyTorch.
    Needs PyTorch: pip install "mnetcost[torch]".

    Example: mnetcost verify v3-small --alpha 0.75 --resolution 97"""
    from .. import reports, views
    from ..engine import cost
    from ..errors import EnvironmentProblem

    reports.check_verify_size(cost(**cfg, **var))
    try:
        from ..torch import verify as run_verify
    except ImportError:
        raise EnvironmentProblem('mnetcost verify needs PyTorch: pip install "mnetcost[torch]"') from None
    v = run_verify(**cfg, **var)
    show(views.verification(v), fmt)
    return 0 if v.ok else EXIT_DIFFERENCE
