"""mnetcost: analytical costs (mult-adds, parameters, activations) of the MobileNet family,
evaluated layer by layer from architecture tables stored as CSV, under named counting conventions."""

from . import explore, ratios, reference
from .conventions import convention_names, get_convention
from .engine import Cost, cost
from .errors import MnetcostError, TableError, UnknownConvention, UnknownModel, UnknownOp, UsageError
from .explore import compare, explain, models, sweep
from .latency import calibrate, devices, roofline
from .ratios import block_ratios, compare_layer, separable_ratio
from .tables import load_table, model_names
from .traffic import memory

__version__ = "0.1.0"

__all__ = [
    "cost", "Cost", "load_table", "memory", "roofline", "calibrate", "devices", "sweep", "compare", "explain", "models", "separable_ratio", "compare_layer", "block_ratios", "model_names", "convention_names", "get_convention",
    "MnetcostError", "UsageError", "TableError", "UnknownModel", "UnknownConvention", "UnknownOp",
]
