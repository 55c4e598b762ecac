"""Make `mediatag_ml` importable the way PostgreSQL's PL/Python sees it: plpython/ on sys.path."""

import sys
from pathlib import Path

PLPYTHON = str(Path(__file__).resolve().parents[1])
if PLPYTHON not in sys.path:
    sys.path.insert(0, PLPYTHON)
