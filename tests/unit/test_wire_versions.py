"""Agent API versions as the controller and the agent compare them (pure)."""

from __future__ import annotations

from portico.wire.agent_api import at_least, newest_common


def test_a_version_has_what_earlier_minor_versions_of_its_major_added() -> None:
    assert at_least("1.2", "1.1") and at_least("1.2", "1.2") and at_least("1.10", "1.2")
    assert not at_least("1.1", "1.2") and not at_least("2.0", "1.1")


def test_the_newest_version_both_sides_speak_is_picked() -> None:
    assert newest_common(["1.2", "1.1", "1.0"]) == "1.2"
    assert newest_common(["1.1", "1.0"]) == "1.1"
    assert newest_common(["1.0"]) == "1.0"
    assert newest_common(["3.0"]) is None
