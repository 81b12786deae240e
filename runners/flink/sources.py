"""Collection sources that resume from Flink checkpoints.

PyFlink's ``from_collection`` reads the elements with a legacy ``InputFormatSourceFunction``,
which keeps no position in checkpoints: a job resumed from a checkpoint taken while it was still
emitting would emit every element again. :func:`resumable_collection` pickles the elements the
same way and hands them to Flink's ``fromData`` instead (a FLIP-27 source whose checkpoints
hold how many elements it emitted), so ``Create`` resumes where it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any


def resumable_collection(env: Any, elements: list, type_info: Any, name: str) -> Any:
    """A DataStream (parallelism 1) of ``elements``, pickled as ``type_info``
    (``Types.PICKLED_BYTE_ARRAY()``)."""
    from pyflink.datastream import DataStream
    from pyflink.java_gateway import get_gateway

    tmp = tempfile.mkdtemp(prefix="fluvial-create-")
    try:
        path = os.path.join(tmp, "elements")
        with open(path, "wb") as f:
            env.serializer.serialize(elements, f)
        j_objs = get_gateway().jvm.PythonBridgeUtils.readPickledBytes(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    j = env._j_stream_execution_environment.fromData(j_objs, type_info.get_java_type_info())
    # a stable operator id: its position survives changes elsewhere in the graph
    return DataStream(j.name(name).uid(f"fluvial/create/{name}").setParallelism(1))
