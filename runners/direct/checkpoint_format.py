"""The bytes of a checkpoint file: a header, a checksum, a MAC, then the payload.

Rules:

- A checkpoint is authenticated with HMAC-SHA256 under the checkpoint directory's key, and
  :func:`decode` checks everything before it returns the payload; the caller deserialises only
  what :func:`decode` returned. Nothing read from disk is deserialised before that.
- :func:`decode` tells a *damaged* file (:class:`Damaged`: truncated, trailing bytes, checksum
  mismatch - what a failing disk or an interrupted copy leaves) from one that is *not
  authentic* (:class:`NotAuthentic`: not a checkpoint of this format, written with another key,
  or renamed from another checkpoint id). The runner may skip a damaged file for an older
  intact one; it refuses a file that is not authentic.

Layout (integers big-endian)::

    offset  size  field
         0     8  MAGIC  b"FLUVCKP" + format version byte (1)
         8     8  checkpoint id
        16     8  payload length n
        24    32  SHA-256 of bytes 0..23 followed by the payload (the checksum)
        56    32  HMAC-SHA256(key, checksum) (the MAC)
        88     n  payload

>>> key = bytes(32)
>>> blob = encode(7, b"state", key)
>>> decode(blob, 7, key)
b'state'
>>> decode(blob[:-2], 7, key)
Traceback (most recent call last):
...
fluvial.runners.direct.checkpoint_format.Damaged: truncated: 3 of 5 payload bytes
>>> decode(blob, 7, b"another key".ljust(32))
Traceback (most recent call last):
...
fluvial.runners.direct.checkpoint_format.NotAuthentic: not written with this directory's key (or its MAC bytes are damaged)
"""

from __future__ import annotations

import hashlib
import hmac
import struct

MAGIC = b"FLUVCKP\x01"
_IDS = struct.Struct(">QQ")
HEADER = len(MAGIC) + _IDS.size + 32 + 32  # 88 bytes before the payload
KEY_BYTES = 32


class Damaged(Exception):
    """The file is damaged: truncated, with trailing bytes, or its checksum does not match."""


class NotAuthentic(Exception):
    """The file is not an authentic checkpoint of this directory under this name."""


def _checksum(head: bytes, payload: bytes) -> bytes:
    h = hashlib.sha256(head)
    h.update(payload)
    return h.digest()


def _mac(key: bytes, checksum: bytes) -> bytes:
    return hmac.new(key, checksum, hashlib.sha256).digest()


def encode(checkpoint_id: int, payload: bytes, key: bytes) -> bytes:
    """The file content of checkpoint ``checkpoint_id`` holding ``payload``."""
    head = MAGIC + _IDS.pack(checkpoint_id, len(payload))
    checksum = _checksum(head, payload)
    return b"".join((head, checksum, _mac(key, checksum), payload))


def decode(data: bytes, checkpoint_id: int, key: bytes) -> bytes:
    """The payload of ``data`` read from the file named for ``checkpoint_id``, once its length,
    checksum, MAC and id are verified; raises :class:`Damaged` or :class:`NotAuthentic`."""
    n_magic = len(MAGIC)
    if data[:n_magic] != MAGIC[: len(data)]:
        if data[: n_magic - 1] == MAGIC[:-1]:
            raise NotAuthentic(
                f"written in checkpoint format version {data[n_magic - 1]}, and this fluvial "
                f"reads version {MAGIC[-1]}"
            )
        if data[:1] == b"\x80":
            raise NotAuthentic(
                "not in the authenticated checkpoint format: an unauthenticated pickle, as an "
                "earlier fluvial wrote, or a file planted by someone else"
            )
        raise NotAuthentic("not a fluvial checkpoint (unknown format)")
    if len(data) < HEADER:
        raise Damaged(f"truncated: {len(data)} bytes, shorter than the {HEADER}-byte header")
    cid, n = _IDS.unpack_from(data, n_magic)
    have = len(data) - HEADER
    if have < n:
        raise Damaged(f"truncated: {have} of {n} payload bytes")
    if have > n:
        raise Damaged(f"{have - n} bytes after the end of the {n}-byte payload")
    payload = data[HEADER:]
    checksum = data[n_magic + _IDS.size : n_magic + _IDS.size + 32]
    if not hmac.compare_digest(_checksum(data[: n_magic + _IDS.size], payload), checksum):
        raise Damaged("checksum mismatch: its content changed after it was written")
    if not hmac.compare_digest(_mac(key, checksum), data[HEADER - 32 : HEADER]):
        raise NotAuthentic("not written with this directory's key (or its MAC bytes are damaged)")
    if cid != checkpoint_id:
        raise NotAuthentic(f"it holds checkpoint {cid}, not {checkpoint_id}: it was renamed")
    return payload
