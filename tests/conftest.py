"""The test session's settings: mnetcost's cache of results between runs (``mnetcost.memo``) is off unless
MNETCOST_CACHE says otherwise (``MNETCOST_CACHE=DIR pytest ...`` runs the tests with one), so that each test
computes what it checks; tests/test_memo.py turns it on in folders of its own."""

import os

os.environ.setdefault("MNETCOST_CACHE", "off")
