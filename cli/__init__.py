"""fluvial's tooling, installed as ``fluvial.cli``: the ``fluvial`` command
(:mod:`fluvial.cli.main`), the local Kafka-protocol broker launcher
(:mod:`fluvial.cli.localbroker`), the benchmarks (:mod:`fluvial.cli.bench`) and the Kafka fraud
demo (:mod:`fluvial.cli.fraud_demo`).

Rule: tooling may import everything (the sdk, transforms, runners, examples); nothing in the
model package (``fluvial``), ``fluvial.transforms`` or ``fluvial.runners`` imports it, and
``import fluvial`` loads none of it. Process management (``subprocess``, ``signal``) lives here,
never in the sdk. This package's ``__init__`` imports nothing, so importing one tool loads only
that tool.
"""
