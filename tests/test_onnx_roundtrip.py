"""Round trip: shipped tables built by mnetcost's PyTorch builder and exported to ONNX as `measure` exports them
(timing.export: eval mode, opset 17, BatchNorms folded by torch's exporter), imported back: the same MACs at
two resolutions, and with --folded-bn the same parameters, under the torchvision (timm for V4) convention.
A consistency check of the importer against the builder (the frameworks' own counts are tests/test_onnx_import.py's)."""

import pytest

pytest.importorskip("torch")
pytest.importorskip("onnx")

import mnetcost  # noqa: E402
from mnetcost.onnx_import import import_onnx  # noqa: E402
from mnetcost.timing import export  # noqa: E402

pytestmark = pytest.mark.measure

MODELS = ["v1", "v2", "v3-large", "v3-small", "lraspp-v3-large", "efficientnet-b0", "mnasnet-b1", "v4-conv-small",
          "v4-hybrid-medium"]
# not round-tripped: DeepLab's and R-ASPP's (not tried), V5 (RMSNorm, GELU, grid pooling are not imported)


@pytest.mark.parametrize("model", MODELS)
def test_shipped_table_exported_and_imported_back_costs_the_same(model, tmp_path):
    convention = "timm" if model.startswith("v4") else "torchvision"
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(export(model, alpha=1.0, resolution=224, convention=convention))
    table = tmp_path / "m.csv"
    table.write_text(import_onnx(onnx_file, folded_bn=True).text, encoding="utf-8")
    for resolution in (224, 160):
        got = mnetcost.cost(str(table), resolution=resolution, convention=convention)
        want = mnetcost.cost(model, resolution=resolution, convention=convention)
        assert got.macs == want.macs
        assert got.params == want.params


def test_ssdlite_exported_at_320_and_imported_back_costs_the_same(tmp_path):
    """Its extra layers stride past 320 px: the import splits its own backbone part (# backbone-end)."""
    onnx_file = tmp_path / "ssd.onnx"
    onnx_file.write_bytes(export("ssdlite-v3-large", alpha=1.0, resolution=320, convention="torchvision"))
    table = tmp_path / "ssd.csv"
    table.write_text(import_onnx(onnx_file, folded_bn=True).text, encoding="utf-8")
    for resolution in (320, 256):
        got = mnetcost.cost(str(table), resolution=resolution, convention="torchvision")
        want = mnetcost.cost("ssdlite-v3-large", resolution=resolution, convention="torchvision")
        assert (got.macs, got.params) == (want.macs, want.params)
