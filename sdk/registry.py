"""The runner registry: runner names mapped to import strings, loaded only when used, so
``import fluvial`` never imports a runner (or apache_beam / pyflink).

Rules: a built-in runner is a row of ``_BUILTIN`` (import string, and the extra that provides
its dependencies); third-party runners register through the ``fluvial.runners`` entry-point
group (an entry point wins over a built-in or planned name). A *planned* runner (``_PLANNED``)
is not offered anywhere (``known_runners``, ``fluvial runners``); asking for it is an error
that says it is planned. The registry names runners only: it never names transforms, examples
or tooling.

>>> sorted(known_runners())
['beam', 'direct', 'flink']
"""

from __future__ import annotations

import importlib
import importlib.util
from importlib import metadata
from typing import Any

from fluvial.errors import RunnerNotFoundError

_BUILTIN: dict[str, tuple[str, str]] = {
    # name: (import string "module:attr", extra that provides its dependencies)
    "direct": ("fluvial.runners.direct:DirectRunner", ""),
    "beam": ("fluvial.runners.beam:BeamRunner", "beam"),
    "flink": ("fluvial.runners.flink:FlinkRunner", "flink"),
}

# modules whose absence means "the extra is not installed"
_EXTRA_MODULES = {"beam": ("apache_beam",), "flink": ("pyflink",)}

# runners that are announced but not part of this version: name -> what the user is told
_PLANNED: dict[str, str] = {}


def _entry_points() -> dict[str, str]:
    try:
        eps = metadata.entry_points(group="fluvial.runners")
    except Exception:  # pragma: no cover - broken metadata
        return {}
    return {ep.name: ep.value for ep in eps}


def known_runners() -> dict[str, str]:
    """The runners this installation offers: name -> import string."""
    out = {name: spec for name, (spec, _) in _BUILTIN.items()}
    out.update(_entry_points())
    return out


def get_runner(name: str, **kwargs: Any) -> Any:
    """Instantiate the runner registered under ``name``."""
    runners = known_runners()
    if name not in runners:
        available = ", ".join(sorted(runners))
        if name in _PLANNED:
            raise RunnerNotFoundError(
                f"runner '{name}': {_PLANNED[name]}; available runners: {available}"
            )
        raise RunnerNotFoundError(f"unknown runner '{name}'; known runners: {available}")
    spec = runners[name]
    module_name, _, attr = spec.partition(":")
    extra = _BUILTIN.get(name, ("", ""))[1]
    for dep in _EXTRA_MODULES.get(extra, ()):
        if importlib.util.find_spec(dep) is None:
            raise RunnerNotFoundError(
                f"runner '{name}' needs the Python package '{dep}', which is not installed; "
                f"install it with: pip install 'fluvial[{extra}]'"
            )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as e:
        if e.name and module_name.startswith(e.name) and e.name.startswith("fluvial.runners"):
            raise RunnerNotFoundError(
                f"runner '{name}' is registered but not part of this version of fluvial "
                f"(module {module_name} is missing); available now: "
                f"{', '.join(n for n in sorted(runners) if _importable(runners[n]))}"
            ) from None
        raise
    cls = getattr(module, attr)
    return cls(**kwargs)


def _importable(spec: str) -> bool:
    try:
        return importlib.util.find_spec(spec.partition(":")[0]) is not None
    except ModuleNotFoundError:
        return False
