"""The closed vocabularies and defaults of the library, as plain data: one definition that the library's
modules and the CLI both import. Nothing here imports numpy or pandas (the CLI reads it at start-up)."""

FORMATS = ("table", "csv", "json", "markdown")
SPATIAL = ("exact", "continuous")
UNITS = ("macs", "flops")
UNIT_FACTOR = {"macs": 1, "flops": 2}  # FLOPs = 2 x MACs: a multiply-add is a multiply and an add
UNIT_LABEL = {"macs": "MACs", "flops": "FLOPs"}
BREAKDOWNS = ("layer", "op", "block", "stage", "part")  # table --by
DIFF_BREAKDOWNS = ("block", "layer", "part")
TRAIN_BREAKDOWNS = ("block", "layer")

DTYPE_BYTES = {"float32": 4, "float16": 2, "int8": 1}
DTYPES = tuple(DTYPE_BYTES)
TRAIN_DTYPES = ("float32", "float16")  # what a training step keeps its weights and activations in
SCHEDULES = ("layerwise", "materialized")
OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "adam": 2}  # values kept per trainable parameter
OPTIMIZERS = tuple(OPTIMIZER_STATE)

FORMS = {"roofline": "one MAC rate and a bandwidth (MobileNetV4's Eq. 1)",
         "overhead": "one MAC rate, a bandwidth and a cost per layer",
         "classes": "a MAC rate per layer class, a bandwidth and a cost per layer",
         "full": "a MAC rate per layer class, a bandwidth, a cost per layer and per squeeze-excite block, and a cost "
                 "per element of each element-wise operator",
         "suite": "the full model's terms fitted per operator to an operator suite's layers (measure --suite), plus "
                  "the runtime's fixed cost of a call"}
HOLDOUTS = {"network": "leave one network (model and alpha) out", "model": "leave one model out",
            "row": "leave one measurement out"}

DEFAULT_CONVENTION = "paper"
TORCH_CONVENTION = "torchvision"  # train and verify: PyTorch's modules and counter
FIT_ALPHAS = "0.25:1.4:0.05"  # fit's default search grid
FIT_RESOLUTIONS = "96:320:16"
# One rule for every --dtype: float32 (the precision the networks are published, trained and counted in) unless
# given; where a device profile predicts latency (roofline, choose, fit's latency) the profile's own dtype.
DEFAULT_DTYPE = "float32"
DEFAULT_PUBLISHED = "tf-slim"
ACTIVATIONS = ("RE", "RE6", "HS", "SW", "SIG", "HSIG", "GE", "-", "")
OUT_OF_PLACE = ("SIG", "GE")  # activations the PyTorch modules apply out of place (the others in place)
MAX_VALUE = 2**31  # widths, kernels, strides, resolutions: beyond any network, and counts stay inside 64 bits

SUITE_EVICT = 8 << 20  # bytes an operator suite writes before every run of a graph: more than a core's own (L2) cache
SUITE_COLUMNS = ("model", "alpha", "resolution", "convention", "layer", "latency_ms", "graph_ms", "null_ms",
                 "evict_bytes", "own_share", "kernels", "stratum", "pass_sd_pct", "runs", "passes", "threads", "runtime", "host", "date",
                 "note")  # an operator suite's file (measure --suite)
