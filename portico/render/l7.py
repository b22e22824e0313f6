"""L7 policies and rules as haproxy ACLs and actions, evaluated in position order.

Octavia's contract is "the first policy, by position, whose rules all match wins". haproxy
does not run directives in file order: every ``http-request`` rule runs before any
``use_backend``, so a REJECT at position 2 would win over a REDIRECT_TO_POOL at position 1
if each were written as its natural directive. Here every policy is an ``http-request``
rule, in position order, guarded by "no earlier policy matched":

- REDIRECT_TO_POOL records its policy id in the variable ``txn.l7policy`` (the
  ``use_backend`` lines at the end send the request to that policy's backend);
- REJECT (``deny``), REDIRECT_TO_URL and REDIRECT_PREFIX end the request at once.

Each enabled rule becomes an ACL named by its id; a policy matches when all of its enabled
rules match (``invert`` negates one). A policy without enabled rules never matches and is
not rendered, as in Octavia; nor is a REDIRECT_TO_POOL policy whose pool does not run.
"""

from __future__ import annotations

from collections.abc import Collection

from portico.domain.desired import L7PolicySpec, L7RuleSpec, ListenerSpec
from portico.render.errors import RenderError
from portico.render.quoting import fetch, quote, quote_format

MATCH = {
    "EQUAL_TO": "str",
    "STARTS_WITH": "beg",
    "ENDS_WITH": "end",
    "CONTAINS": "sub",
    "REGEX": "reg",
}
# The variable that remembers which REDIRECT_TO_POOL policy matched first.
CHOSEN = "txn.l7policy"
NOT_YET = f"!{{ var({CHOSEN}) -m found }}"


def _pattern(rule: L7RuleSpec) -> str:
    """``-m <method> -- <value>``: after ``--`` a value can never be read as a flag."""
    value = rule.value
    if rule.type in ("HEADER", "COOKIE") and len(value) >= 2 and value[0] == value[-1] == '"':
        # Octavia accepts an RFC 7230 quoted string and hands it to haproxy's tokenizer,
        # which removes the quotes: match the text between them, as Octavia does.
        value = value[1:-1]
    return f"-m {MATCH[rule.compare_type]} -- {quote(value)}"


def _acl(rule: L7RuleSpec) -> str:
    name = f"acl {rule.id}"
    if rule.type == "HOST_NAME":
        # host_only drops a ":port"; host names compare without case.
        return f"{name} req.hdr(host),host_only -i {_pattern(rule)}"
    if rule.type == "PATH":
        return f"{name} path {_pattern(rule)}"
    if rule.type == "FILE_TYPE":
        if rule.compare_type == "REGEX":
            return f"{name} path {_pattern(rule)}"
        return f"{name} path_end -- {quote('.' + rule.value.lstrip('.'))}"
    if rule.type == "HEADER":
        return f"{name} {fetch('req.hdr', rule.key or '')} {_pattern(rule)}"
    if rule.type == "COOKIE":
        return f"{name} {fetch('req.cook', rule.key or '')} {_pattern(rule)}"
    if rule.type == "SSL_CONN_HAS_CERT":
        return f"{name} ssl_c_used"
    if rule.type == "SSL_VERIFY_RESULT":
        if not rule.value.isdigit():
            raise RenderError(f"L7 rule {rule.id}: {rule.value!r} is not a verify result")
        return f"{name} ssl_c_verify eq {int(rule.value)}"
    if rule.type == "SSL_DN_FIELD":
        return f"{name} {fetch('ssl_c_s_dn', rule.key or '')} {_pattern(rule)}"
    raise RenderError(f"L7 rule {rule.id}: unknown type {rule.type}")


def _condition(rules: list[L7RuleSpec]) -> str:
    return " ".join([NOT_YET, *(("!" if rule.invert else "") + rule.id for rule in rules)])


def policies(listener: ListenerSpec, running_pools: Collection[str]) -> list[str]:
    """ACLs, then one ``http-request`` rule per policy in position order, then backends.

    ``running_pools``: ids of the pools that have a backend for this listener.
    """
    acls: list[str] = []
    actions: list[str] = []
    backends: list[str] = []
    for policy in sorted(listener.l7policies, key=lambda p: p.position):
        if not policy.admin_state_up:
            continue
        rules = [r for r in policy.rules if r.admin_state_up]
        if not rules:
            continue
        if policy.action == "REDIRECT_TO_POOL" and policy.redirect_pool_id not in running_pools:
            continue
        acls.extend(_acl(rule) for rule in rules)
        actions.append(f"{_action(policy)} if {_condition(rules)}")
        if policy.action == "REDIRECT_TO_POOL":
            backends.append(
                f"use_backend {policy.redirect_pool_id}:{listener.id}"
                f" if {{ var({CHOSEN}) -m str {policy.id} }}"
            )
    return acls + actions + backends


def _action(policy: L7PolicySpec) -> str:
    code = int(policy.redirect_http_code or 302)
    if policy.action == "REJECT":
        return "http-request deny"
    if policy.action == "REDIRECT_TO_URL":
        url = quote_format(policy.redirect_url or "")
        return f"http-request redirect code {code} location {url}"
    if policy.action == "REDIRECT_PREFIX":
        prefix = quote_format(policy.redirect_prefix or "")
        return f"http-request redirect code {code} prefix {prefix}"
    if policy.action == "REDIRECT_TO_POOL":
        return f"http-request set-var({CHOSEN}) str({policy.id})"
    raise RenderError(f"L7 policy {policy.id}: unknown action {policy.action}")
