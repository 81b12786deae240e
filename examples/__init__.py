"""Runnable example pipelines, installed as ``fluvial.examples``: fraud detection on a synthetic
stream or on Kafka (:mod:`fluvial.examples.fraud_detection`). ``fluvial demo fraud``
(:mod:`fluvial.cli.fraud_demo`) runs it end to end on a local broker."""
