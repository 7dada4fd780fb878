"""The absolute rates of the four MobileNetV4 Table 16 device profiles in tables/devices.csv.

Table 16 gives only each device's ridge point RP = peak MACs/s / bandwidth (bytes/s). We keep the
paper's RP and choose the scale so that the roofline time of MNv4-Conv-S (224 px, int8, one byte per
weight and activation, timm convention) equals its Table 6 latency on that device:
    t = sum_i max(MACs_i / P, bytes_i / (P / RP)) = sum_i max(MACs_i, RP * bytes_i) / P
    =>  P = sum_i max(MACs_i, RP * bytes_i) / t_published.
Run: python benchmarks/v4_devices.py  (prints the rows to paste; no framework needed)."""
import numpy as np

import mnetcost

TABLE16 = {  # name: (Table 16 ridge point in MACs/byte, Table 6 column, what)
    "pixel6-cpu-int8": (31.2, "pixel6_cpu_ms", "Pixel 6 CPU"),
    "s23-cpu-int8": (39.7, "s23_cpu_ms", "Samsung Galaxy S23 CPU"),
    "pixel4-dsp-int8": (347.3, "pixel4_hexagon_ms", "Pixel 4 DSP (Hexagon)"),
    "pixel8-edgetpu-int8": (433.8, "pixel8_edgetpu_ms", "Pixel 8 EdgeTPU"),
}

mem = mnetcost.memory("v4-conv-small", dtype="int8", convention="timm")
macs, moved = np.asarray(mem.columns["mult_adds"], float), np.asarray(mem.columns["bytes_moved"], float)
t6 = mnetcost.reference.v4_table6().set_index("label").loc["MNv4-Conv-S"]
for name, (rp, column, what) in TABLE16.items():
    t = t6[column] / 1e3
    peak = float(f"{np.maximum(macs, rp * moved).sum() / t:.4g}")
    print(f"{name},{peak:.4g},{peak / rp:.6g},int8,\"{what}: RP {rp} MACs/byte (V4 Table 16); scale set so that "
          f"MNv4-Conv-S at 224 px takes its Table 6 {t6[column]} ms (benchmarks/v4_devices.py)\"")
