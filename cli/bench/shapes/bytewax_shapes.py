"""The shapes of ``fluvial bench shapes`` written for Bytewax, for the comparison in
docs/performance.md. Bytewax is not a dependency of fluvial: run this in an environment that has
both (``pip install 'bytewax==0.21.*'`` next to fluvial):

    python -m fluvial.cli.bench.shapes.bytewax_shapes [--events N] [--shape NAME ...] [--json]

Same events, same hand loops, same measurement as the shapes benchmark
(:mod:`fluvial.cli.bench.shapes.harness`): CPU time net of event generation, in one process per
shape, outputs checked equal through the same order-free checksums, the hand loop and the
dataflow both under the garbage-collection thresholds the direct runner uses. Bytewax runs its
testing source (batches of 4,096 items, as fluvial's default batch) with one worker
(``run_main``); its windows need datetimes, so the event-time getter converts each event's
milliseconds, and as its event clock's watermark also follows the wall clock it waits 10 s of
event time before closing a window (so that, like fluvial here, it drops nothing as late). Bytewax cannot express the early-trigger shape (its windows emit when they
close, with no early firing) nor a columnar source (the point of sliding-1m-keys).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from datetime import datetime, timedelta, timezone
from typing import Any

from fluvial.runners.direct.gc_tuning import batch_gc

from . import shape_module
from .harness import CHUNK, Folder, GenClock, chunks, run_hand_loop

UTC = timezone.utc
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EXPRESSIBLE = ("fraud", "sessions", "stateful", "stateless", "gbk-fixed")


def _items(shape: Any, n: int, clock: GenClock) -> Any:
    for chunk in chunks(shape.make_chunk, n, clock):
        yield from chunk


def _when(item: Any) -> datetime:
    return EPOCH + timedelta(milliseconds=item[1])


def _sink(folder: Folder, row: Any) -> Any:
    from bytewax.outputs import DynamicSink, StatelessSinkPartition

    class _Part(StatelessSinkPartition):
        def write_batch(self, items: list) -> None:
            folder.add([row(x) for x in items])

    class _Sink(DynamicSink):
        def build(self, step_id: str, worker_index: int, worker_count: int) -> Any:
            return _Part()

    return _Sink()


def _flow(name: str, shape: Any, source: Any, folder: Folder) -> Any:
    import bytewax.operators as op
    import bytewax.operators.windowing as win
    from bytewax.dataflow import Dataflow

    flow = Dataflow(name)
    s = op.input("in", flow, source)
    if name == "stateless":
        parsed = op.map("parse", s, lambda it: (shape.parse_request(it[0]), it[1]))
        large = op.filter("large", parsed, lambda it: shape.is_large(it[0]))
        kb = op.map("kb", large, lambda it: (shape.to_kb(it[0]), it[1]))
        segs = op.flat_map("segments", kb, lambda it: [(o, it[1]) for o in shape.path_segments(it[0])])
        op.output("out", segs, _sink(folder, lambda it: it))
        return flow
    if name == "stateful":
        parsed = op.map("parse", s, lambda it: shape.parse_event(it[0]))
        keyed = op.key_on("key", parsed, lambda e: e[0])

        def every(count: Any, e: Any) -> Any:
            n = (count or 0) + 1
            return n, (n if n % shape.EVERY == 0 else None)

        counted = op.stateful_map("count", keyed, every)
        hits = op.filter("hits", counted, lambda kv: kv[1] is not None)
        op.output("out", hits, _sink(folder, lambda kv: (kv[0], kv[1])))
        return flow
    # Bytewax's EventClock watermark also advances with the wall clock while items are
    # processed: 10 s of slack so that it drops nothing as late (the shapes' data has none)
    wait = timedelta(milliseconds=max(shape.BOUND_MS, 10_000))
    if name == "fraud":
        parsed = op.map("parse", s, lambda it: (shape.parse_txn(it[0]), it[1]))
        keyed = op.key_on("key", parsed, lambda it: shape.account_of(it[0]))
        clock = win.EventClock(_when, wait_for_system_duration=wait)
        windower = win.SlidingWindower(length=timedelta(milliseconds=shape.SIZE_MS),
                                       offset=timedelta(milliseconds=shape.PERIOD_MS),
                                       align_to=EPOCH)
        out = win.fold_window("sum", keyed, clock, windower, lambda: (0, 0),
                              lambda acc, it: (acc[0] + it[0][1], acc[1] + 1),
                              lambda a, b: (a[0] + b[0], a[1] + b[1]))
        over = op.filter("over", out.down, lambda kv: kv[1][1][0] > shape.THRESHOLD)

        def row(kv: Any) -> tuple:
            key, (wid, (total, count)) = kv
            start = wid * shape.PERIOD_MS
            return (key, start, start + shape.SIZE_MS, total, count)

        op.output("out", over, _sink(folder, row))
        return flow
    if name == "sessions":
        parsed = op.map("parse", s, lambda it: (shape.parse_click(it[0]), it[1]))
        keyed = op.key_on("key", parsed, lambda it: it[0][0])
        clock = win.EventClock(_when, wait_for_system_duration=wait)
        windower = win.SessionWindower(gap=timedelta(milliseconds=shape.GAP_MS))
        out = win.fold_window("count", keyed, clock, windower, lambda: None,
                              lambda acc, it: [1, it[1], it[1]] if acc is None
                              else [acc[0] + 1, min(acc[1], it[1]), max(acc[2], it[1])],
                              lambda a, b: [a[0] + b[0], min(a[1], b[1]), max(a[2], b[2])])

        def row(kv: Any) -> tuple:
            user, (_, (count, first, last)) = kv
            return (user, first, last + shape.GAP_MS, count)

        op.output("out", out.down, _sink(folder, row))
        return flow
    if name == "gbk-fixed":
        parsed = op.map("parse", s, lambda it: (shape.parse_kv(it[0]), it[1]))
        keyed = op.key_on("key", parsed, lambda it: it[0][0])
        clock = win.EventClock(_when, wait_for_system_duration=wait)
        windower = win.TumblingWindower(length=timedelta(milliseconds=shape.SIZE_MS),
                                        align_to=EPOCH)
        out = win.collect_window("group", keyed, clock, windower)
        sums = op.map("sum", out.down,
                      lambda kv: (kv[0], kv[1][0], shape.sum_values((kv[0], [it[0][1] for it in kv[1][1]]))))

        def row(x: Any) -> tuple:
            key, wid, (_, total) = x
            return (key, wid * shape.SIZE_MS, total)

        op.output("out", sums, _sink(folder, row))
        return flow
    raise ValueError(f"Bytewax cannot express shape {name!r}")


def measure_here(name: str, n: int) -> dict[str, Any]:
    from bytewax.testing import TestingSource, run_main

    shape = shape_module(name)

    def run(events: int) -> tuple[tuple[int, int], float]:
        clock, folder = GenClock(), Folder()
        flow = _flow(name, shape, TestingSource(_items(shape, events, clock), batch_size=CHUNK),
                     folder)
        with batch_gc():
            t0 = time.process_time()
            run_main(flow)
            cpu = time.process_time() - t0 - clock.cpu
        return folder.result, cpu

    run(min(n, 2_000))  # warm-up
    run_hand_loop(shape, min(n, 2_000))
    got, cpu = run(n)
    want, base = run_hand_loop(shape, n)
    return {"shape": name, "events": n, "outputs": got[0], "outputs_match": got == want,
            "bytewax_cpu_s": round(cpu, 3), "hand_loop_cpu_s": round(base, 3),
            "ratio": round(base / cpu, 3) if cpu > 0 else None}


def _child(conn: Any, name: str, n: int) -> None:
    try:
        conn.send(measure_here(name, n))
    except BaseException as e:  # noqa: BLE001 - reported by the parent
        conn.send({"shape": name, "error": f"{type(e).__name__}: {e}"})
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fluvial.cli.bench.shapes.bytewax_shapes",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000, help="events per shape")
    p.add_argument("--shape", action="append", choices=EXPRESSIBLE,
                   help="a shape to run (repeatable; default: all Bytewax can express)")
    p.add_argument("--json", action="store_true", help="print one JSON list")
    args = p.parse_args(argv)
    ctx = multiprocessing.get_context("fork")
    results = []
    for name in args.shape or EXPRESSIBLE:
        parent, child = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(child, name, args.events))
        proc.start()
        child.close()
        results.append(parent.recv())
        proc.join()
    if args.json:
        print(json.dumps(results))
    else:
        for r in results:
            print(r)
    return 0 if all(r.get("outputs_match") for r in results) else 1


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
