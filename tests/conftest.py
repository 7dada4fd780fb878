"""The test session's settings: mnetcost's cache of results between runs (``mnetcost.memo``) is off, so that each
test computes what it checks; tests/test_memo.py turns it on in folders of its own."""

import os

os.environ["MNETCOST_CACHE"] = "off"
