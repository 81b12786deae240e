"""The conformance catalog: every case, in a stable order, by name.

>>> from fluvial.testing.conformance.catalog import all_cases, get_case
>>> len(all_cases()) >= 40
True
>>> get_case("fixed_default_gbk").name
'fixed_default_gbk'
"""

from __future__ import annotations

from fluvial.testing.conformance.case import Case

_MODULES = (
    "windows",
    "triggers",
    "lateness",
    "sessions",
    "timestamps",
    "state",
    "timers",
    "outputs",
    "combiners",
    "side_inputs",
)


def all_cases() -> list[Case]:
    """All cases, grouped by theme (windows, triggers, lateness, sessions, timestamps, state,
    timers, outputs, combiners, side inputs), in a stable order with unique names."""
    import importlib

    out: list[Case] = []
    seen: set[str] = set()
    for m in _MODULES:
        mod = importlib.import_module(f"fluvial.testing.conformance.cases_{m}")
        for case in mod.CASES:
            if case.name in seen:
                raise ValueError(f"conformance case name {case.name!r} is used twice")
            seen.add(case.name)
            out.append(case)
    return out


def get_case(name: str) -> Case:
    """The case called ``name``; KeyError listing close names when unknown."""
    for case in all_cases():
        if case.name == name:
            return case
    import difflib

    names = [c.name for c in all_cases()]
    close = difflib.get_close_matches(name, names, n=5)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise KeyError(f"no conformance case named {name!r}{hint}")
