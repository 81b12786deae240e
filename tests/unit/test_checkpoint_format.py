"""The checkpoint file format: what decode() calls damaged and what it calls not authentic."""

from __future__ import annotations

import pickle

import pytest

from fluvial.runners.direct.checkpoint_format import (
    HEADER,
    MAGIC,
    Damaged,
    NotAuthentic,
    decode,
    encode,
)

KEY = bytes(range(32))
BLOB = encode(12, b"0123456789", KEY)


def test_layout_and_round_trip():
    assert len(BLOB) == HEADER + 10 == 98
    assert BLOB[:8] == b"FLUVCKP\x01"
    assert int.from_bytes(BLOB[8:16], "big") == 12 and int.from_bytes(BLOB[16:24], "big") == 10
    assert decode(BLOB, 12, KEY) == b"0123456789"


@pytest.mark.parametrize("data, message", [
    (BLOB[:50], "truncated: 50 bytes, shorter than the 88-byte header"),
    (BLOB[:3], "truncated: 3 bytes, shorter than the 88-byte header"),
    (b"", "truncated: 0 bytes, shorter than the 88-byte header"),
    (BLOB[:-4], "truncated: 6 of 10 payload bytes"),
    (BLOB + b"xy", "2 bytes after the end of the 10-byte payload"),
    (BLOB[:-1] + b"!", "checksum mismatch: its content changed after it was written"),
    (BLOB[:9] + b"\x07" + BLOB[10:], "checksum mismatch"),  # the id field changed
])
def test_damaged(data, message):
    with pytest.raises(Damaged, match=message):
        decode(data, 12, KEY)


@pytest.mark.parametrize("data, message", [
    (pickle.dumps({"fingerprint": "x"}), "an unauthenticated pickle"),
    (b"hello world, this is not a checkpoint", r"not a fluvial checkpoint \(unknown format\)"),
    (MAGIC[:-1] + b"\x02" + BLOB[8:], "format version 2, and this fluvial reads version 1"),
    (BLOB[:HEADER - 1] + bytes([BLOB[HEADER - 1] ^ 1]) + BLOB[HEADER:], "this directory's key"),
])
def test_not_authentic(data, message):
    with pytest.raises(NotAuthentic, match=message):
        decode(data, 12, KEY)


def test_another_key_or_another_name_is_not_authentic():
    with pytest.raises(NotAuthentic, match="not written with this directory's key"):
        decode(BLOB, 12, bytes(32))
    with pytest.raises(NotAuthentic, match="it holds checkpoint 12, not 13: it was renamed"):
        decode(BLOB, 13, KEY)
