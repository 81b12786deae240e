"""Bytewax passthrough: ``--src`` -> ``--dst`` with Bytewax's Kafka connector (no delivery
guarantee configured: no recovery store). The source stops at the end of the partitions
(``tail=False``). See ``__init__.py`` for how it runs.
"""

from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--servers", required=True)
    ap.add_argument("--src", required=True)
    ap.add_argument("--dst", required=True)
    ap.add_argument("--events", type=int, required=True)
    args = ap.parse_args()
    import bytewax.operators as op
    from bytewax.connectors.kafka import KafkaSink, KafkaSinkMessage, KafkaSource
    from bytewax.dataflow import Dataflow
    from bytewax.testing import run_main

    t0 = time.perf_counter()
    flow = Dataflow("passthrough")
    msgs = op.input("in", flow, KafkaSource([args.servers], [args.src], tail=False))
    out = op.map("copy", msgs, lambda m: KafkaSinkMessage(m.key, m.value))
    op.output("out", out, KafkaSink([args.servers], args.dst))
    run_main(flow)
    print(json.dumps({"elapsed_s": time.perf_counter() - t0}), flush=True)


if __name__ == "__main__":
    main()
