"""Conformance cases where the Flink runner's output differs from fluvial's model, and why.

None today: every case passes. Groupings and stateful DoFns run the sdk's own drivers (the
same code as the direct runner), groupings hold the watermark in Java after them, the Java
combine path is proven equal to the window driver, and scripted input is played exactly
(watermarks at the script's steps, processing time from the script). What a runner cannot do
is a missing capability, not a deviation (:mod:`fluvial.runners.flink.capabilities`: none).
The Flink test suite asserts that
exactly these cases deviate, so a change that makes a case deviate fails until it is fixed or
listed here with its reason.
"""

from __future__ import annotations

KNOWN_DEVIATIONS: dict[str, str] = {}
