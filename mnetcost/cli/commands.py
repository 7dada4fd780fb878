"""The commands: each parses its options, calls the library with keywords and shows the result's view (``lib``: the
package, whose modules are imported on first use)."""

from typing import List, Optional

import mnetcost as lib

from .. import parsing, vocab
from ..errors import EXIT_DIFFERENCE
from .app import command, show
from .options import (A, C, F, O, U, Alpha, AlphaList, By, Classes, Config, Convention, Device, DeviceFile, Dtype,
                      Flag, Fmt, Form, Holdout, MaxLatency, MaxMacs, MaxParams, MaxPeak, Model, Number, Optimizer,
                      ReportGrid, ResolutionList, Schedule, ScheduleOpt, Spatial, SpatialOpt, Switches, TorchConfig, TrainDtype,
                      UnitOpt, Variant, VerifyConfig, Whole)

PAPER = vocab.DEFAULT_CONVENTION


@command
def conventions(fmt: Fmt = F):
    show(lib.views.conventions(lib.reports.convention_rows()), fmt)


@command
def table(cfg: Config, spatial: SpatialOpt = Spatial.exact, var: Variant = None,
          by: O("--by", By, key="table-by") = By.layer, unit: UnitOpt = U, fmt: Fmt = F):
    result = lib.engine.cost(**cfg, spatial=spatial.value, **var)
    if by is By.layer:
        return show(lib.views.cost_layers(result, unit.value), fmt)
    show(lib.views.cost_breakdown(result, by.value, lib.reports.breakdown_rows(result, by.value), unit.value), fmt)


@command
def models(unit: UnitOpt = U, fmt: Fmt = F):
    show(lib.views.catalogue(lib.explore.model_rows(), unit.value, wide=lib.terminal.columns() >= 110), fmt)


@command
def compare(models_: A("MODEL...", "compare-models", List[str]), alpha: AlphaList = None,
            resolution: ResolutionList = None, convention: C("LIST", "compare-convention") = PAPER,
            classes: Classes = None, spatial: SpatialOpt = Spatial.exact, var: Variant = None, unit: UnitOpt = U,
            fmt: Fmt = F):
    names = parsing.names(convention, "--convention")
    alphas, resolutions = parsing.values(alpha, "--alpha") or [1.0], parsing.values(resolution, "--resolution", int)
    records, why = lib.explore.comparison(models_, alphas, resolutions or [None], names, classes=classes,
                                          spatial=spatial.value, **var)
    show(lib.views.comparison(records, why, names, models_, unit.value), fmt)


@command
def diff(model_a: A("A", "diff-a"), model_b: A("[B]", "diff-b", Optional[str]) = None,
         alpha: O("--alpha/-a", metavar="A[,B]", key="diff-alpha") = None,
         resolution: O("--resolution/-r", metavar="A[,B]", key="diff-resolution") = None,
         convention: C("A[,B]", "diff-convention", Optional[str]) = None, classes: Classes = None,
         spatial: SpatialOpt = Spatial.exact, switch: Switches = None, by: O("--by", By, key="diff-by") = By.block,
         all_rows: Flag("--all", key="diff-all") = False, unit: UnitOpt = U, fmt: Fmt = F):
    found = lib.explore.diff_rows(model_a, model_b, by=by.value, alpha=parsing.pair(alpha, "--alpha", float, 1.0),
                                  resolution=parsing.pair(resolution, "--resolution", int),
                                  convention=parsing.pair(convention, "--convention", str, PAPER), classes=classes,
                                  spatial=spatial.value, **switch)
    show(lib.views.difference(*found, by=by.value, all_rows=all_rows, unit=unit.value), fmt)


@command
def fit(model: Model, max_macs: MaxMacs = None, max_params: MaxParams = None, max_peak_memory: MaxPeak = None,
        dtype: O("--dtype", Dtype, key="fit-dtype") = Dtype.float32, schedule: ScheduleOpt = Schedule.materialized,
        alpha: AlphaList = vocab.FIT_ALPHAS, resolution: ResolutionList = vocab.FIT_RESOLUTIONS,
        convention: Convention = PAPER, classes: Classes = None, switch: Switches = None,
        max_latency: MaxLatency = None, device: Device = None, device_file: DeviceFile = None,
        all_rows: Flag("--all", key="fit-all") = False, unit: UnitOpt = U, fmt: Fmt = F):
    limits = dict(max_macs=max_macs, max_params=max_params, max_peak_memory=max_peak_memory, max_latency=max_latency)
    columns, dev = lib.explore.fit_columns(model, parsing.values(alpha, "--alpha"), parsing.values(
        resolution, "--resolution", int), device=device, device_file=device_file, dtype=dtype.value,
        schedule=schedule.value, convention=convention, classes=classes, **parsing.budgets(True, **limits), **switch)
    show(lib.views.fitting(columns, dev, model, convention, limits, dtype.value, schedule.value, all_rows, unit.value),
         fmt)


@command
def sweep(model: Model, alpha: AlphaList, resolution: ResolutionList, convention: Convention = PAPER,
          classes: Classes = None, spatial: SpatialOpt = Spatial.exact, switch: Switches = None, unit: UnitOpt = U,
          fmt: Fmt = F):
    alphas, resolutions = parsing.values(alpha, "--alpha"), parsing.values(resolution, "--resolution", int)
    rows = lib.reports.records(lib.explore.sweep_columns(model, alphas, resolutions, convention=convention,
                                                         spatial=spatial.value, classes=classes, **switch))
    grid = lib.explore.sweep_grid(rows, resolutions)
    show(lib.views.sweep(rows, grid, resolutions, model, convention, spatial.value, unit.value), fmt)


@command
def ratio(kernel: Whole("--kernel", int, "D_K"), c_in: Whole("--in", int, "M"), c_out: Whole("--out", int, "N"),
          size: Number("--size", float, "D_F"), alpha: Alpha = 1.0,
          rho: Number("--rho", float, "FLOAT", "ratio-rho") = 1.0,
          spatial: O("--spatial", Spatial, key="ratio-spatial") = Spatial.continuous, unit: UnitOpt = U, fmt: Fmt = F):
    inputs = dict(kernel=kernel, size=size, alpha=alpha, rho=rho, spatial=spatial.value)
    records, last = lib.ratios.table3(c_in=c_in, c_out=c_out, **inputs)
    show(lib.views.layer_ratio(records, last, {**inputs, "in": c_in, "out": c_out}, unit.value), fmt)


@command
def reference(model: A("[MODEL]", "reference-model", Optional[str]) = None, per_layer: Flag("--per-layer") = False,
              fmt: Fmt = F):
    records = lib.reports.figure_rows(model, per_layer=per_layer)
    show(lib.views.figures(records, lib.reports.verdict_counts(records), model, per_layer), fmt)


@command
def train(cfg: TorchConfig, freeze: O("--freeze", metavar="backbone|N") = None,
          batch: Whole("--batch/-b", int, "N") = 1, optimizer: O("--optimizer", Optimizer) = Optimizer.sgd,
          dtype: O("--dtype", TrainDtype, key="train-dtype") = TrainDtype.float32, var: Variant = None,
          by: O("--by", By, key="train-by") = By.block, fmt: Fmt = F):
    lib.reports.check_breakdown("train", by.value, vocab.TRAIN_BREAKDOWNS)
    step = lib.train.training(**cfg, freeze=parsing.freeze(freeze), batch=batch, optimizer=optimizer.value,
                              dtype=dtype.value, **var)
    rows = lib.reports.training_rows(step, by.value)
    show(lib.views.training(step, rows, by.value, lib.reports.saved_for_backward(step.totals)), fmt)


@command
def memory(cfg: Config, dtype: O("--dtype", Dtype, key="memory-dtype") = Dtype.float32,
           schedule: ScheduleOpt = Schedule.materialized, var: Variant = None, fmt: Fmt = F):
    m = lib.traffic.memory(**cfg, dtype=dtype.value, schedule=schedule.value, **var)
    show(lib.views.memory(m, dtype.value, schedule.value), fmt)


@command
def roofline(cfg: Config, device: Device = None, device_file: DeviceFile = None,
             peak_macs: O("--peak-macs", metavar="RATE") = None, bandwidth: O("--bandwidth", metavar="RATE") = None,
             dtype: O("--dtype", Optional[Dtype], key="roofline-dtype") = None, var: Variant = None, fmt: Fmt = F):
    r = lib.latency.roofline(**cfg, dtype=dtype and dtype.value, device=device, peak_macs=peak_macs,
                             bandwidth=bandwidth, device_file=device_file, **var)
    show(lib.views.roofline(r, cfg["model"], lib.reports.memory_bound_ops(r), lib.reports.other_seconds(r)), fmt)


@command
def calibrate(measurements: O("--measurements/-m", metavar="FILE") = None,
              published: O("--published/-p", metavar="SET") = None, form: O("--form", Optional[Form]) = None,
              holdout: O("--holdout", Optional[Holdout]) = None, ridge_point: Number("--ridge-point", Optional[float], "MAC/B") = None,
              dtype: O("--dtype", Optional[Dtype], key="calibrate-dtype") = None, name: O("--name", metavar="NAME") = None,
              output: O("--output/-o", metavar="FILE", key="calibrate-output") = None, fmt: Fmt = F):
    c = lib.reports.calibrate(measurements, published, form=form and form.value, holdout=holdout and holdout.value,
                              ridge_point=ridge_point, dtype=dtype and dtype.value, name=name, output=output)
    show(lib.views.calibration(c, output), fmt)


@command
def devices(device_file: DeviceFile = None, fmt: Fmt = F):
    show(lib.views.device_list(lib.latency.devices(device_file), device_file), fmt)


@command
def measure(model: A("[MODEL]", "measure-model", Optional[str]) = None,
            alpha: O("--alpha/-a", str, "LIST", "measure-alpha") = "1.0",
            resolution: O("--resolution/-r", metavar="LIST", key="measure-resolution") = None,
            convention: Convention = vocab.DEFAULT_CONVENTION, runtime: O("--runtime", str, "NAME") = "onnxruntime",
            threads: Whole("--threads", int, "N") = 1, repeat: Whole("--repeat", Optional[int], "R") = None,
            passes: Whole("--passes", Optional[int], "P") = None, suite: Flag("--suite") = False,
            table: O("--for", metavar="TABLE") = None,
            output: O("--output/-o", metavar="FILE", key="measure-output") = None, fmt: Fmt = F):
    rows = lib.reports.measure(model, parsing.values(alpha, "--alpha"), parsing.values(resolution, "--resolution", int),
                               convention, output=output, runtime=runtime, threads=threads, repeat=repeat,
                               passes=passes, suite=suite, table=table, progress=lib.terminal.progress())
    show(lib.views.measurements(rows, output), fmt)


@command
def choose(device: Device = None, device_file: DeviceFile = None,
           max_latency: O("--max-latency", metavar="TIME", key="choose-latency") = None,
           max_peak_memory: O("--max-peak-memory", metavar="BYTES", key="choose-peak") = None,
           dtype: O("--dtype", Optional[Dtype], key="choose-dtype") = None,
           schedule: ScheduleOpt = Schedule.materialized, max_params: MaxParams = None, max_macs: MaxMacs = None,
           source: O("--source", metavar="LIST") = None, all_rows: Flag("--all", key="choose-all") = False,
           fmt: Fmt = F):
    limits = dict(max_latency=max_latency, max_peak_memory=max_peak_memory, max_params=max_params, max_macs=max_macs)
    found = lib.explore.choose_records(device=device, device_file=device_file, **parsing.budgets(**limits),
                                       dtype=dtype and dtype.value, schedule=schedule.value,
                                       sources=None if source is None else parsing.names(source, "--source"))
    show(lib.views.choice(*found, limits, dtype and dtype.value, schedule.value, all_rows), fmt)


@command
def verify(cfg: VerifyConfig, var: Variant = None, fmt: Fmt = F):
    v = lib.reports.verify(**cfg, **var)
    show(lib.views.verification(v), fmt)
    return 0 if v.ok else EXIT_DIFFERENCE


@command
def report(cfg: Config, var: Variant = None, page: ReportGrid = None, output: O("--output/-o", metavar="FILE") = None):
    lib.terminal.saved(*lib.interactive.report(**cfg, **var, **page).write(output))


@command
def import_(path: A("MODEL.onnx", "import-model"), output: O("--output/-o", metavar="FILE", key="import-output") = None,
            folded_bn: Flag("--folded-bn") = False, family: O("--family", metavar="NAME") = None,
            netron: O("--netron", metavar="FILE.json") = None, device: Device = None,
            convention: C("NAME", "import-convention", Optional[str]) = None):
    print(lib.onnx_import.run(path, output, folded_bn=folded_bn, family=family, netron=netron, device=device,
                              convention=convention))
