"""mnetcost: analytical costs (mult-adds, parameters, activations) of the MobileNet family,
evaluated layer by layer from architecture tables stored as CSV, under named counting conventions.

Names are imported on first use (PEP 562), so that ``import mnetcost`` and the CLI start fast."""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    "cost": "engine", "Cost": "engine", "grid": "engine", "Config": "config",
    "training": "train", "training_sweep": "train", "Training": "train", "peak_grid": "traffic",
    "load_table": "tables", "model_names": "tables",
    "convention_names": "conventions", "get_convention": "conventions",
    "memory": "traffic",
    "roofline": "latency", "devices": "latency", "get_device": "latency", "read_devices": "latency",
    "latency_grid": "latency",
    "calibrate": "calibration", "read_measurements": "calibration", "published_latencies": "calibration",
    "measure": "timing", "choose": "explore",
    "sweep": "explore", "stage_sweep": "explore", "compare": "explore", "explain": "explore", "models": "explore",
    "fit": "explore", "diff": "explore", "report": "interactive",
    "separable_ratio": "ratios", "compare_layer": "ratios", "block_ratios": "ratios",
    "MnetcostError": "errors", "UsageError": "errors", "TableError": "errors", "UnknownModel": "errors",
    "UnknownConvention": "errors", "UnknownOp": "errors",
    "import_onnx": "onnx_import", "register_op": "ops", "OpCost": "ops", "OpSpec": "ops", "Ops": "ops",
}
_SUBMODULES = {"explore", "ratios", "reference", "engine", "tables", "conventions", "traffic", "latency", "render",
               "scaling", "expand", "ops", "errors", "cli", "calibration", "records", "timing", "train", "config",
                "vocab", "torch", "modules", "views", "reports", "parsing", "terminal", "rows", "interactive",
                "report_html", "onnx_import", "onnx_graph", "netron"}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'mnetcost' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS) | _SUBMODULES)
