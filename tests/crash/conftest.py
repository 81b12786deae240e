"""Makes ``tests/support`` importable (``from committed_view import committed_view``)."""

from __future__ import annotations

import os
import sys

SUPPORT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "support")
if SUPPORT not in sys.path:
    sys.path.insert(0, SUPPORT)
