"""Issue 20, round two: one test per class of defect, each failing on the code before its fix.

Classes: (1) verify and measure bounded by the bytes a forward pass needs; (2) measurements that name a
user's table; (3) everything mnetcost writes reads back; (4) work bounded in time; (5) the library raises
only its own errors, in words a user can act on; (6) non-square sizes in ``Memory.by_resolution``."""

import pytest

import mnetcost
from mnetcost.errors import MnetcostError, UsageError


# ---- (6) non-square inputs keep their width in the widest-tensor rows

def test_by_resolution_keys_non_square_sizes_by_height_and_width():
    rows = mnetcost.memory("v2", resolution=(224, 160)).by_resolution()
    assert list(rows["resolution"][:3]) == ["224x160", "112x80", "56x40"]
    assert rows.loc[rows["resolution"] == "112x80", "bytes"].item() == 112 * 80 * 16 * 2
    square = mnetcost.memory("v2").by_resolution()  # a square input keeps its integer sides
    assert list(square["resolution"][:2]) == [224, 112]
