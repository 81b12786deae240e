"""``assert_that`` on Beam's local runners: the matcher sees every element of the PCollection.

:class:`fluvial.testing.assertions.MatchContents` (the part of ``assert_that`` after reifying
windows) expands to a grouping in the global window matched when the window ends. On Beam's
DirectRunner that grouping loses what a stateful DoFn's timer emits at the end of input: the
runner does not hold a DoFn's output watermark for its pending timers (apache_beam's
``direct_userstate.py``: "add corresponding watermark holds after the DirectRunner allows for
keyed watermark holds"), so such outputs reach the grouping after the watermark passed the end
of the global window, and it drops them as late. On the local Beam runners the translation
therefore records every element instead (one pickle file per bundle, written at the end of the
bundle, so a retried bundle leaves no partial file) and the runner applies the matcher to all of
them after the run, raising :class:`~fluvial.testing.assertions.PipelineAssertionError` as the
direct runner does. On other Beam runners (workers on other machines) the expansion runs as it is.
"""

from __future__ import annotations

import glob
import os
import pickle
import shutil
import tempfile
import uuid
from typing import Any

import apache_beam as beam

from .options import FN_API_RUNNER

#: Beam runners whose workers share this machine's file system
LOCAL_RUNNERS = frozenset({FN_API_RUNNER, "BundleBasedDirectRunner", "DirectRunner"})


class RecordFn(beam.DoFn):
    """Keeps a bundle's elements and writes them as one pickle file in ``directory`` when the
    bundle finishes."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._buf: list = []

    def start_bundle(self) -> None:
        self._buf = []

    def process(self, element):
        self._buf.append(element)
        return []

    def finish_bundle(self) -> None:
        if not self._buf:
            return
        name = os.path.join(self.directory, f"{uuid.uuid4().hex}")
        with open(name + ".tmp", "wb") as f:
            pickle.dump(self._buf, f)
        os.replace(name + ".tmp", name + ".pkl")
        self._buf = []


class Check:
    """One assert_that to run after the pipeline: ``matcher`` over the records in ``directory``."""

    def __init__(self, label: str, matcher: Any) -> None:
        self.label = label
        self.matcher = matcher
        self.directory = tempfile.mkdtemp(prefix="fluvial-assert-")

    def values(self) -> list:
        out: list = []
        for path in sorted(glob.glob(os.path.join(self.directory, "*.pkl"))):
            with open(path, "rb") as f:
                out.extend(pickle.load(f))
        return out

    def run(self) -> None:
        """Apply the matcher to everything recorded (raises what it raises)."""
        self.matcher(self.values())

    def cleanup(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)
