"""Bootstrapping fluvial inside Flink's Python workers.

PyFlink unpickles a Python function before it calls ``open``. In thread mode the worker is a
CPython embedded in the TaskManager's JVM: ``PYTHONPATH`` puts the venv's site-packages on
``sys.path`` but its ``.pth`` files are not processed, so an editable install of fluvial (found
through a ``.pth`` import hook) is not importable there. The functions fluvial hands to Flink are
therefore :class:`Booted` wrappers: this module is pickled *by value* (its code travels with the
job and needs only the standard library and pyflink), holds the real function as bytes, and in
``open`` first adds the driver's site directories with ``site.addsitedir`` (which runs their
``.pth`` files), then unpickles the function and hands every call to it.

Rule: this module imports nothing from fluvial.
"""

from __future__ import annotations

import os
import site
import sys
from typing import Any

import cloudpickle
from pyflink.datastream.functions import KeyedProcessFunction, ProcessFunction


def driver_site_dirs() -> list[str]:
    """The site directories of the process building the job (the venv's site-packages)."""
    dirs = [p for p in site.getsitepackages() if p]
    user = site.getusersitepackages()
    if isinstance(user, str) and user not in dirs:
        dirs.append(user)
    return dirs


def driver_paths() -> list[str]:
    """The driver's ``sys.path`` directories, so that modules the pipeline's functions come
    from (a test module, the user's program) import in a worker on the same machine."""
    return [p for p in sys.path if p and os.path.isdir(p)]


def _ensure_site(dirs: list[str], paths: list[str]) -> None:
    for p in paths:
        if p not in sys.path:
            sys.path.append(p)
    # once per interpreter (a second run of an editable install's .pth would install its
    # import hook twice); the record lives on ``sys`` because this module is rebuilt from its
    # pickled code for every function
    done = sys.__dict__.setdefault("_fluvial_site_dirs", set())
    for d in dirs:
        if d not in done:
            site.addsitedir(d)
            done.add(d)


class Booted(ProcessFunction):
    """A ProcessFunction that unpickles the real one (``payload``) once the driver's ``paths``
    and ``site_dirs`` are on ``sys.path``, then delegates ``open``, ``process_element`` and
    ``close`` to it."""

    def __init__(self, payload: bytes, site_dirs: list[str], paths: list[str]) -> None:
        self.payload = payload
        self.site_dirs = site_dirs
        self.paths = paths
        self.inner: Any = None

    def open(self, runtime_context: Any) -> None:
        _ensure_site(self.site_dirs, self.paths)
        self.inner = cloudpickle.loads(self.payload)
        self.inner.open(runtime_context)

    def process_element(self, value: Any, ctx: Any) -> Any:
        return self.inner.process_element(value, ctx)

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


class BootedKeyed(KeyedProcessFunction):
    """:class:`Booted` for keyed process functions (``on_timer`` too)."""

    def __init__(self, payload: bytes, site_dirs: list[str], paths: list[str]) -> None:
        self.payload = payload
        self.site_dirs = site_dirs
        self.paths = paths
        self.inner: Any = None

    def open(self, runtime_context: Any) -> None:
        _ensure_site(self.site_dirs, self.paths)
        self.inner = cloudpickle.loads(self.payload)
        self.inner.open(runtime_context)

    def process_element(self, value: Any, ctx: Any) -> Any:
        return self.inner.process_element(value, ctx)

    def on_timer(self, timestamp: int, ctx: Any) -> Any:
        return self.inner.on_timer(timestamp, ctx)

    def close(self) -> None:
        if self.inner is not None:
            self.inner.close()


def boot(fn: Any, keyed: bool = False) -> Any:
    """``fn`` wrapped so that it can be unpickled in any Flink Python worker."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    wrapper = BootedKeyed if keyed else Booted
    return wrapper(cloudpickle.dumps(fn), driver_site_dirs(), driver_paths())
