"""The sliding-sum benchmark written directly against PyFlink, as a PyFlink user would: the
baseline `fluvial bench sliding-sum --runner flink --pyflink` times the Flink runner against.

The same events as :mod:`fluvial.cli.bench.sliding_sum` (event ``i``: key ``(i * 2654435761)
mod K``, value ``i mod 10 + 1``, timestamp ``1,000,000 + i + ((i * 7919) mod 101) - 50`` ms),
generated from Flink's own sequence source by a Python map, with a Python timestamp assigner
and Flink's bounded-out-of-orderness watermarks (100 ms, as the fluvial source's), keyed by a
Python key selector, summed by a Python ``AggregateFunction`` over
``SlidingEventTimeWindows.of(10 min, 1 min)`` with a ``ProcessWindowFunction`` for the window
bounds, and folded into the benchmark's order-free checksum by a Python function that writes
its tally to a file when the job ends.

The functions travel by value (this module is pickled with them), so the Flink workers need
only pyflink.
"""

from __future__ import annotations

import glob
import os
import sys
import time
from typing import Any

MASK = (1 << 64) - 1


def _functions(keys: int) -> dict[str, Any]:
    from pyflink.common.watermark_strategy import TimestampAssigner
    from pyflink.datastream.functions import (
        AggregateFunction,
        MapFunction,
        ProcessFunction,
        ProcessWindowFunction,
    )

    class Event(MapFunction):
        def map(self, i):
            return ((i * 2654435761) % keys, i % 10 + 1, 1_000_000 + i + ((i * 7919) % 101) - 50)

    class Stamp(TimestampAssigner):
        def extract_timestamp(self, value, record_timestamp):
            return value[2]

    class Sum(AggregateFunction):
        def create_accumulator(self):
            return 0

        def add(self, value, accumulator):
            return accumulator + value[1]

        def get_result(self, accumulator):
            return accumulator

        def merge(self, a, b):
            return a + b

    class Bounds(ProcessWindowFunction):
        def process(self, key, context, elements):
            w = context.window()
            for total in elements:
                yield (key, w.start, w.end, total)

    class Tally(ProcessFunction):
        def __init__(self, directory):
            self.directory = directory

        def open(self, runtime_context):
            self.count = 0
            self.checksum = 0

        def process_element(self, value, ctx):
            self.count += 1
            self.checksum = (self.checksum + (hash(tuple(value)) & MASK)) & MASK
            return []

        def close(self):
            path = os.path.join(self.directory, f"tally-{os.getpid()}-{id(self)}.txt")
            with open(path, "w", encoding="ascii") as f:
                f.write(f"{self.count} {self.checksum}\n")

    return {"Event": Event, "Stamp": Stamp, "Sum": Sum, "Bounds": Bounds, "Tally": Tally}


def run_pyflink(n: int, keys: int, workdir: str) -> tuple[int, int, float]:
    """Run the PyFlink job over ``n`` events; returns (outputs, checksum, seconds of the job,
    JVM start excluded)."""
    import cloudpickle
    from pyflink.common import Duration, Time, Types, WatermarkStrategy
    from pyflink.datastream import DataStream
    from pyflink.datastream.window import SlidingEventTimeWindows

    from fluvial.runners.flink.environment import create_environment
    from fluvial.runners.flink.options import FlinkOptions

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    env = create_environment(FlinkOptions(), workdir, 1)
    t0 = time.perf_counter()
    fns = _functions(keys)
    long3 = Types.TUPLE([Types.LONG(), Types.LONG(), Types.LONG()])
    seq = DataStream(env._j_stream_execution_environment.fromSequence(0, n - 1))
    events = seq.map(fns["Event"](), output_type=long3)
    strategy = (WatermarkStrategy.for_bounded_out_of_orderness(Duration.of_millis(100))
                .with_timestamp_assigner(fns["Stamp"]()))
    sums = (events.assign_timestamps_and_watermarks(strategy)
            .key_by(lambda e: e[0], key_type=Types.LONG())
            .window(SlidingEventTimeWindows.of(Time.minutes(10), Time.minutes(1)))
            .aggregate(fns["Sum"](), window_function=fns["Bounds"](),
                       accumulator_type=Types.LONG(),
                       output_type=Types.TUPLE([Types.LONG()] * 4)))
    out_dir = os.path.join(workdir, "tallies")
    os.makedirs(out_dir, exist_ok=True)
    sums.process(fns["Tally"](out_dir)).set_parallelism(1)
    env.execute("pyflink-sliding-sum")
    seconds = time.perf_counter() - t0
    count = checksum = 0
    for path in glob.glob(os.path.join(out_dir, "tally-*.txt")):
        with open(path, encoding="ascii") as f:
            c, s = f.read().split()
        count += int(c)
        checksum = (checksum + int(s)) & MASK
    return count, checksum, seconds
