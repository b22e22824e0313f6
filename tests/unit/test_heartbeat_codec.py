"""The heartbeat datagram: signed, bounded, chunked, and never crashing on garbage."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import struct
import uuid
import zlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portico.wire.heartbeat import (
    FIXED_CODES_UP_TO,
    MAX_CHUNK_BODY,
    MAX_DATAGRAM,
    MAX_INTEGER,
    MAX_PAYLOAD,
    AmphoraKey,
    Heartbeat,
    HeartbeatRejected,
    ListenerReport,
    PoolReport,
    Reassembler,
    decode,
    decode_body,
    derive_key,
    encode,
    open_frame,
)

SECRET = b"s" * 32
AMPHORA = uuid.UUID("6f1c2a3b-0d4e-4f5a-8b6c-7d8e9fa0b1c2")
KEY = derive_key(SECRET, AMPHORA)


def key_for(raw_id: bytes) -> AmphoraKey | None:
    return AmphoraKey.derived(SECRET, uuid.UUID(bytes=raw_id))


def heartbeat(members: int = 2) -> Heartbeat:
    return Heartbeat(
        amphora_id=str(AMPHORA),
        generation=7,
        listeners={"l1": ListenerReport(status="OPEN", bytes_in=10, total_connections=3)},
        pools={
            "p1:l1": PoolReport(
                status="UP",
                members={str(uuid.UUID(int=i)): "UP" if i % 2 else "DOWN" for i in range(members)},
            )
        },
    )


def test_a_heartbeat_round_trips_in_one_datagram() -> None:
    [datagram] = encode(heartbeat(), key=KEY, sequence=42)
    message = decode(datagram, key_for)
    assert message.sequence == 42
    assert message.heartbeat == heartbeat()


def _block_type(datagram: bytes) -> int:
    """The first deflate block's BTYPE (1 fixed codes, 2 dynamic), after the zlib header."""
    return (open_frame(datagram, key_for).body[2] >> 1) & 0b11


def test_a_usual_heartbeat_uses_fixed_codes_and_a_large_one_dynamic_codes() -> None:
    # Fixed codes inflate in half the time; they cost bytes only a large heartbeat notices.
    [small] = encode(heartbeat(), key=KEY, sequence=1)
    assert len(msgspec.json.encode(heartbeat())) <= FIXED_CODES_UP_TO
    assert _block_type(small) == 1
    assert decode(small, key_for).heartbeat == heartbeat()
    assert len(msgspec.json.encode(heartbeat(members=400))) > FIXED_CODES_UP_TO
    large = encode(heartbeat(members=400), key=KEY, sequence=2)
    assert _block_type(large[0]) == 2


def test_keys_differ_per_amphora_so_one_cannot_sign_for_another() -> None:
    other = uuid.uuid4()
    assert derive_key(SECRET, other) != KEY
    # Signed with another amphora's key: the signature does not verify.
    [datagram] = encode(heartbeat(), key=derive_key(SECRET, other), sequence=1)
    with pytest.raises(HeartbeatRejected) as exc:
        decode(datagram, key_for)
    assert exc.value.reason == "signature"


def test_a_body_that_speaks_for_another_amphora_is_malformed() -> None:
    lying = msgspec.structs.replace(heartbeat(), amphora_id=str(uuid.uuid4()))
    with pytest.raises(HeartbeatRejected) as exc:
        decode_body(str(AMPHORA), zlib.compress(msgspec.json.encode(lying)))
    assert exc.value.reason == "malformed"


@pytest.mark.parametrize(
    ("datagram", "reason"),
    [
        (b"", "short"),
        (b"\x01" * 58, "short"),
        (b"\x01" * (MAX_DATAGRAM + 1), "oversized"),
        (b"\x02" + b"\0" * 80, "version"),
        (b"\x01" + b"\0" * 80, "signature"),
    ],
)
def test_garbage_is_rejected_with_its_reason(datagram: bytes, reason: str) -> None:
    with pytest.raises(HeartbeatRejected) as exc:
        decode(datagram, key_for)
    assert exc.value.reason == reason


def test_an_amphora_without_a_key_is_unknown() -> None:
    [datagram] = encode(heartbeat(), key=KEY, sequence=1)
    with pytest.raises(HeartbeatRejected) as exc:
        decode(datagram, lambda _raw: None)
    assert exc.value.reason == "unknown_amphora"


def test_a_signed_zip_bomb_is_oversized_not_inflated() -> None:
    with pytest.raises(HeartbeatRejected) as exc:
        decode_body(str(AMPHORA), zlib.compress(b" " * (MAX_PAYLOAD + 1)))
    assert exc.value.reason == "oversized"


def test_signed_bytes_that_are_not_a_heartbeat_are_malformed() -> None:
    for body in (b"not zlib", zlib.compress(b"[1,2]"), zlib.compress(b"{}") + b"trailing"):
        with pytest.raises(HeartbeatRejected) as exc:
            decode_body(str(AMPHORA), body)
        assert exc.value.reason == "malformed"


def test_a_large_heartbeat_is_chunked_and_reassembled_in_any_order() -> None:
    big = heartbeat(members=3000)
    datagrams = encode(big, key=KEY, sequence=9)
    assert len(datagrams) > 1
    assert all(len(d) <= MAX_DATAGRAM for d in datagrams)
    with pytest.raises(HeartbeatRejected):
        decode(datagrams[0], key_for)  # one chunk alone is not a message
    joiner = Reassembler()
    results = [joiner.add(open_frame(d, key_for), now=0.0) for d in reversed(datagrams)]
    assert results[:-1] == [None] * (len(datagrams) - 1)
    body = results[-1]
    assert body is not None
    assert decode_body(str(AMPHORA), body) == big
    assert len(joiner) == 0


def test_incomplete_messages_expire_and_the_buffer_is_bounded() -> None:
    joiner = Reassembler(max_pending=2, timeout=5.0)
    for sequence in range(4):
        first = encode(heartbeat(members=3000), key=KEY, sequence=sequence)[0]
        joiner.add(open_frame(first, key_for), now=float(sequence))
    assert len(joiner) == 2
    late = encode(heartbeat(members=3000), key=KEY, sequence=99)[0]
    joiner.add(open_frame(late, key_for), now=100.0)
    assert len(joiner) == 1


def test_chunk_fields_are_covered_by_the_signature() -> None:
    [datagram] = encode(heartbeat(), key=KEY, sequence=5)
    forged = datagram[:25] + struct.pack("!BB", 0, 2) + datagram[27:]
    with pytest.raises(HeartbeatRejected) as exc:
        decode(forged, key_for)
    assert exc.value.reason == "signature"


def test_chunk_size_fits_a_datagram() -> None:
    assert MAX_DATAGRAM == 27 + 32 + MAX_CHUNK_BODY < 1472


VALID = encode(heartbeat(), key=KEY, sequence=3)[0]


def _decode_or_reject(datagram: bytes) -> None:
    with contextlib.suppress(HeartbeatRejected):
        decode(datagram, key_for)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2 * MAX_DATAGRAM))
def test_random_bytes_only_ever_raise_rejected(datagram: bytes) -> None:
    _decode_or_reject(datagram)


@settings(max_examples=400, deadline=None)
@given(st.integers(0, len(VALID) * 8 - 1))
def test_any_bit_flip_of_a_valid_datagram_is_rejected(bit: int) -> None:
    flipped = bytearray(VALID)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(HeartbeatRejected):
        decode(bytes(flipped), key_for)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(VALID) - 1))
def test_any_truncation_of_a_valid_datagram_is_rejected(length: int) -> None:
    with pytest.raises(HeartbeatRejected):
        decode(VALID[:length], key_for)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=4096))
def test_any_signed_body_only_ever_raises_rejected(body: bytes) -> None:
    # Past the signature (a buggy or compromised amphora): parsing must still hold.
    for candidate in (body, zlib.compress(body)):
        with contextlib.suppress(HeartbeatRejected):
            decode_body(str(AMPHORA), candidate)


def _body(payload: dict[str, object]) -> bytes:
    return zlib.compress(msgspec.json.encode(payload))


_GOOD = {"amphora_id": str(AMPHORA), "generation": 1}


@pytest.mark.parametrize(
    "payload",
    [
        {**_GOOD, "generation": -1},
        {**_GOOD, "generation": "1"},  # a string is not taken for an integer
        {**_GOOD, "generation": 1.0},
        {**_GOOD, "generation": True},
        {**_GOOD, "generation": MAX_INTEGER + 1},  # would fail the database's BIGINT
        {"generation": 1},  # no amphora id
        {**_GOOD, "listeners": {"l1": {"status": "OPEN", "bytes_in": -5}}},
        {**_GOOD, "listeners": {"l1": {"status": "OPEN", "bytes_in": MAX_INTEGER + 1}}},
        {**_GOOD, "listeners": {"l1": {"status": "OPEN", "total_connections": "9"}}},
        {**_GOOD, "listeners": {"l1": {"status": "BROKEN"}}},
        {**_GOOD, "listeners": {"l1": {}}},  # no status
        {**_GOOD, "listeners": ["l1"]},
        {**_GOOD, "pools": {"p1:l1": {"status": "UP", "members": {"m1": "ALIVE"}}}},
        {**_GOOD, "pools": {"p1:l1": {"status": "up"}}},
        {**_GOOD, "pools": {"p1:l1": {"members": {}}}},
    ],
)
def test_a_signed_body_of_the_wrong_types_or_out_of_bounds_is_malformed(
    payload: dict[str, object],
) -> None:
    with pytest.raises(HeartbeatRejected) as exc:
        decode_body(str(AMPHORA), _body(payload))
    assert exc.value.reason == "malformed"


def test_the_largest_counters_and_unknown_fields_are_accepted() -> None:
    listener = {"status": "FULL", "bytes_in": MAX_INTEGER, "from_a_newer_agent": [1]}
    decoded = decode_body(str(AMPHORA), _body({**_GOOD, "listeners": {"l1": listener}}))
    assert decoded.listeners["l1"] == ListenerReport(status="FULL", bytes_in=MAX_INTEGER)


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=64), st.binary(max_size=2000), st.binary(max_size=100))
def test_a_keyed_signer_signs_as_hmac_sha256(key: bytes, head: bytes, tail: bytes) -> None:
    # The signer reuses one keyed HMAC state for every datagram of an amphora.
    signer = AmphoraKey(AMPHORA, key)
    expected = hmac.new(key, head + tail, hashlib.sha256).digest()
    assert signer.sign(head, tail) == expected
    assert signer.sign(head, tail) == expected  # the state is copied, never consumed
