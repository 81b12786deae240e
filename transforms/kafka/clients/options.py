"""Native client configuration (``consumer_config`` / ``producer_config``) is passed to the
chosen library as it is: librdkafka properties for confluent-kafka (``"security.protocol"``,
dotted names), keyword arguments for kafka-python (``security_protocol``, underscores). A dict
written for the other library is refused with an error naming the key and the fix, before the
library sees it.

>>> check_config_style("Read", {"security.protocol": "SSL"}, "confluent")
>>> check_config_style("Read", {"security.protocol": "SSL"}, "kafka-python")
Traceback (most recent call last):
...
fluvial.errors.PipelineConstructionError: transform 'Read': config key 'security.protocol' is a librdkafka property (confluent-kafka), but this transform uses the kafka-python client: pass kafka-python keyword arguments (e.g. security_protocol=...), or client='confluent'
"""

from __future__ import annotations

from typing import Any

from fluvial.errors import PipelineConstructionError

#: confluent-kafka's own (Python) settings: callbacks and the logger, underscored names
CONFLUENT_PY_KEYS = frozenset({"error_cb", "stats_cb", "throttle_cb", "oauth_cb", "on_delivery",
                               "on_commit", "logger"})


def check_config_style(label: str, config: dict[str, Any], backend: str) -> None:
    for key in config:
        if backend == "kafka-python" and "." in key:
            raise PipelineConstructionError(
                f"transform '{label}': config key {key!r} is a librdkafka property "
                "(confluent-kafka), but this transform uses the kafka-python client: pass "
                f"kafka-python keyword arguments (e.g. {key.replace('.', '_')}=...), or "
                "client='confluent'")
        if backend == "confluent" and "_" in key and "." not in key \
                and key not in CONFLUENT_PY_KEYS:
            raise PipelineConstructionError(
                f"transform '{label}': config key {key!r} is a kafka-python keyword argument, "
                "but this transform uses the confluent-kafka client: pass librdkafka properties "
                f"(e.g. {key.replace('_', '.')!r}), or client='kafka-python'")


__all__ = ["check_config_style"]
