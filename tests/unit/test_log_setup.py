"""portico's log lines: the fields of every record, the request id inside a request only,
and text lines that client input cannot split."""

from __future__ import annotations

import contextvars
import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest

from portico.wire.log_setup import REQUEST_ID, request_context, setup_logging


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_json_record_has_time_level_logger_message_process_and_its_fields(
    captured: io.StringIO,
) -> None:
    setup_logging("agent", use_json=True, fields={"amphora_id": "a1"}, stream=captured)
    logging.getLogger("portico.x").warning("%s went %s", "lb-1", "away")
    [record] = _records(captured)
    assert record["level"] == "WARNING"
    assert record["logger"] == "portico.x"
    assert record["message"] == "lb-1 went away"
    assert record["process"] == "agent"
    assert record["amphora_id"] == "a1"
    assert isinstance(record["pid"], int)
    assert str(record["time"]).endswith("Z") and "T" in str(record["time"])
    assert "request_id" not in record


def test_the_request_id_is_on_records_inside_the_request_and_in_its_threads(
    captured: io.StringIO,
) -> None:
    setup_logging("api", use_json=True, stream=captured)
    log = logging.getLogger("portico.services.x")
    with request_context("req-1"):
        log.info("inside")
        # A worker thread started with the request's context (as anyio's to_thread does).

        context = contextvars.copy_context()
        thread = threading.Thread(target=context.run, args=(log.info, "in a thread"))
        thread.start()
        thread.join()
    log.info("after")
    records = _records(captured)
    assert [(r["message"], r.get("request_id")) for r in records] == [
        ("inside", "req-1"),
        ("in a thread", "req-1"),
        ("after", None),
    ]
    assert REQUEST_ID.get() is None


def test_an_exception_is_one_field_of_its_record(captured: io.StringIO) -> None:
    setup_logging("serve", use_json=True, stream=captured)
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("portico").exception("failed")
    [record] = _records(captured)
    assert "ValueError: boom" in str(record["exception"])


def test_text_lines_carry_the_same_fields_and_a_message_cannot_add_a_line(
    captured: io.StringIO,
) -> None:
    setup_logging("controller", use_json=False, stream=captured)
    with request_context("req-2"):
        logging.getLogger("portico.api.access").info('"GET /x\n2026 ERROR forged" status: 200')
    [line] = captured.getvalue().splitlines()
    assert " INFO controller[" in line
    assert "portico.api.access [req-2] " in line
    assert "\\n2026 ERROR forged" in line


def test_setup_replaces_earlier_handlers(captured: io.StringIO) -> None:
    setup_logging("serve", use_json=True, stream=io.StringIO())
    setup_logging("serve", use_json=True, stream=captured)
    logging.getLogger("portico").info("once")
    assert len(_records(captured)) == 1
