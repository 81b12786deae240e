"""The runner registry: runner names mapped to import strings, loaded only when used, so
``import fluvial`` never imports a runner (or pyflink / apache_beam).

Third-party runners register through the ``fluvial.runners`` entry-point group.

>>> sorted(known_runners())[:3]
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
    "flink": ("fluvial.runners.flink:FlinkRunner", "flink"),
    "beam": ("fluvial.runners.beam:BeamRunner", "beam"),
}

# modules whose absence means "the extra is not installed"
_EXTRA_MODULES = {"flink": ("pyflink",), "beam": ("apache_beam",)}


# CLI commands implemented outside the sdk (they need IO transforms or examples): loaded by
# import string only when run, like the runners, so the sdk never imports them statically
_COMMANDS: dict[str, str] = {
    "bench kafka-passthrough": "fluvial.transforms.kafka.bench",
    "demo fraud": "fluvial.examples.fraud_demo",
}


def load_command(name: str) -> Any:
    """The module implementing CLI command ``name`` (e.g. ``"demo fraud"``)."""
    return importlib.import_module(_COMMANDS[name])


def _entry_points() -> dict[str, str]:
    try:
        eps = metadata.entry_points(group="fluvial.runners")
    except Exception:  # pragma: no cover - broken metadata
        return {}
    return {ep.name: ep.value for ep in eps}


def known_runners() -> dict[str, str]:
    out = {name: spec for name, (spec, _) in _BUILTIN.items()}
    out.update(_entry_points())
    return out


def get_runner(name: str, **kwargs: Any) -> Any:
    """Instantiate the runner registered under ``name``."""
    runners = known_runners()
    if name not in runners:
        raise RunnerNotFoundError(
            f"unknown runner '{name}'; known runners: {', '.join(sorted(runners))}"
        )
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
