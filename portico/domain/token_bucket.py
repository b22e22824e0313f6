"""Token buckets by key (pure: the caller passes the time), for API rate limiting.

Each key owns a bucket of at most ``burst`` tokens that refills at ``rate`` tokens per
second; a request takes one token or is refused with the wait until one is back. Over any
interval of ``t`` seconds a key is granted at most ``burst + rate * t`` requests.

Memory stays bounded even when callers may name any key (``noauth`` trusts the project
header): a full bucket behaves exactly as a new one, so once there are more than
``max_keys`` buckets the full ones are dropped, without changing any answer.
"""

from __future__ import annotations

from dataclasses import dataclass

# Float rounding: a token refilled over exactly the wait ``take`` announced may come out a
# hair under 1.0; it counts as whole, or a client that waited as told would be refused.
_EPSILON = 1e-9


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class TokenBuckets:
    """Buckets of ``burst`` tokens refilled at ``rate`` per second, one per key."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 10_000) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError("rate must be positive, burst and max_keys at least 1")
        self.rate = rate
        self.burst = burst
        self._max_keys = max_keys
        # Pruning walks every bucket: wait until the count doubles before walking again.
        self._prune_at = max_keys
        self._buckets: dict[str, _Bucket] = {}

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: str, now: float) -> float:
        """Take a token of ``key`` at ``now`` (seconds, never decreasing per key).

        Returns 0.0 when granted, else the seconds until a token is back (nothing taken).
        """
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._prune_at:
                self._prune(now)
            bucket = self._buckets[key] = _Bucket(tokens=float(self.burst), stamp=now)
        else:
            self._refill(bucket, now)
        if bucket.tokens >= 1.0 - _EPSILON:
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def _refill(self, bucket: _Bucket, now: float) -> None:
        elapsed = max(0.0, now - bucket.stamp)
        bucket.tokens = min(float(self.burst), bucket.tokens + elapsed * self.rate)
        bucket.stamp = max(bucket.stamp, now)

    def _prune(self, now: float) -> None:
        for key, bucket in list(self._buckets.items()):
            self._refill(bucket, now)
            if bucket.tokens >= self.burst:
                del self._buckets[key]
        self._prune_at = max(self._max_keys, 2 * len(self._buckets))
