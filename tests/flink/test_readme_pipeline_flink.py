"""The README's first pipeline "runs the same on --runner flink": run as written, as a script
with ``--runner flink`` on its command line, it prints what the README shows below it (the
direct runner's run of the same block is checked by tests/unit/test_docs_examples.py).

It runs in a child process: on the Flink runner ``print`` runs inside Flink's Python worker,
whose stdout is the one the child's JVM inherited, so the child's captured stdout holds it.
The child gets this process's environment without ``PYFLINK_GATEWAY_DISABLED``, which PyFlink
sets once Python functions have run here (the earlier tests' jobs) and which would make the
child refuse to start its own gateway, as a user's script started from a shell never does."""

from __future__ import annotations

import os
import subprocess
import sys

from doc_blocks import BLOCKS, README


def test_readme_pipeline_prints_the_same_on_flink(tmp_path):
    block = next(b for b in BLOCKS if b.path == README)
    assert "--runner direct|beam|flink" in block.code
    script = tmp_path / "readme_pipeline.py"
    script.write_text(block.code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYFLINK_GATEWAY_DISABLED"}
    done = subprocess.run([sys.executable, str(script), "--runner", "flink"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    printed = [line for line in done.stdout.splitlines() if line.startswith("(")]
    assert sorted(printed) == sorted(block.output) == ["('alice', 160.0)", "('bob', 9800.0)"]
