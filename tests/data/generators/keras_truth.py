"""Ground-truth parameter counts / layer details from real Keras 3 MobileNet models.

Run:  KERAS_BACKEND=torch venv/bin/python truth.py
Outputs (next to this file):
  keras_totals.csv   - one row per (model, alpha, minimalistic, resolution, classes, include_top)
  keras_layers.csv   - per-layer detail (layers with weights) for 5 reference configs
  keras_shapes97.csv - output spatial size of every layer at 97x97 (and 224) for alpha=1.0 models
  keras_errors.csv   - any construction errors (empty header-only if none)
"""
import csv
import inspect
import os
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "torch")
import numpy as np  # noqa: E402
import keras  # noqa: E402

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # writes into tests/data
KV = keras.__version__
A = keras.applications

MODELS = {
    "MobileNet": (A.MobileNet, [0.25, 0.5, 0.75, 1.0, 1.3], [False]),
    "MobileNetV2": (A.MobileNetV2, [0.35, 0.5, 0.75, 1.0, 1.3, 1.4], [False]),
    "MobileNetV3Large": (A.MobileNetV3Large, [0.35, 0.5, 0.75, 1.0, 1.3], [False, True]),
    "MobileNetV3Small": (A.MobileNetV3Small, [0.35, 0.5, 0.75, 1.0, 1.3], [False, True]),
}
RESOLUTIONS = [224, 97, 160]
CLASSES = [10, 1000, 1001]


def build(model, alpha, minimalistic, res, classes, include_top):
    fn = MODELS[model][0]
    kw = dict(input_shape=(res, res, 3), alpha=alpha, weights=None, include_top=include_top)
    if include_top:
        kw["classes"] = classes
    else:
        kw["pooling"] = None
    if model.startswith("MobileNetV3"):
        kw["minimalistic"] = minimalistic
        if "include_preprocessing" in inspect.signature(fn).parameters:
            kw["include_preprocessing"] = False
    return fn(**kw)


def counts(m):
    total = m.count_params()
    tr = int(sum(np.prod(w.shape) for w in m.trainable_weights))
    ntr = int(sum(np.prod(w.shape) for w in m.non_trainable_weights))
    assert tr + ntr == total, (tr, ntr, total)
    return total, tr, ntr


def totals():
    rows, errors = [], []
    for model, (fn, alphas, minis) in MODELS.items():
        for alpha in alphas:
            for mini in minis:
                for res in RESOLUTIONS:
                    combos = [(c, True) for c in CLASSES] + [("", False)]
                    for classes, top in combos:
                        try:
                            m = build(model, alpha, mini, res, classes, top)
                            t, tr, ntr = counts(m)
                            rows.append([model, alpha, mini, res, classes, top, t, tr, ntr, KV])
                        except Exception as e:  # record refusals
                            msg = f"{type(e).__name__}: {e}".replace("\n", " ")
                            errors.append([model, alpha, mini, res, classes, top, msg, KV])
                            rows.append([model, alpha, mini, res, classes, top, "ERROR", "", "", KV])
                        keras.backend.clear_session()
            print(model, alpha, "done", flush=True)
    with open(os.path.join(HERE, "keras_totals.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "alpha", "minimalistic", "resolution", "classes", "include_top",
                    "params_total", "params_trainable", "params_nontrainable", "keras_version"])
        w.writerows(rows)
    with open(os.path.join(HERE, "keras_errors.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "alpha", "minimalistic", "resolution", "classes", "include_top",
                    "error", "keras_version"])
        w.writerows(errors)
    return rows, errors


LAYER_CFGS = [
    ("MobileNet", 1.0, False),
    ("MobileNetV2", 0.35, False),
    ("MobileNetV3Large", 0.75, False),
    ("MobileNetV3Small", 1.0, False),
    ("MobileNetV3Small", 0.35, True),
]


def conv_info(l):
    cfg = l.get_config()
    out = dict(filters="", kernel_size="", strides="", padding="", use_bias="", groups="",
               depth_multiplier="", units="")
    for k in out:
        if k in cfg:
            v = cfg[k]
            out[k] = "x".join(map(str, v)) if isinstance(v, (list, tuple)) else v
    return out


def layers_detail():
    rows = []
    for model, alpha, mini in LAYER_CFGS:
        m = build(model, alpha, mini, 224, 1000, True)
        for idx, l in enumerate(m.layers):
            if not l.weights:
                continue
            ci = conv_info(l)
            tr = int(sum(np.prod(w.shape) for w in l.trainable_weights))
            ntr = int(sum(np.prod(w.shape) for w in l.non_trainable_weights))
            rows.append([model, alpha, mini, 224, 1000, idx, l.name, type(l).__name__,
                         str(tuple(l.output.shape)), l.count_params(), tr, ntr,
                         ci["filters"], ci["kernel_size"], ci["strides"], ci["padding"],
                         ci["use_bias"], ci["groups"], ci["depth_multiplier"], ci["units"],
                         ";".join(f"{w.path}{tuple(w.shape)}" for w in l.weights), KV])
        keras.backend.clear_session()
    with open(os.path.join(HERE, "keras_layers.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "alpha", "minimalistic", "resolution", "classes", "layer_index",
                    "layer_name", "layer_class", "output_shape", "params", "params_trainable",
                    "params_nontrainable", "filters", "kernel_size", "strides", "padding",
                    "use_bias", "groups", "depth_multiplier", "units", "weights", "keras_version"])
        w.writerows(rows)
    return rows


SHAPE_CFGS = [
    ("MobileNet", 1.0, False),
    ("MobileNetV2", 1.0, False),
    ("MobileNetV3Large", 1.0, False),
    ("MobileNetV3Small", 1.0, False),
]


def shapes():
    rows = []
    for res in [97, 224]:
        for model, alpha, mini in SHAPE_CFGS:
            m = build(model, alpha, mini, res, 1000, True)
            for idx, l in enumerate(m.layers):
                shp = tuple(l.output.shape)
                rows.append([model, alpha, mini, res, idx, l.name, type(l).__name__, str(shp),
                             shp[1] if len(shp) == 4 else "", shp[-1]])
            keras.backend.clear_session()
    with open(os.path.join(HERE, "keras_shapes.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["model", "alpha", "minimalistic", "resolution", "layer_index", "layer_name",
                    "layer_class", "output_shape", "spatial", "channels"])
        w.writerows(rows)
    return rows


def rescaling_check():
    out = {}
    for name in ["MobileNetV3Large", "MobileNetV3Small"]:
        fn = MODELS[name][0]
        m = fn(input_shape=(224, 224, 3), weights=None, include_preprocessing=True)
        resc = [l for l in m.layers if type(l).__name__ == "Rescaling"]
        m2 = build(name, 1.0, False, 224, 1000, True)
        out[name] = dict(rescaling_layers=len(resc),
                         rescaling_params=sum(l.count_params() for l in resc),
                         total_with_preproc=m.count_params(),
                         total_without_preproc=m2.count_params())
        keras.backend.clear_session()
    return out


if __name__ == "__main__":
    t0 = time.time()
    print("keras", KV, "backend", keras.backend.backend())
    print("rescaling:", rescaling_check())
    lr = layers_detail()
    print("layers rows", len(lr))
    sr = shapes()
    print("shape rows", len(sr))
    if "--no-totals" not in sys.argv:
        r, e = totals()
        print("totals rows", len(r), "errors", len(e))
    print("elapsed %.1fs" % (time.time() - t0))
