"""Large payments: the payments of at least ``--min-amount`` from a deterministic synthetic
stream, with the card number masked, written exactly once as JSON lines. Stateless (filter and
map), so it runs on every runner, the Flink runner included:

    fluvial run examples/large_payments.py --output out/large --runner direct
    fluvial run examples/large_payments.py --output out/large --runner flink
    fluvial run examples/large_payments.py --output out/large --runner flink \\
        --flink-master 127.0.0.1:8081 --parallelism 2        # a cluster: fluvial flink start
    fluvial run examples/large_payments.py --output out/large --runner beam \\
        --beam-sink-guarantee at_least_once                  # Beam: files at-least-once

Payment ``i`` (of ``--payments``) is made by card ``4000 0000 0000 <i mod 97, 4 digits>`` for
``(i * 7919) mod 5000 + 1`` at ``i`` seconds (event time), so the output is known in advance:
``payments(n)`` lists them. The output files are ``<output>-00000-of-00001.jsonl`` (and, with
``--checkpoint-dir``, one more part per checkpoint that found new output), each line
``{"payment": i, "card": "**** **** **** 0042", "amount": 4713}``.
"""

from __future__ import annotations

from typing import Any

import fluvial as fl
from fluvial.transforms import Filter, Map
from fluvial.transforms.io import WriteToJsonLines


def payments(n: int) -> list[dict]:
    """The first ``n`` payments of the synthetic stream."""
    return [{"payment": i, "card": f"4000 0000 0000 {i % 97:04d}",
             "amount": (i * 7919) % 5000 + 1, "ts": i * 1000} for i in range(n)]


def mask(p: dict) -> dict:
    """The payment with all but the card number's last four digits hidden."""
    return {"payment": p["payment"], "card": "**** **** **** " + p["card"][-4:],
            "amount": p["amount"]}


def add_arguments(parser: Any) -> None:
    parser.add_argument("--payments", type=int, default=1000, metavar="N",
                        help="payments in the synthetic stream (default: 1000)")
    parser.add_argument("--min-amount", type=int, default=4000, metavar="AMOUNT",
                        help="keep payments of at least this amount (default: 4000)")
    parser.add_argument("--output", default="large-payments/part", metavar="PREFIX",
                        help="output file prefix (default: large-payments/part)")


def build(p: fl.Pipeline) -> fl.PCollection:
    """Large payments, masked, to ``--output``; returns the masked payments."""
    args = p.options.args
    if not hasattr(args, "payments"):  # built directly, without fluvial run's flags
        import argparse

        parser = argparse.ArgumentParser()
        add_arguments(parser)
        args = parser.parse_args([])
    minimum = args.min_amount
    large = (p
             | "Payments" >> fl.Create([fl.TimestampedValue(x, x["ts"] / 1000)
                                        for x in payments(args.payments)])
             | "Large" >> Filter(lambda x: x["amount"] >= minimum)
             | "Mask" >> Map(mask))
    _ = large | "Write" >> WriteToJsonLines(args.output)
    return large
