"""A job for the lock test, run as a subprocess: ``N`` numbers through a Map that sleeps
``DELAY`` seconds and prints ``seen=<x>`` per element, with ``--checkpoint-dir CK``.

    python tests/faults/lock_job.py CK N DELAY
"""

from __future__ import annotations

import sys
import time

import fluvial as fl
from fluvial.transforms import Map


def main(ck: str, n: int, delay: float) -> None:
    def slow(x: int) -> int:
        time.sleep(delay)
        print(f"seen={x}", flush=True)
        return x

    p = fl.Pipeline(argv=["--runner", "direct", "--checkpoint-dir", ck,
                          "--checkpoint-interval", "0", "--batch-size", "1"])
    _ = p | "Numbers" >> fl.Create(list(range(n))) | "Slow" >> Map(slow)
    result = p.run()
    print(f"DONE restored_from={result.info['restored_from']}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
