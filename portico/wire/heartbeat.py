"""The heartbeat datagram, version 1: what an amphora tells the health service every second.

Pure (no I/O) and shared by the agent (``encode``) and the health service (``open_frame``,
``Reassembler``, ``decode_body``). A datagram is::

    version (1) | amphora id (16, UUID) | sequence (8) | chunk index (1) | chunk count (1)
    | HMAC-SHA256 (32) over everything before it and the body | body

The body of a message is the zlib-compressed compact JSON ``Heartbeat``; a message larger
than one chunk is split into up to ``MAX_CHUNKS`` chunks of the compressed bytes, each
signed on its own and carrying the same sequence number, reassembled by the receiver
(chunking rather than a TCP fallback keeps the health service one UDP socket). The signature
is checked in constant time before anything is decompressed or parsed, so forged or garbage
datagrams cost one HMAC; decompression is bounded, so a signed zip bomb cannot eat memory.

The key is per amphora, derived from the controller's secret, so an amphora that leaks its
key can only speak for itself. The sequence number grows for the life of an amphora, across
agent restarts (the agent starts it from the wall clock in nanoseconds), so the receiver can
drop replays and stale datagrams by keeping the highest one it accepted.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

VERSION = 1
_HEADER = struct.Struct("!B16sQBB")
DIGEST_SIZE = 32
# Chunk bodies stay under a 1500-byte MTU with IP, UDP and our header.
MAX_CHUNK_BODY = 1200
MAX_CHUNKS = 255
MAX_DATAGRAM = _HEADER.size + DIGEST_SIZE + MAX_CHUNK_BODY
# Decompressed JSON of one message; about 40,000 members.
MAX_PAYLOAD = 4 * 1024 * 1024

RejectReason = Literal[
    "short", "oversized", "version", "unknown_amphora", "signature", "malformed", "replay"
]
# What haproxy's ``show stat`` says of a server or backend, reduced to its state word.
ServerStatus = Literal["UP", "DOWN", "DRAIN", "MAINT", "no check"]


def server_status(raw: str) -> ServerStatus | None:
    """haproxy's status column ("UP 1/3", "MAINT (via x)", "NOLB", ...) as one state word.

    Here so the agent (heartbeats) and the controller (stats read after a push) reduce it alike.
    """
    word = raw.split(" ", 1)[0]
    if raw == "no check":
        return "no check"
    if word in ("UP", "DOWN", "DRAIN", "MAINT"):
        return word  # type: ignore[return-value]
    if word == "NOLB":  # a server draining through its weight or agent-check
        return "DRAIN"
    return None


class HeartbeatRejected(ValueError):
    """A datagram that is not a valid heartbeat; ``reason`` is what the receiver counts."""

    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason)
        self.reason: RejectReason = reason


class _Body(BaseModel):
    # Unknown fields are ignored so a newer agent may report more to an older controller.
    model_config = ConfigDict(extra="ignore", frozen=True)


class ListenerReport(_Body):
    """A listener (haproxy frontend) and its counters since haproxy's last start."""

    status: Literal["OPEN", "FULL", "STOP"]
    bytes_in: int = Field(default=0, ge=0)
    bytes_out: int = Field(default=0, ge=0)
    active_connections: int = Field(default=0, ge=0)
    total_connections: int = Field(default=0, ge=0)
    request_errors: int = Field(default=0, ge=0)


class PoolReport(_Body):
    """A pool as one listener uses it (haproxy backend ``<pool id>:<listener id>``)."""

    status: ServerStatus
    members: dict[str, ServerStatus] = Field(default_factory=dict)


class Heartbeat(_Body):
    """One amphora's report: the generation it runs and what its haproxy sees."""

    amphora_id: str
    generation: int = Field(ge=0)
    listeners: dict[str, ListenerReport] = Field(default_factory=dict)
    # Keyed by haproxy backend name.
    pools: dict[str, PoolReport] = Field(default_factory=dict)


def derive_key(secret: bytes, amphora_id: uuid.UUID) -> bytes:
    """The amphora's own signing key: HMAC(secret, b"heartbeat" + amphora id bytes)."""
    return hmac.new(secret, b"heartbeat" + amphora_id.bytes, hashlib.sha256).digest()


def encode(heartbeat: Heartbeat, *, key: bytes, sequence: int) -> list[bytes]:
    """The datagrams of one heartbeat (one, unless it needs chunks)."""
    amphora = uuid.UUID(heartbeat.amphora_id)
    body = zlib.compress(heartbeat.model_dump_json(exclude_defaults=True).encode())
    chunks = [body[i : i + MAX_CHUNK_BODY] for i in range(0, len(body), MAX_CHUNK_BODY)]
    if len(chunks) > MAX_CHUNKS:
        raise ValueError(f"heartbeat of {len(body)} compressed bytes needs too many chunks")
    datagrams = []
    for index, chunk in enumerate(chunks):
        header = _HEADER.pack(VERSION, amphora.bytes, sequence, index, len(chunks))
        digest = hmac.new(key, header + chunk, hashlib.sha256).digest()
        datagrams.append(header + digest + chunk)
    return datagrams


@dataclass(frozen=True)
class Frame:
    """One authenticated datagram: a whole message, or one chunk of it."""

    amphora_id: uuid.UUID
    sequence: int
    index: int
    count: int
    body: bytes


def open_frame(datagram: bytes, key_for: Callable[[uuid.UUID], bytes | None]) -> Frame:
    """Check a datagram's size, version and signature; nothing else is trusted before."""
    if len(datagram) <= _HEADER.size + DIGEST_SIZE:
        raise HeartbeatRejected("short")
    if len(datagram) > MAX_DATAGRAM:
        raise HeartbeatRejected("oversized")
    version, raw_id, sequence, index, count = _HEADER.unpack_from(datagram)
    if version != VERSION:
        raise HeartbeatRejected("version")
    amphora_id = uuid.UUID(bytes=raw_id)
    key = key_for(amphora_id)
    if key is None:
        raise HeartbeatRejected("unknown_amphora")
    signed_end = _HEADER.size
    body = datagram[signed_end + DIGEST_SIZE :]
    expected = hmac.new(key, datagram[:signed_end] + body, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, datagram[signed_end : signed_end + DIGEST_SIZE]):
        raise HeartbeatRejected("signature")
    if count == 0 or index >= count:
        raise HeartbeatRejected("malformed")
    return Frame(amphora_id, sequence, index, count, body)


def decode_body(amphora_id: uuid.UUID, body: bytes) -> Heartbeat:
    """Decompress (bounded) and parse an authenticated message body."""
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(body, MAX_PAYLOAD)
    except zlib.error as exc:
        raise HeartbeatRejected("malformed") from exc
    if inflater.unconsumed_tail:
        raise HeartbeatRejected("oversized")
    if not inflater.eof or inflater.unused_data:
        raise HeartbeatRejected("malformed")
    try:
        heartbeat = Heartbeat.model_validate_json(raw)
    except ValidationError as exc:
        raise HeartbeatRejected("malformed") from exc
    if heartbeat.amphora_id != str(amphora_id):
        # Signed by one amphora's key but speaking for another: not to be believed.
        raise HeartbeatRejected("malformed")
    return heartbeat


@dataclass(frozen=True)
class Message:
    """A verified, complete heartbeat and the sequence number it was sent with."""

    sequence: int
    heartbeat: Heartbeat


def decode(datagram: bytes, key_for: Callable[[uuid.UUID], bytes | None]) -> Message:
    """A single-datagram heartbeat; chunks go through ``Reassembler`` instead."""
    frame = open_frame(datagram, key_for)
    if frame.count != 1:
        raise HeartbeatRejected("malformed")
    return Message(frame.sequence, decode_body(frame.amphora_id, frame.body))


@dataclass
class _Pending:
    count: int
    started: float
    parts: dict[int, bytes] = field(default_factory=dict)


class Reassembler:
    """Joins the chunks of a message; bounded in messages held and in how long they wait.

    Only authenticated frames reach it, so only amphorae can fill it; the bounds still keep
    one misbehaving amphora from holding memory: the oldest pending message is dropped first.
    """

    def __init__(self, *, max_pending: int = 64, timeout: float = 5.0) -> None:
        self._max_pending = max_pending
        self._timeout = timeout
        self._pending: dict[tuple[uuid.UUID, int], _Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def add(self, frame: Frame, *, now: float) -> bytes | None:
        """The message's whole body once its last chunk arrives, else None."""
        if frame.count == 1:
            return frame.body
        # Insertion order is arrival order: expired messages are at the front.
        for held, waiting in list(self._pending.items()):
            if now - waiting.started < self._timeout:
                break
            del self._pending[held]
        key = (frame.amphora_id, frame.sequence)
        found = self._pending.get(key)
        if found is None:
            while len(self._pending) >= self._max_pending:
                del self._pending[next(iter(self._pending))]
            pending = self._pending[key] = _Pending(frame.count, now)
        else:
            pending = found
        if pending.count != frame.count:
            del self._pending[key]
            raise HeartbeatRejected("malformed")
        pending.parts[frame.index] = frame.body
        if len(pending.parts) < pending.count:
            return None
        del self._pending[key]
        return b"".join(pending.parts[i] for i in range(pending.count))
