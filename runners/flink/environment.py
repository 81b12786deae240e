"""The Flink execution environment of a run: a local mini-cluster in this process's JVM
(PyFlink starts one JVM per Python process and keeps it; every run reuses it), or with
``--flink-master HOST:PORT`` a running cluster the job is submitted to through its REST
endpoint; streaming mode, Python functions in thread mode (or process mode), the job's jars
(uploaded with the job), a private temp directory.

A cluster must have Flink's ``flink-python`` jar on its own classpath (``lib/``; PyFlink keeps
it in ``opt/``), as every PyFlink deployment does: shipped with each job instead, the second
job on a TaskManager fails to load the embedded Python's native library (``pemja``) again in
its new class loader. fluvial's cluster launcher sets this up.

Python workers: ``python.executable`` is this interpreter; ``python.pythonpath`` and the JVM's
``PYTHONPATH`` (set when this module starts the JVM) hold this process's site-packages, so the
worker imports pyflink and fluvial from the same environment (see :mod:`.boot` for editable
installs).
"""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Any

from .boot import driver_paths, driver_site_dirs
from .jars import check_jars
from .jvm import find_java, runtime_jar
from .options import FlinkOptions


def _start_gateway() -> None:
    """Start PyFlink's JVM with this process's site-packages on its ``PYTHONPATH`` (thread
    mode embeds CPython in that JVM, which reads it at start) and ``$TMPDIR`` as its
    ``java.io.tmpdir``; a JVM already running is kept."""
    from pyflink import java_gateway

    if getattr(java_gateway, "_gateway", None) is not None:
        return
    find_java()
    saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "JVM_ARGS")}
    old = saved["PYTHONPATH"]
    os.environ["PYTHONPATH"] = os.pathsep.join([*driver_site_dirs(), *([old] if old else [])])
    tmp = os.environ.get("TMPDIR")
    jvm_args = saved["JVM_ARGS"] or ""
    if tmp and "java.io.tmpdir" not in jvm_args:
        os.environ["JVM_ARGS"] = f"{jvm_args} -Djava.io.tmpdir={tmp}".strip()
    try:
        java_gateway.get_gateway()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _url(path: str | pathlib.Path) -> str:
    return pathlib.Path(path).resolve().as_uri()


def create_environment(fopts: FlinkOptions, workdir: str, parallelism: int,
                       extra: dict[str, str] | None = None) -> Any:
    """A StreamExecutionEnvironment for one run; ``workdir`` is the run's private directory
    (Flink's ``io.tmp.dirs`` go under it); ``extra`` holds more Flink settings (checkpoints and
    restarts: :func:`.checkpointing.flink_config`)."""
    from pyflink.common import Configuration
    from pyflink.datastream import RuntimeExecutionMode, StreamExecutionEnvironment

    _start_gateway()
    user_jars = check_jars(fopts.jars)
    tmp = os.path.join(workdir, "flink-tmp")
    os.makedirs(tmp, exist_ok=True)
    conf = Configuration()
    conf.set_string("python.execution-mode", fopts.mode)
    conf.set_string("python.executable", sys.executable)
    conf.set_string("python.client.executable", sys.executable)
    conf.set_string("python.pythonpath", os.pathsep.join([*driver_site_dirs(), *driver_paths()]))
    conf.set_string("io.tmp.dirs", tmp)
    conf.set_string("restart-strategy.type", "none")
    for k, v in (extra or {}).items():
        conf.set_string(k, v)
    if fopts.master is None:
        env = StreamExecutionEnvironment.get_execution_environment(conf)
    else:  # submit to a running cluster through its REST endpoint
        from pyflink.java_gateway import get_gateway

        host, port = fopts.master
        jvm = get_gateway().jvm
        no_jars = get_gateway().new_array(jvm.String, 0)
        j_env = jvm.org.apache.flink.streaming.api.environment.StreamExecutionEnvironment \
            .createRemoteEnvironment(host, port, conf._j_configuration, no_jars)
        env = StreamExecutionEnvironment(j_env)
        env.configure(conf)  # the job's settings (checkpoints, restore) travel with the job
    env.set_runtime_mode(RuntimeExecutionMode.STREAMING)
    env.set_parallelism(parallelism)
    env.add_jars(*(_url(j) for j in [runtime_jar(), *user_jars]))
    return env
