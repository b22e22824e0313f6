"""How every portico process logs: one line per record, JSON or text, with the request id.

The API process, the controller and the amphora agents write the same fields, so one
collector reads them all: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``message``,
``process`` (``serve``, ``api``, ``controller``, ``agent``...), ``pid``, the process's own
fields (an agent's ``amphora_id``), ``request_id`` while an API request is handled and
``exception`` when one is logged.

The request id lives in a context variable, set by the API's middleware for the request's
duration: services called by the request, in the same task or in a worker thread (the
thread inherits a copy of the context), log it without being handed it. Background work
(the reconciler, health checks) runs outside any request and logs none.

A small stdlib ``Formatter`` rather than python-json-logger: the fields are fixed and few,
and the agent, which may import nothing beyond ``portico.wire``, uses it too. It lives in
``wire`` for that reason: the log line is a format every process shares.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import TextIO

REQUEST_ID: ContextVar[str | None] = ContextVar("portico_request_id", default=None)


@contextmanager
def request_context(request_id: str) -> Iterator[None]:
    """Every record logged inside carries ``request_id``."""
    token = REQUEST_ID.set(request_id)
    try:
        yield
    finally:
        REQUEST_ID.reset(token)


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Formatter(logging.Formatter):
    def __init__(self, process: str, fields: Mapping[str, str]) -> None:
        super().__init__()
        self.process = process
        self.fields = dict(fields)

    def fields_of(self, record: logging.LogRecord) -> dict[str, object]:
        data: dict[str, object] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": self.process,
            "pid": record.process or os.getpid(),
            **self.fields,
        }
        request_id = REQUEST_ID.get()
        if request_id is not None:
            data["request_id"] = request_id
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            data["exception"] = record.exc_text
        return data


class JsonFormatter(_Formatter):
    """One JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(self.fields_of(record), default=str, ensure_ascii=False)


class TextFormatter(_Formatter):
    """``time level process[pid] logger [request id] message``, traceback below."""

    def format(self, record: logging.LogRecord) -> str:
        data = self.fields_of(record)
        context = " ".join(f"{k}={v}" for k, v in self.fields.items())
        request = f" [{data['request_id']}]" if "request_id" in data else ""
        # One record, one line: a message quoting client input cannot forge another.
        message = str(data["message"]).replace("\r", "\\r").replace("\n", "\\n")
        line = (
            f"{data['time']} {data['level']} {self.process}[{data['pid']}]"
            f"{' ' + context if context else ''} {data['logger']}{request} {message}"
        )
        if "exception" in data:
            line += f"\n{data['exception']}"
        return line


def setup_logging(
    process: str,
    *,
    use_json: bool,
    level: int = logging.INFO,
    fields: Mapping[str, str] | None = None,
    stream: TextIO | None = None,
) -> None:
    """Route every logger of this process to one handler on ``stream`` (stderr).

    Replaces the root logger's handlers, so it is called once, by the entry point. Servers
    are started with uvicorn's own logging configuration off, so its lines come here too.
    """
    formatter_class = JsonFormatter if use_json else TextFormatter
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter_class(process, fields or {}))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
