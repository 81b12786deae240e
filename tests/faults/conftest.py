"""Makes ``tests/support`` and this folder importable (``from committed_view import ...``,
``from faults_support import ...``)."""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SUPPORT = os.path.join(os.path.dirname(HERE), "support")
for path in (SUPPORT, HERE):
    if path not in sys.path:
        sys.path.insert(0, path)
