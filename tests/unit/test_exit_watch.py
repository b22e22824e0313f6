"""ExitWatch wakes on a process's exit, long before its deadline, and never spins after."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

from portico.agent.exit_watch import ExitWatch


def test_an_exit_wakes_the_sleep_at_once() -> None:
    # A child that exits on its own, 0.2 s in: long enough to be watched before it goes, and
    # its exit (not a signal from the test) is what must wake the watch.
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.2)"])
    watch = ExitWatch()
    try:
        started = time.monotonic()
        asyncio.run(watch.sleep(10.0, proc.pid))
        assert time.monotonic() - started < 5.0  # woken by the exit, not the 10 s deadline
        proc.wait(timeout=5)
        # The same pid again sleeps its full time (the sleep is what is measured): an exited
        # pid is never watched again.
        started = time.monotonic()
        asyncio.run(watch.sleep(0.2, proc.pid))
        assert time.monotonic() - started >= 0.2
    finally:
        watch.close()
        proc.kill()
        proc.wait(timeout=5)


def test_no_pid_or_a_vanished_one_is_a_plain_sleep() -> None:
    watch = ExitWatch()
    for pid in (None, 2**22 + 12345):  # above pid_max: never a live process
        started = time.monotonic()
        asyncio.run(watch.sleep(0.1, pid))
        assert time.monotonic() - started >= 0.1
    watch.close()
