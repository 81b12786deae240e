"""The Flink runner: fluvial pipelines on Apache Flink through PyFlink 2.3 (``--runner flink``).

Importing this package does not import pyflink; running a pipeline does.
"""

from .runner import FlinkRunner

__all__ = ["FlinkRunner"]
