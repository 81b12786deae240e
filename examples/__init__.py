"""Runnable example pipelines, installed as ``fluvial.examples``: fraud detection on a synthetic
stream or on Kafka (:mod:`fluvial.examples.fraud_detection`) and the self-contained Kafka demo
behind ``fluvial demo fraud`` (:mod:`fluvial.examples.fraud_demo`)."""
