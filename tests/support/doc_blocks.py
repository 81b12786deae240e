"""The python blocks of README.md and docs/*.md, with their markers, for the tests that run
them (tests/unit/test_docs_examples.py on the direct runner, tests/beam on Beam).

Markers, on the line right before a block's opening fence:

- ``<!-- needs-broker -->``: the block talks to the broker at ``127.0.0.1:9092`` (the tests
  replace it with the session's local broker).
- ``<!-- output -->`` before a ```text block: what the python block before it prints (in any
  order: a pipeline's outputs have no order across keys and windows).

Other markers (README's ``main-command`` and ``test-command``) mark other blocks and are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
DOC_ADDRESS = "127.0.0.1:9092"
FENCE = re.compile(r"^```([A-Za-z]*)\n(.*?)^```[ \t]*$", flags=re.S | re.M)
MARKER = re.compile(r"<!-- ([a-z-]+) -->\n\Z")
MARKERS = ("needs-broker", "output")  # others (README's main-command, ...) mark other blocks


@attrs.frozen
class Block:
    path: Path
    line: int
    code: str
    broker: bool
    output: tuple[str, ...] | None  # the lines it prints, when the doc shows them

    @property
    def id(self) -> str:
        return f"{self.path.name}:{self.line}"


def _marker(text: str, start: int) -> str | None:
    m = MARKER.search(text, 0, start)
    return None if m is None else m.group(1)


def blocks_of(path: Path) -> list[Block]:
    """The python blocks of one Markdown file, with their markers and shown output."""
    text = path.read_text(encoding="utf-8")
    found: list[Block] = []
    previous = None  # the language of the block before this one
    for m in FENCE.finditer(text):
        lang, body = m.group(1), m.group(2)
        marker = _marker(text, m.start())
        if lang in ("py", "python3", "Python"):
            raise ValueError(f"{path.name}: a ```{lang} block would not run: write ```python")
        if marker == "output":
            if lang != "text" or previous != "python" or found[-1].output is not None:
                raise ValueError(f"{path.name}: <!-- output --> must mark a ```text block "
                                 "that follows a python block")
            found[-1] = attrs.evolve(found[-1], output=tuple(body.splitlines()))
        elif lang == "python":
            if marker not in (None, "needs-broker"):
                raise ValueError(f"{path.name}: unknown marker <!-- {marker} --> before a "
                                 f"python block; known: {MARKERS}")
            line = text[: m.start(2)].count("\n") + 1
            found.append(Block(path, line, body, marker == "needs-broker", None))
        elif marker in MARKERS:
            raise ValueError(f"{path.name}: <!-- {marker} --> before a ```{lang} block")
        previous = lang
    return found


DOC_FILES = sorted(DOCS.glob("*.md")) + [README]
BLOCKS = [b for path in DOC_FILES for b in blocks_of(path)]


def run_block(block: Block, code: str | None = None) -> None:
    """Run a block's code (or ``code``, the block edited) as ``__main__``."""
    source = block.code if code is None else code
    exec(compile(source, f"{block.path}:{block.line}", "exec"), {"__name__": "__main__"})
