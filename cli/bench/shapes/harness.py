"""What every shape shares: a deterministic event source whose generation cost is left out of
both timings, an order-free checksum sink, and the measurement of one shape (CPU time of the
pipeline and of the hand loop in the same process, peak RSS of the pipeline run).

Rules of the measurement:

* Events come in chunks from the shape's ``make_chunk(lo, hi)``: a list of ``(value,
  timestamp_ms)``, the same for the pipeline's source and for the hand loop. The CPU time spent
  making chunks is measured around each call and subtracted on both sides, so the ratio compares
  processing, not event generation. The source reports its own watermark (highest timestamp
  seen minus the shape's bound), computed while the chunk is made.
* Outputs are folded into an order-free checksum (sum of 64-bit hashes of normalised rows) and
  a count on both sides; a shape passes when both are equal.
* The hand loop runs under the garbage-collection thresholds the direct runner sets while it
  runs a pipeline (:mod:`fluvial.runners.direct.gc_tuning`), so both sides collect alike.
* Both sides first run on a few events (warm-up: imports and other first-use costs are not
  counted).
* CPU time is ``time.process_time()``; the ratio is hand-loop CPU over pipeline CPU (above 1:
  the pipeline is faster). Each shape runs in a forked child so that its peak RSS
  (``ru_maxrss``, read after the pipeline ran and before the hand loop runs) is its own.
"""

from __future__ import annotations

import gc
import multiprocessing
import resource
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

from fluvial.options import PipelineOptions
from fluvial.pipeline import Pipeline
from fluvial.runners.direct.gc_tuning import batch_gc
from fluvial.sink import Sink, SinkWriter
from fluvial.source import Source, SourceReader
from fluvial.timeutil import MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS

MASK = (1 << 64) - 1
CHUNK = 4096

ChunkFn = Callable[[int, int], list]


def fold(rows: list) -> tuple[int, int]:
    """(count, order-free checksum) of a list of hashable rows: the sum of their hashes modulo
    2**64."""
    return len(rows), sum(map(hash, rows)) & MASK


class Folder:
    """Accumulates :func:`fold` over several lists of rows."""

    __slots__ = ("count", "checksum")

    def __init__(self) -> None:
        self.count = 0
        self.checksum = 0

    def add(self, rows: list) -> None:
        n, acc = fold(rows)
        self.count += n
        self.checksum = (self.checksum + acc) & MASK

    @property
    def result(self) -> tuple[int, int]:
        return self.count, self.checksum


class GenClock:
    """CPU time spent making events (subtracted from the side that made them)."""

    __slots__ = ("cpu",)

    def __init__(self) -> None:
        self.cpu = 0.0


def chunks(make_chunk: ChunkFn, n: int, clock: GenClock, size: int = CHUNK) -> Iterator[list]:
    """The events ``0 .. n-1`` in chunks; the time spent making them goes to ``clock``."""
    pc = time.process_time
    for lo in range(0, n, size):
        t0 = pc()
        c = make_chunk(lo, min(n, lo + size))
        clock.cpu += pc() - t0
        yield c


class _Reader(SourceReader):
    def __init__(self, src: ShapeSource) -> None:
        self.src = src
        self.pos = 0
        self.max_ts = MIN_TIMESTAMP_MS

    def poll(self, max_records: int) -> Any:
        src = self.src
        if self.pos >= src.n:
            return None
        t0 = time.process_time()
        hi = min(src.n, self.pos + max_records)
        got = src.make_chunk(self.pos, hi)
        if got:
            self.max_ts = max(self.max_ts, max(t for _, t in got))
        self.pos = hi
        src.clock.cpu += time.process_time() - t0
        return got

    def watermark(self) -> int:
        if self.pos >= self.src.n:
            return MAX_TIMESTAMP_MS
        if self.max_ts == MIN_TIMESTAMP_MS:
            return MIN_TIMESTAMP_MS
        return self.max_ts - self.src.bound_ms

    def snapshot(self) -> Any:
        return (self.pos, self.max_ts)

    def restore(self, state: Any) -> None:
        self.pos, self.max_ts = state


class ShapeSource(Source):
    """The shape's events ``0 .. n-1``; watermark: highest timestamp seen minus ``bound_ms``."""

    is_bounded = True

    def __init__(self, make_chunk: ChunkFn, n: int, bound_ms: int) -> None:
        self.make_chunk = make_chunk
        self.n = n
        self.bound_ms = bound_ms
        self.clock = GenClock()

    def open(self, ctx: Any) -> SourceReader:
        return _Reader(self)


class _Tally:
    __slots__ = ("count", "checksum", "lock")

    def __init__(self) -> None:
        self.count = 0
        self.checksum = 0
        self.lock = threading.Lock()


_TALLIES: dict[str, _Tally] = {}


class ChecksumSink(Sink):
    """Folds ``row(windowed_value)`` of every output into an order-free checksum."""

    def __init__(self, row: Callable[[Any], Any]) -> None:
        self.row = row
        self.token = uuid.uuid4().hex
        _TALLIES[self.token] = _Tally()

    @property
    def result(self) -> tuple[int, int]:
        t = _TALLIES[self.token]
        return t.count, t.checksum

    def open(self, ctx: Any) -> SinkWriter:
        return _Writer(_TALLIES[self.token], self.row)


class _Writer(SinkWriter):
    def __init__(self, tally: _Tally, row: Callable[[Any], Any]) -> None:
        self.tally = tally
        self.row = row

    def write(self, batch: list) -> None:
        n, acc = fold(list(map(self.row, batch)))
        t = self.tally
        with t.lock:
            t.checksum = (t.checksum + acc) & MASK
            t.count += n


def run_pipeline(shape: Any, n: int, argv: list[str]) -> tuple[tuple[int, int], float]:
    """Run the shape's pipeline on the direct runner: ((count, checksum), CPU seconds net of
    event generation)."""
    if hasattr(shape, "pipeline_run"):
        return shape.pipeline_run(n, argv)
    p = Pipeline(options=PipelineOptions.from_argv(["--runner", "direct", *argv]))
    source = ShapeSource(shape.make_chunk, n, shape.BOUND_MS)
    sink = ChecksumSink(shape.row)
    shape.build(p, source, sink)
    gc.collect()
    t0 = time.process_time()
    p.run().wait_until_finish()
    cpu = time.process_time() - t0 - source.clock.cpu
    result = sink.result
    _TALLIES.pop(sink.token, None)
    return result, cpu


def run_hand_loop(shape: Any, n: int) -> tuple[tuple[int, int], float]:
    """Run the shape's hand loop under the garbage-collection thresholds the direct runner
    runs pipelines with (:mod:`fluvial.runners.direct.gc_tuning`): ((count, checksum), CPU
    seconds net of event generation)."""
    with batch_gc():
        if hasattr(shape, "hand_loop_run"):
            return shape.hand_loop_run(n)
        clock = GenClock()
        gc.collect()
        t0 = time.process_time()
        result = shape.hand_loop(chunks(shape.make_chunk, n, clock))
        return result, time.process_time() - t0 - clock.cpu


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


WARM_UP = 2_000


def measure_here(shape: Any, n: int, argv: list[str], hand_loop: bool = True) -> dict[str, Any]:
    """Measure one shape in this process, after a warm-up run of both sides on a few events
    (so that first-use costs such as imports are not counted). Without ``hand_loop`` only the
    pipeline runs (for its peak RSS at sizes where a hand loop keeping every window in memory
    would not fit): no ratio, outputs unchecked."""
    run_pipeline(shape, min(n, WARM_UP), argv)
    run_hand_loop(shape, min(n, WARM_UP))
    got, cpu = run_pipeline(shape, n, argv)
    rss = _rss_mb()
    if not hand_loop:
        return {"shape": shape.NAME, "events": n, "outputs": got[0], "outputs_match": None,
                "cpu_s": round(cpu, 3), "hand_loop_cpu_s": None, "ratio": None,
                "target": shape.TARGET, "peak_rss_mb": rss, "peak_rss_mb_with_hand_loop": None}
    want, base_cpu = run_hand_loop(shape, n)
    return {
        "shape": shape.NAME,
        "events": n,
        "outputs": got[0],
        "outputs_match": got == want,
        "cpu_s": round(cpu, 3),
        "hand_loop_cpu_s": round(base_cpu, 3),
        "ratio": round(base_cpu / cpu, 3) if cpu > 0 else None,
        "target": shape.TARGET,
        "peak_rss_mb": rss,
        "peak_rss_mb_with_hand_loop": _rss_mb(),
    }


def _child(conn: Any, shape: Any, n: int, argv: list[str], hand_loop: bool) -> None:
    try:
        conn.send(("ok", measure_here(shape, n, argv, hand_loop)))
    except BaseException as e:  # noqa: BLE001 - reported by the parent
        import traceback

        conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def measure(shape: Any, n: int, argv: list[str], hand_loop: bool = True) -> dict[str, Any]:
    """Measure one shape in a forked child (its own peak RSS); in this process where fork is
    not available."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return measure_here(shape, n, argv, hand_loop)
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, shape, n, argv, hand_loop))
    proc.start()
    child.close()
    try:
        status, payload = parent.recv()
    except EOFError:
        status, payload = "error", "the measuring process died"
    proc.join()
    if status != "ok":
        raise RuntimeError(f"shape {shape.NAME}: {payload}")
    return payload
