"""L7 policy and rule rules: Octavia's validation, redirect defaults, position arithmetic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portico.domain.errors import InvalidInput, ProviderUnsupported
from portico.domain.l7 import (
    L7PolicyActionInvalid,
    L7PolicyArgsInvalid,
    L7RuleInvalid,
    RuleSpec,
    check_listener_protocol,
    clear_for_action,
    is_valid_url,
    place,
    sanitize_policy,
    validate_rule,
)

POOL = "4b0e8c39-2d4a-4b0e-8a59-4b3f2c0b1a11"


def rule(type_: str, compare: str, value: str | None, key: str | None = None) -> RuleSpec:
    return RuleSpec(type=type_, compare_type=compare, value=value, key=key)


# --- rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        rule("HOST_NAME", "EQUAL_TO", "www.example.com"),
        rule("HOST_NAME", "ENDS_WITH", ".example.com"),
        rule("PATH", "STARTS_WITH", "/api"),
        rule("PATH", "REGEX", r"^/api/v[0-9]+/"),
        rule("FILE_TYPE", "EQUAL_TO", "jpg"),
        rule("FILE_TYPE", "REGEX", "jpe?g"),
        rule("HEADER", "CONTAINS", "Mozilla", key="User-Agent"),
        rule("HEADER", "EQUAL_TO", '"quoted value with spaces"', key="X-Thing"),
        rule("COOKIE", "EQUAL_TO", "abc123", key="session"),
        rule("SSL_CONN_HAS_CERT", "EQUAL_TO", "True"),
        rule("SSL_CONN_HAS_CERT", "EQUAL_TO", "true"),
        rule("SSL_VERIFY_RESULT", "EQUAL_TO", "0"),
        rule("SSL_DN_FIELD", "EQUAL_TO", "www.example.com", key="CN"),
        rule("SSL_DN_FIELD", "REGEX", ".*example.*", key="OU-2"),
    ],
)
def test_valid_rules_are_accepted(spec: RuleSpec) -> None:
    validate_rule(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (rule("PATH", "EQUAL_TO", ""), "L7 rule type requires a value"),
        (rule("HEADER", "EQUAL_TO", "x"), "L7 rule type requires a key"),
        (rule("COOKIE", "EQUAL_TO", "x"), "L7 rule type requires a key"),
        (rule("HEADER", "EQUAL_TO", "x", key="Bad Key"), "Invalid characters in key"),
        (rule("COOKIE", "EQUAL_TO", "x", key="a:b"), "Invalid characters in key"),
        (rule("COOKIE", "EQUAL_TO", "a;b", key="c"), "Invalid characters in cookie value"),
        (rule("HEADER", "EQUAL_TO", "a b", key="c"), "Invalid characters in header value"),
        (rule("PATH", "EQUAL_TO", "/a b"), "Invalid characters in comparison value"),
        (rule("PATH", "REGEX", "(unclosed"), "Unable to parse regular expression"),
        (rule("FILE_TYPE", "STARTS_WITH", "jp"), "invalid comparison type for rule type"),
        (rule("PATH", None, "/a"), "invalid comparison type for rule type"),  # type: ignore[arg-type]
        (rule("NOPE", "EQUAL_TO", "x"), "invalid rule type"),
        (rule("SSL_CONN_HAS_CERT", "EQUAL_TO", "False"), "is not a boolean True string"),
        (rule("SSL_CONN_HAS_CERT", "CONTAINS", "True"), "only supports the EQUAL_TO"),
        (rule("SSL_CONN_HAS_CERT", "EQUAL_TO", "True", key="k"), 'does not use the "key"'),
        (rule("SSL_VERIFY_RESULT", "EQUAL_TO", "-1"), "needs a int value"),
        (rule("SSL_VERIFY_RESULT", "EQUAL_TO", "²"), "needs a int value"),
        (rule("SSL_VERIFY_RESULT", "REGEX", "1"), "only supports the EQUAL_TO"),
        (rule("SSL_DN_FIELD", "EQUAL_TO", "x"), "needs to specify a key and a value"),
        (rule("SSL_DN_FIELD", "EQUAL_TO", "x", key="1CN"), "distinguished name field"),
        (rule("SSL_DN_FIELD", "REGEX", "[", key="CN"), "Unable to parse regular expression"),
        (rule("PATH", "EQUAL_TO", "/a\r\nX-Evil: 1"), "Invalid characters in value"),
        (rule("HEADER", "EQUAL_TO", '"a\tb"', key="h"), "Invalid characters in value"),
    ],
)
def test_invalid_rules_are_refused_with_octavias_message(spec: RuleSpec, message: str) -> None:
    with pytest.raises(L7RuleInvalid) as caught:
        validate_rule(spec)
    assert caught.value.faultstring.startswith("Error parsing L7Rule: ")
    assert message in caught.value.faultstring
    assert caught.value.http_status == 400


RULE_TYPES = st.sampled_from(
    [
        "HOST_NAME",
        "PATH",
        "FILE_TYPE",
        "HEADER",
        "COOKIE",
        "SSL_CONN_HAS_CERT",
        "SSL_VERIFY_RESULT",
        "SSL_DN_FIELD",
    ]
)
COMPARES = st.sampled_from(["CONTAINS", "ENDS_WITH", "EQUAL_TO", "REGEX", "STARTS_WITH"])
NASTY = st.text(alphabet=st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["a\nb", "a\rb", "a\x00b", "\n", "True\n", "0\n", "CN\n", '"x\r\n"']
)


@given(RULE_TYPES, COMPARES, NASTY, st.none() | NASTY)
def test_no_accepted_rule_carries_a_line_break_or_nul(
    type_: str, compare: str, value: str, key: str | None
) -> None:
    try:
        validate_rule(rule(type_, compare, value, key))
    except InvalidInput:
        return
    for text in (value, key or ""):
        assert not {"\r", "\n", "\x00"} & set(text)


# --- policies --------------------------------------------------------------------------------


def test_redirect_to_url_defaults_to_http_302() -> None:
    out = sanitize_policy(
        {"action": "REDIRECT_TO_URL", "redirect_url": "https://example.com/x"}, create=True
    )
    assert out["redirect_http_code"] == 302
    assert out["redirect_pool_id"] is None


def test_redirect_prefix_keeps_a_given_code() -> None:
    out = sanitize_policy(
        {
            "action": "REDIRECT_PREFIX",
            "redirect_prefix": "https://example.com",
            "redirect_http_code": 308,
        },
        create=True,
    )
    assert (out["action"], out["redirect_http_code"]) == ("REDIRECT_PREFIX", 308)


def test_redirect_to_pool_drops_redirect_code() -> None:
    out = sanitize_policy(
        {"action": "REDIRECT_TO_POOL", "redirect_pool_id": POOL, "redirect_http_code": 301},
        create=True,
    )
    assert out["redirect_http_code"] is None
    assert out["redirect_url"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"action": "REDIRECT_TO_URL"}, "redirect_url must not be None"),
        ({"action": "REDIRECT_PREFIX"}, "redirect_prefix must not be None"),
        ({"action": "REDIRECT_TO_POOL"}, "redirect_pool_id or redirect_pool must not be None"),
        (
            {
                "action": "REDIRECT_TO_POOL",
                "redirect_pool_id": POOL,
                "redirect_prefix": "http://a",
            },
            "at the same time",
        ),
    ],
)
def test_action_needs_its_own_redirect_target(args: dict[str, str], message: str) -> None:
    with pytest.raises(L7PolicyArgsInvalid, match=message):
        sanitize_policy(args, create=True)


def test_create_without_action_is_refused() -> None:
    with pytest.raises(L7PolicyActionInvalid, match="None"):
        sanitize_policy({"name": "x"}, create=True)


def test_empty_update_is_refused() -> None:
    with pytest.raises(L7PolicyArgsInvalid, match="Invalid update options"):
        sanitize_policy({}, create=False)


def test_giving_a_url_on_update_switches_the_action() -> None:
    out = clear_for_action(sanitize_policy({"redirect_url": "http://a.example"}, create=False))
    assert out["action"] == "REDIRECT_TO_URL"
    assert out["redirect_pool_id"] is None and out["redirect_prefix"] is None


def test_reject_clears_every_redirect_field() -> None:
    out = clear_for_action(sanitize_policy({"action": "REJECT"}, create=False))
    assert out == {
        "action": "REJECT",
        "redirect_url": None,
        "redirect_pool_id": None,
        "redirect_prefix": None,
        "redirect_http_code": None,
    }


@pytest.mark.parametrize(
    "url",
    ["http://example.com", "https://example.com:8443/a/b?c=d#e", "http://[::1]/", "http://a_b.c"],
)
def test_http_urls_are_valid(url: str) -> None:
    assert is_valid_url(url)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com", "example.com", "http://", "http://a b", "http://a\n", "/relative"],
)
def test_non_http_or_broken_urls_are_invalid(url: str) -> None:
    assert not is_valid_url(url)


@given(st.text(max_size=60).map(lambda s: "http://example.com/" + s))
def test_no_accepted_url_carries_a_control_character(url: str) -> None:
    if is_valid_url(url):
        assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in url)


def test_l7_policies_need_an_http_listener() -> None:
    check_listener_protocol("HTTP", "noop")
    check_listener_protocol("TERMINATED_HTTPS", "noop")
    with pytest.raises(ProviderUnsupported, match="TCP protocol listeners do not support L7"):
        check_listener_protocol("TCP", "noop")
    with pytest.raises(InvalidInput, match="PROMETHEUS listeners cannot have child objects"):
        check_listener_protocol("PROMETHEUS", "noop")


# --- positions -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "expected"),
    [(None, "abcX"), (1, "Xabc"), (2, "aXbc"), (4, "abcX"), (99, "abcX")],
)
def test_new_policy_is_inserted_at_its_position(position: int | None, expected: str) -> None:
    assert "".join(place(list("abc"), "X", position)) == expected


def test_moving_a_policy_shifts_the_others() -> None:
    items = list("abcd")
    assert "".join(place(items, items[3], 1)) == "dabc"
    assert "".join(place(items, items[0], 3)) == "bcad"
    assert "".join(place(items, items[1], 99)) == "acdb"


@given(st.lists(st.integers(), max_size=8, unique=True), st.none() | st.integers(1, 20))
def test_positions_stay_contiguous(existing: list[int], position: int | None) -> None:
    new = object()
    order = place([object() for _ in existing], new, position)
    assert len(order) == len(existing) + 1
    expected = len(existing) + 1 if position is None else min(position, len(existing) + 1)
    assert order.index(new) + 1 == expected
