#!/usr/bin/env bash
# The exhaustive PyTorch grid, on demand: every shipped table x convention x width x class count x
# resolution, built as a module and verified layer by layer (CI runs a rotating sample of it).
# Needs torch: pip install -e ".[test,torch]". Takes minutes on a 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
MNETCOST_REQUIRE_TORCH=1 MNETCOST_TORCH_GRID=full exec pytest -m torch tests/test_torch.py "$@"
