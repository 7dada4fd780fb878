"""Vocabularies shared by the library and the CLI, in a module that imports nothing (so the CLI can offer
them as choices without loading numpy)."""

ACTIVATIONS = ("RE", "RE6", "HS", "SW", "SIG", "HSIG", "GE", "-", "")
OUT_OF_PLACE = ("SIG", "GE")  # activations the PyTorch modules apply out of place (the others in place)
MAX_VALUE = 2**31  # widths, kernels, strides, resolutions: beyond any network, and counts stay inside 64 bits
DTYPES = ("float32", "float16", "int8")  # activations' and weights' element types (bytes: 4, 2, 1)
SCHEDULES = ("layerwise", "materialized")  # executors for peak memory (see mnetcost.traffic)
OPTIMIZERS = ("sgd", "momentum", "adam")  # values kept per trainable parameter: 0, 1, 2
