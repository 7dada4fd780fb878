"""The commands on tables: each parses its options, calls the library with keywords and shows the result's view."""

from typing import List, Optional

from .. import parsing, vocab
from .app import app, show
from .options import (A, O, Alpha, AlphaList, Aux, By, Classes, Config, Convention, Device, DeviceFile, Dtype, Fmt,
                      Format, MaxLatency, MaxMacs, MaxParams, MaxPeak, Model, ReducedTail, ResolutionList, Schedule,
                      ScheduleOpt, Set, Spatial, SpatialOpt, Unit, UnitOpt, Variant, ALPHA_HELP, RESOLUTION_HELP, C,
                      grouped, number, whole)

F, U, PAPER = Format.table, Unit.macs, vocab.DEFAULT_CONVENTION


@app.command()
def conventions(fmt: Fmt = F):
    """Every counting convention: the families it has rules for, what it reproduces and its rules.

    Example: mnetcost conventions"""
    from .. import reports, views

    show(views.conventions(reports.convention_rows()), fmt)


@app.command()
@grouped
def table(cfg: Config, spatial: SpatialOpt = Spatial.exact, var: Variant = None,
          by: O("--by", "layer (every primitive layer), or totals per op type, block, stage or part (a head table's "
                "backbone and head).", By) = By.layer, unit: UnitOpt = U, fmt: Fmt = F):
    """Per-layer mult-adds and parameters of MODEL, with totals, or their breakdown by op type or block.

    Example: mnetcost table v2 --alpha 0.75 --rho 0.714
    Example: mnetcost table v1 --by op    (V1 Table 2: shares per op type)
    Example: mnetcost table v1 -c keras --head 320,320 -k 2   (a 2-class head)"""
    from .. import reports, views
    from ..engine import cost

    result = cost(**cfg, spatial=spatial.value, **var)
    if by is By.layer:
        return show(views.cost_layers(result, unit.value), fmt)
    show(views.cost_breakdown(result, by.value, reports.breakdown_rows(result, by.value), unit.value), fmt)


@app.command()
def models(unit: UnitOpt = U, fmt: Fmt = F):
    """Every shipped table: what it is, its layer count and totals at alpha 1 and its own resolution (paper
    convention); its source at 110 columns or more, or in -f csv / json.

    Example: mnetcost models"""
    from .. import views
    from ..explore import model_rows
    from ..terminal import columns

    show(views.catalogue(model_rows(), unit.value, wide=columns() >= 110), fmt)


@app.command()
@grouped
def compare(models_: A("MODEL...", "One or more tables (names or CSV paths).", List[str]),
            alpha: O("--alpha/-a", ALPHA_HELP, metavar="LIST") = None,
            resolution: O("--resolution/-r", RESOLUTION_HELP, metavar="LIST") = None,
            convention: C("LIST", "Conventions: paper,torchvision,keras,tf-slim.") = PAPER, classes: Classes = None,
            spatial: SpatialOpt = Spatial.exact, var: Variant = None, unit: UnitOpt = U, fmt: Fmt = F):
    """Side by side: several models, configurations or conventions. For several conventions of one
    configuration, the difference to the first is split into its causes.

    Example: mnetcost compare v1 v2 v3-large v3-small
    Example: mnetcost compare v2 --alpha 0.5,0.75,1.0
    Example: mnetcost compare v2 --convention paper,torchvision,keras,tf-slim"""
    from .. import views
    from ..explore import comparison

    names = parsing.names(convention, "--convention")
    alphas, resolutions = parsing.values(alpha, "--alpha") or [1.0], parsing.values(resolution, "--resolution", int)
    records, why = comparison(models_, alphas, resolutions or [None], names, classes=classes, spatial=spatial.value, **var)
    show(views.comparison(records, why, names, models_, unit.value), fmt)


@app.command()
def diff(model_a: A("A", "A table (name or CSV path)."),
         model_b: A("[B]", "Another table (default: A, to compare two configurations).", Optional[str]) = None,
         alpha: O("--alpha/-a", "Width multiplier, for both or for A and B.", metavar="A[,B]") = None,
         resolution: O("--resolution/-r", "Resolution in pixels, for both or for A and B.", metavar="A[,B]") = None,
         convention: C("A[,B]", "Convention, for both or for A and B (default paper).", Optional[str]) = None,
         classes: Classes = None, spatial: SpatialOpt = Spatial.exact, aux: Aux = False,
         reduced_tail: ReducedTail = False, set_: Set = None,
         by: O("--by", "block (default) or layer; op and stage are also accepted.", By) = By.block,
         all_rows: O("--all", "Also list the rows that do not change.", bool) = False, unit: UnitOpt = U, fmt: Fmt = F):
    """What changes from A to B: per block or per layer, and the total delta. A and B are tables, or
    two configurations of one table.

    Example: mnetcost diff v3-large-v2tail v3-large     (V3's efficient last stage)
    Example: mnetcost diff v2 --alpha 1.0,0.75 --by layer"""
    from .. import views
    from ..explore import diff_rows

    found = diff_rows(model_a, model_b, by=by.value, alpha=parsing.pair(alpha, "--alpha", float, 1.0),
                      resolution=parsing.pair(resolution, "--resolution", int),
                      convention=parsing.pair(convention, "--convention", str, PAPER), classes=classes,
                      spatial=spatial.value, aux=aux, reduced_tail=reduced_tail, symbols=parsing.symbols(set_))
    show(views.difference(*found, by=by.value, all_rows=all_rows, unit=unit.value), fmt)


@app.command()
def fit(model: Model, max_macs: MaxMacs = None, max_params: MaxParams = None, max_peak_memory: MaxPeak = None,
        dtype: O("--dtype", "Bytes per activation value for the memory budget.", Dtype) = Dtype.float32,
        schedule: ScheduleOpt = Schedule.materialized, alpha: AlphaList = vocab.FIT_ALPHAS,
        resolution: ResolutionList = vocab.FIT_RESOLUTIONS, convention: Convention = PAPER, classes: Classes = None,
        aux: Aux = False, reduced_tail: ReducedTail = False, set_: Set = None, max_latency: MaxLatency = None,
        device: Device = None, device_file: DeviceFile = None,
        all_rows: O("--all", "List every configuration within the budget, not only the Pareto-best.", bool) = False,
        unit: UnitOpt = U, fmt: Fmt = F):
    """The Pareto-best alpha x resolution configurations within a budget of MACs, parameters, peak
    activation memory and latency on a device (none beats another on both alpha and resolution), with their costs.

    Example: mnetcost fit v2 --max-macs 150M --max-params 2M --max-peak-memory 512K --dtype int8
    Example: mnetcost fit v3-large --max-latency 20ms --device pixel1-big-core"""
    from .. import views
    from ..explore import fit as run_fit

    limits = {"max_macs": max_macs, "max_params": max_params, "max_peak_memory": max_peak_memory,
              "max_latency": max_latency}
    parsing.require_one(limits, "give a budget: --max-macs, --max-params, --max-peak-memory and/or --max-latency")
    frame = run_fit(model, parsing.values(alpha, "--alpha"), parsing.values(resolution, "--resolution", int),
                    max_macs=parsing.budget(max_macs, "--max-macs"), max_params=parsing.budget(max_params, "--max-params"),
                    max_peak_bytes=parsing.budget(max_peak_memory, "--max-peak-memory"),
                    max_latency=parsing.duration(max_latency, "--max-latency"), device=device, device_file=device_file,
                    dtype=dtype.value, schedule=schedule.value, convention=convention, classes=classes, aux=aux,
                    reduced_tail=reduced_tail, symbols=parsing.symbols(set_))
    dev = frame.attrs.get("device")
    budget = views.budget_text(f" ({dtype.value}, {schedule.value})", f" on {dev.name}" if dev else "", **limits)
    show(views.fitting(frame, model, convention, budget, dtype.value, all_rows, unit.value), fmt)


@app.command()
def sweep(model: Model, alpha: AlphaList, resolution: ResolutionList, convention: Convention = PAPER,
          classes: Classes = None, spatial: SpatialOpt = Spatial.exact, aux: Aux = False,
          reduced_tail: ReducedTail = False, set_: Set = None, unit: UnitOpt = U, fmt: Fmt = F):
    """The alpha x resolution grid of mult-adds and parameters.

    Example: mnetcost sweep v1 --alpha 0.25,0.5,0.75,1.0 --resolution 128:224:32 --convention tf-slim"""
    from .. import views
    from ..explore import sweep_columns, sweep_grid
    from ..reports import records

    alphas, resolutions = parsing.values(alpha, "--alpha"), parsing.values(resolution, "--resolution", int)
    rows = records(sweep_columns(model, alphas, resolutions, convention=convention, spatial=spatial.value,
                                 classes=classes, aux=aux, reduced_tail=reduced_tail, symbols=parsing.symbols(set_)))
    show(views.sweep(rows, sweep_grid(rows, resolutions), resolutions, model, convention, spatial.value, unit.value),
         fmt)


@app.command()
def ratio(kernel: O("--kernel", "Kernel size D_K.", int, "D_K", parser=whole),
          c_in: O("--in", "Input channels M.", int, "M", parser=whole),
          c_out: O("--out", "Output channels N.", int, "N", parser=whole),
          size: O("--size", "Feature map size D_F.", float, "D_F", parser=number), alpha: Alpha = 1.0,
          rho: O("--rho", "Resolution multiplier rho.", float, "FLOAT", parser=number) = 1.0,
          spatial: O("--spatial", "continuous (the paper's rho x D_F) or exact (whole channels and pixels).",
                     Spatial) = Spatial.continuous, unit: UnitOpt = U, fmt: Fmt = F):
    """One layer: standard vs depthwise separable convolution, with the paper's formulas (V1 Table 3).

    Example: mnetcost ratio --kernel 3 --in 512 --out 512 --size 14 --alpha 0.75 --rho 0.714"""
    from .. import views
    from ..ratios import table3

    records, last = table3(kernel, c_in, c_out, size, alpha=alpha, rho=rho, spatial=spatial.value)
    inputs = {"kernel": kernel, "in": c_in, "out": c_out, "size": size, "alpha": alpha, "rho": rho,
              "spatial": spatial.value}
    show(views.layer_ratio(records, last, inputs, unit.value), fmt)


@app.command()
def reference(model: A("[MODEL]", "v1, v2, v3-large, v3-small (their variants included) or any table name.",
                       Optional[str]) = None,
              per_layer: O("--per-layer", "Also list the TF-slim docstring's per-layer figures.", bool) = False,
              fmt: Fmt = F):
    """Every published figure beside what mnetcost computes under its source's convention, with the
    difference, a verdict (match / erratum / unexplained) and its reason, and the citation.

    Example: mnetcost reference v2"""
    from .. import reports, views

    records = reports.figure_rows(model, per_layer=per_layer)
    show(views.figures(records, reports.verdict_counts(records), model, per_layer), fmt)
