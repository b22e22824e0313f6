"""Wakes the supervisor the moment a process exits, not at its next poll.

A pidfd (Linux 5.3+) turns readable when its process exits, whoever's child it is: haproxy
adopted by a restarted agent is not ours to ``wait()`` for. One pidfd is kept per watched
pid; without pidfd support the wait is a plain sleep and the supervisor's poll finds the
death instead. For an ACTIVE_STANDBY MASTER this is the head start of the VIP's move.
"""

from __future__ import annotations

import asyncio
import contextlib
import os


class ExitWatch:
    """Sleeps up to a deadline, or until the watched pid exits."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._fd: int | None = None
        # A pid seen to exit is never watched again: its pidfd would stay readable, and a
        # caller still naming it (not reaped yet) would spin instead of sleeping.
        self._exited: int | None = None

    async def sleep(self, seconds: float, pid: int | None) -> None:
        """Return after ``seconds``, or as soon as ``pid`` (if any) has exited."""
        fd = self._watch(pid)
        if fd is None:
            await asyncio.sleep(seconds)
            return
        loop = asyncio.get_running_loop()
        exited: asyncio.Future[None] = loop.create_future()

        def readable() -> None:
            if not exited.done():
                exited.set_result(None)

        loop.add_reader(fd, readable)
        try:
            done, _ = await asyncio.wait([exited], timeout=seconds)
        finally:
            loop.remove_reader(fd)
            exited.cancel()
        if done:
            self._exited = pid
            self.close()

    def _watch(self, pid: int | None) -> int | None:
        if pid == self._exited:
            return None
        if pid != self._pid:
            self.close()
            self._pid = pid
            if pid is not None and hasattr(os, "pidfd_open"):
                with contextlib.suppress(OSError):  # gone already, or no pidfd here
                    self._fd = os.pidfd_open(pid)
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._pid = self._fd = None
