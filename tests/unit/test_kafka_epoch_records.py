"""How an exactly-once Kafka writer's epoch records are held in a checkpoint
(``pack_records`` / ``unpack_records`` in fluvial.transforms.kafka.writer): one marshal blob
that survives the checkpoint's pickling unchanged, the list itself when marshal cannot write a
record, and lists written by an earlier fluvial read as they are."""

from __future__ import annotations

import pickle

from fluvial.transforms.kafka.writer import pack_records, unpack_records


def _records() -> list:
    return [("out", b"k0", b'{"a":1}', 1_700_000_000_000),
            ("out", None, b"v1", None),  # no key, the producer's clock
            ("other", b"k2", None, 0),  # a tombstone at event time 0
            ("out", b"", b"", 5)]


def test_records_become_one_bytes_object_and_come_back_equal():
    recs = _records()
    packed = pack_records(recs)
    assert isinstance(packed, bytes)
    assert unpack_records(packed) == recs


def test_packed_records_survive_the_checkpoint_pickling():
    recs = _records() * 1000
    state = {"transactional_id": "t-0", "token": "abc", "epoch": 7,
             "records": pack_records(recs)}
    back = pickle.loads(pickle.dumps({"sinks": [state]}, protocol=pickle.HIGHEST_PROTOCOL))
    assert back["sinks"][0]["epoch"] == 7
    assert unpack_records(back["sinks"][0]["records"]) == recs


def test_bytes_like_values_come_back_as_bytes():
    packed = pack_records([("out", bytearray(b"k"), memoryview(b"v"), 3)])
    assert unpack_records(packed) == [("out", b"k", b"v", 3)]


class _Opaque:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Opaque) and other.data == self.data


def test_a_record_marshal_cannot_write_keeps_the_list_for_pickle():
    recs = [("out", b"k", b"v", 1), ("out", b"k", _Opaque(b"x"), 2)]
    packed = pack_records(recs)
    assert packed is recs
    assert unpack_records(pickle.loads(pickle.dumps(packed))) == recs


def test_an_empty_epoch_is_an_empty_list():
    assert pack_records([]) == []
    assert unpack_records([]) == []


def test_a_list_from_an_earlier_checkpoint_is_read_as_it_is():
    recs = _records()
    assert unpack_records(recs) is recs
