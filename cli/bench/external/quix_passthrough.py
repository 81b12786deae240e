"""Quix Streams passthrough: ``--src`` -> ``--dst``, exactly-once (Quix's transactional
producer with the consumed offsets, commit every second). See ``__init__.py`` for how it runs.
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
    ap.add_argument("--guarantee", default="exactly-once",
                    choices=("exactly-once", "at-least-once"))
    args = ap.parse_args()
    from quixstreams import Application

    t0 = time.perf_counter()
    app = Application(broker_address=args.servers, consumer_group=f"quix-{args.dst}",
                      auto_offset_reset="earliest", commit_interval=1.0,
                      processing_guarantee=args.guarantee, loglevel="WARNING",
                      auto_create_topics=False, use_changelog_topics=False,
                      # the test broker delays a group join by half the session timeout
                      # (45 s by default): fluvial reads assigned partitions and never joins
                      consumer_extra_config={"session.timeout.ms": 6000})
    src = app.topic(args.src, key_deserializer="bytes", value_deserializer="bytes")
    dst = app.topic(args.dst, key_serializer="bytes", value_serializer="bytes")
    app.dataframe(src).to_topic(dst)
    app.run(count=args.events, collect=False, timeout=600)
    print(json.dumps({"elapsed_s": time.perf_counter() - t0}), flush=True)


if __name__ == "__main__":
    main()
