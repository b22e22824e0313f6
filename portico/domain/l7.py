"""The rules of L7 policies and L7 rules, as Octavia enforces them, as pure functions.

Every value accepted here ends up in a rendered haproxy configuration (an ACL, a
``redirect location``), so besides Octavia's own checks nothing with a control character
(CR, LF, NUL, TAB, ...) gets through: one stray newline would be a configuration injection.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rfc3986 import uri_reference, validators  # type: ignore[import-untyped]

from portico.domain.constants import L7PolicyAction as Action
from portico.domain.constants import L7RuleCompareType as Compare
from portico.domain.constants import L7RuleType as RuleType
from portico.domain.constants import ListenerProtocol
from portico.domain.errors import Conflict, InvalidInput, ProviderUnsupported
from portico.domain.protocols import check_no_children

MIN_POSITION = 1
MAX_POSITION = 2147483647
MAX_RULES_PER_POLICY = 50
REDIRECT_HTTP_CODES = (301, 302, 303, 307, 308)
DEFAULT_REDIRECT_HTTP_CODE = 302
L7_LISTENER_PROTOCOLS = frozenset({ListenerProtocol.HTTP, ListenerProtocol.TERMINATED_HTTPS})

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# Rule keys and values land in haproxy.cfg: U+2028/2029 too, on which Python readers of
# a rendered configuration break lines.
_RULE_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Octavia rejects these before parsing a URL (the URL parser would percent-encode them).
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")
# The character sets of RFC 7230/6265 that Octavia accepts for names and values. The
# ``+-.`` range in the first two is Octavia's (it also admits ",").
_HEADER_NAME = re.compile(r"\A[a-zA-Z0-9!#$%&'*+-.^_`|~]+\Z")
_COOKIE_VALUE = re.compile(r"\A[a-zA-Z0-9!#$%&'()*+-./:<=>?@[\]^_`{|}~]+\Z")
_HEADER_VALUE = re.compile(r"\A[a-zA-Z0-9!\"#$%&'()*+,-./:;<=>?@[\]^_`{|}~\\]+\Z")
_QUOTED_HEADER_VALUE = re.compile(r"\A\"[a-zA-Z0-9 \t!\"#$%&'()*+,-./:;<=>?@[\]^_`{|}~\\]*\"\Z")
_DN_FIELD = re.compile(r"\A[a-zA-Z][A-Za-z0-9-]*\Z")
_DIGITS = re.compile(r"\A[0-9]+\Z")
_STRING_COMPARES = frozenset(
    {Compare.STARTS_WITH, Compare.ENDS_WITH, Compare.CONTAINS, Compare.EQUAL_TO}
)

T = TypeVar("T")


class L7RuleInvalid(InvalidInput):
    """Octavia's "Error parsing L7Rule: ..." (HTTP 400)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"Error parsing L7Rule: {detail}")


class L7PolicyArgsInvalid(InvalidInput):
    def __init__(self, detail: str) -> None:
        super().__init__(f"Invalid L7 Policy arguments: {detail}")


class L7PolicyActionInvalid(InvalidInput):
    def __init__(self, action: object) -> None:
        super().__init__(f"Invalid L7 Policy action specified: {action}")


class TooManyRules(Conflict):
    def __init__(self, policy_id: str) -> None:
        super().__init__(f"Too many rules on L7 policy {policy_id}")


def check_text(value: object, field: str) -> None:
    """Refuse control characters in any free text (names, descriptions, tags, keys)."""
    if isinstance(value, str) and _CONTROL.search(value):
        raise InvalidInput(
            f"Invalid input for field/attribute {field}. Value: {value!r}. "
            "control characters (CR, LF, NUL, …) are not allowed"
        )


def is_valid_url(value: str) -> bool:
    """An absolute http(s) URL with a host, as Octavia's URL type accepts it."""
    if _URL_FORBIDDEN.search(value):
        return False
    validator = (
        validators.Validator()
        .allow_schemes("http", "https")
        .require_presence_of("scheme", "host")
        .check_validity_of("scheme", "host", "path")
    )
    try:
        validator.validate(uri_reference(value))
    except Exception:
        return False
    return True


def check_url(value: str, field: str) -> None:
    if not is_valid_url(value):
        raise InvalidInput(
            f"Invalid input for field/attribute {field}. Value: {value!r}. "
            "Value must be a valid URL string"
        )


def check_listener_protocol(protocol: str, provider: str) -> None:
    """L7 policies act on HTTP requests: only HTTP-mode listeners can have them."""
    check_no_children(protocol)
    if protocol not in L7_LISTENER_PROTOCOLS:
        raise ProviderUnsupported(
            provider, f"{protocol} protocol listeners do not support L7 policies"
        )


def sanitize_policy(
    args: Mapping[str, Any], *, create: bool, has_redirect_pool: bool = False
) -> dict[str, Any]:
    """Make a create or update request's action and redirect fields consistent.

    The same steps in the same order as Octavia: the action names the one redirect target
    that must be given; a given target also sets the action; URL and prefix redirects
    default to HTTP 302. ``has_redirect_pool`` stands for a pool built in the same request.
    """
    out = dict(args)
    pool_given = has_redirect_pool
    if "action" in out:
        action = out["action"]
        if action == Action.REJECT:
            out.update(redirect_url=None, redirect_pool_id=None)
            pool_given = False
        elif action == Action.REDIRECT_TO_URL:
            if not out.get("redirect_url"):
                raise L7PolicyArgsInvalid("redirect_url must not be None")
            out["redirect_pool_id"] = None
            pool_given = False
        elif action == Action.REDIRECT_TO_POOL:
            if not out.get("redirect_pool_id") and not pool_given:
                raise L7PolicyArgsInvalid("redirect_pool_id or redirect_pool must not be None")
            out["redirect_url"] = None
        elif action == Action.REDIRECT_PREFIX:
            if not out.get("redirect_prefix"):
                raise L7PolicyArgsInvalid("redirect_prefix must not be None")
        else:
            raise L7PolicyActionInvalid(action)
    if (out.get("redirect_pool_id") or pool_given) and (
        out.get("redirect_url") or out.get("redirect_prefix")
    ):
        raise L7PolicyArgsInvalid(
            "Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the same time"
        )
    if out.get("redirect_pool_id") or pool_given:
        out.update(
            action=Action.REDIRECT_TO_POOL,
            redirect_url=None,
            redirect_prefix=None,
            redirect_http_code=None,
        )
    for field, action in (
        ("redirect_url", Action.REDIRECT_TO_URL),
        ("redirect_prefix", Action.REDIRECT_PREFIX),
    ):
        if out.get(field):
            check_url(out[field], field)
            other = "redirect_prefix" if field == "redirect_url" else "redirect_url"
            out.update({"action": action, "redirect_pool_id": None, other: None})
            if not out.get("redirect_http_code"):
                out["redirect_http_code"] = DEFAULT_REDIRECT_HTTP_CODE
    if create and "action" not in out:
        raise L7PolicyActionInvalid("None")
    if not out:
        raise L7PolicyArgsInvalid("Invalid update options")
    return out


def clear_for_action(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The redirect fields an action does not use are emptied when it is set."""
    out = dict(changes)
    unused: dict[str, tuple[str, ...]] = {
        Action.REJECT: ("redirect_url", "redirect_pool_id", "redirect_prefix"),
        Action.REDIRECT_TO_URL: ("redirect_pool_id", "redirect_prefix"),
        Action.REDIRECT_TO_POOL: ("redirect_url", "redirect_prefix"),
        Action.REDIRECT_PREFIX: ("redirect_url", "redirect_pool_id"),
    }
    action = out.get("action")
    if action in unused:
        out.update(dict.fromkeys(unused[action]))
        if action in (Action.REJECT, Action.REDIRECT_TO_POOL):
            out["redirect_http_code"] = None
        elif not out.get("redirect_http_code"):
            out["redirect_http_code"] = DEFAULT_REDIRECT_HTTP_CODE
    return out


def place(order: Sequence[T], item: T, position: int | None) -> list[T]:
    """``item`` moved (or added) to 1-based ``position`` in ``order``; None or past the
    end means last. The result's indexes + 1 are the new, contiguous positions."""
    rest = [x for x in order if x is not item]
    index = len(rest) if position is None else min(max(position, MIN_POSITION) - 1, len(rest))
    rest.insert(index, item)
    return rest


@dataclass(frozen=True)
class RuleSpec:
    """The fields of an L7 rule that decide whether it is valid."""

    type: str | None
    compare_type: str | None
    value: str | None
    key: str | None = None


def _regex(value: str) -> None:
    try:
        re.compile(value)
    except Exception as exc:  # re.error, and OverflowError/RecursionError on monsters
        raise L7RuleInvalid(f"Unable to parse regular expression: {exc}") from exc


def _string_value(rule: RuleSpec, pattern_ok: bool, what: str) -> None:
    if rule.compare_type == Compare.REGEX:
        _regex(rule.value or "")
    elif rule.compare_type in _STRING_COMPARES:
        if not pattern_ok:
            raise L7RuleInvalid(f"Invalid characters in {what}")
    else:
        raise L7RuleInvalid("Invalid L7 Rule: invalid comparison type for rule type")


def _header_value_ok(value: str) -> bool:
    return bool(_HEADER_VALUE.match(value) or _QUOTED_HEADER_VALUE.match(value))


def validate_rule(rule: RuleSpec) -> None:
    """Raise ``L7RuleInvalid`` unless the rule is internally consistent (Octavia's checks)."""
    for field, text in (("key", rule.key), ("value", rule.value)):
        if text is not None and _RULE_FORBIDDEN.search(text):
            raise L7RuleInvalid(f"Invalid characters in {field}")
    if not rule.value:
        raise L7RuleInvalid("Invalid L7 Rule: L7 rule type requires a value")
    value = rule.value
    if rule.type in (RuleType.HEADER, RuleType.COOKIE):
        if not rule.key:
            raise L7RuleInvalid("Invalid L7 Rule: L7 rule type requires a key")
        if not _HEADER_NAME.match(rule.key):
            raise L7RuleInvalid("Invalid characters in key")
        if rule.type == RuleType.HEADER:
            _string_value(rule, _header_value_ok(value), "header value")
        else:
            _string_value(rule, bool(_COOKIE_VALUE.match(value)), "cookie value")
    elif rule.type in (RuleType.HOST_NAME, RuleType.PATH):
        _string_value(rule, _header_value_ok(value), "comparison value")
    elif rule.type == RuleType.FILE_TYPE:
        if rule.compare_type not in (Compare.REGEX, Compare.EQUAL_TO):
            raise L7RuleInvalid("Invalid L7 Rule: invalid comparison type for rule type")
        _string_value(rule, _header_value_ok(value), "comparison value")
    elif rule.type in (RuleType.SSL_CONN_HAS_CERT, RuleType.SSL_VERIFY_RESULT):
        _ssl_flag_rule(rule, value)
    elif rule.type == RuleType.SSL_DN_FIELD:
        _ssl_dn_rule(rule, value)
    else:
        raise L7RuleInvalid("Invalid L7 Rule: invalid rule type")


def _ssl_flag_rule(rule: RuleSpec, value: str) -> None:
    msg = None
    if rule.key:
        msg = f'L7rule type {rule.type} does not use the "key" field.'
    elif rule.type == RuleType.SSL_CONN_HAS_CERT and value.lower() != "true":
        msg = f"L7rule value {value} is not a boolean True string."
    elif rule.type == RuleType.SSL_VERIFY_RESULT and not _DIGITS.match(value):
        msg = f"L7rule type {rule.type} needs a int value, which is >= 0"
    elif rule.compare_type != Compare.EQUAL_TO:
        msg = f"L7rule type {rule.type} only supports the {Compare.EQUAL_TO} compare type."
    if msg:
        raise L7RuleInvalid(f"Invalid L7 Rule: {msg}")


def _ssl_dn_rule(rule: RuleSpec, value: str) -> None:
    if rule.compare_type == Compare.REGEX:
        _regex(value)
    elif rule.compare_type not in _STRING_COMPARES:
        raise L7RuleInvalid("Invalid L7 Rule: invalid comparison type for rule type")
    if not rule.key:
        raise L7RuleInvalid(
            f"Invalid L7 Rule: L7rule type {rule.type} needs to specify a key and a value."
        )
    if not _DN_FIELD.match(rule.key):
        raise L7RuleInvalid("Invalid L7 Rule: Invalid L7rule distinguished name field.")


def check_target(
    action: str,
    *,
    redirect_pool_id: str | None,
    redirect_url: str | None,
    redirect_prefix: str | None,
) -> None:
    """After an update, the policy's action must still have its redirect target."""
    if action == Action.REDIRECT_TO_POOL and not redirect_pool_id:
        raise L7PolicyArgsInvalid("redirect_pool_id or redirect_pool must not be None")
    if action == Action.REDIRECT_TO_URL and not redirect_url:
        raise L7PolicyArgsInvalid("redirect_url must not be None")
    if action == Action.REDIRECT_PREFIX and not redirect_prefix:
        raise L7PolicyArgsInvalid("redirect_prefix must not be None")
