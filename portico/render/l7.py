"""L7 policies and rules as haproxy ACLs and actions, in position order.

Each enabled rule becomes an ACL named by its id; a policy matches when all of its enabled
rules match (``invert`` negates one). A policy without enabled rules never matches and is
not rendered, as in Octavia.
"""

from __future__ import annotations

from portico.domain.desired import L7PolicySpec, L7RuleSpec, ListenerSpec
from portico.render.quoting import quote

MATCH = {
    "EQUAL_TO": "str",
    "STARTS_WITH": "beg",
    "ENDS_WITH": "end",
    "CONTAINS": "sub",
    "REGEX": "reg",
}


def _acl(rule: L7RuleSpec) -> str:
    flag = MATCH[rule.compare_type]
    value = quote(rule.value)
    if rule.type == "HOST_NAME":
        value = quote(rule.value.lower()) if rule.compare_type != "REGEX" else value
        return f"acl {rule.id} req.hdr(host),host_only,lower -m {flag} {value}"
    if rule.type == "PATH":
        return f"acl {rule.id} path -m {flag} {value}"
    if rule.type == "FILE_TYPE":
        if rule.compare_type == "REGEX":
            return f"acl {rule.id} path_reg {value}"
        return f"acl {rule.id} path_end -m str {quote('.' + rule.value.lstrip('.'))}"
    if rule.type == "HEADER":
        return f"acl {rule.id} req.hdr({quote(rule.key or '')}) -m {flag} {value}"
    if rule.type == "COOKIE":
        return f"acl {rule.id} req.cook({quote(rule.key or '')}) -m {flag} {value}"
    if rule.type == "SSL_CONN_HAS_CERT":
        return f"acl {rule.id} ssl_c_used"
    if rule.type == "SSL_VERIFY_RESULT":
        return f"acl {rule.id} ssl_c_verify eq {int(rule.value)}"
    if rule.type == "SSL_DN_FIELD":
        return f"acl {rule.id} ssl_c_s_dn({quote(rule.key or '')}) -m {flag} {value}"
    raise ValueError(f"unknown L7 rule type {rule.type}")


def _condition(rules: list[L7RuleSpec]) -> str:
    return " ".join(("!" if rule.invert else "") + rule.id for rule in rules)


def policies(listener: ListenerSpec) -> list[str]:
    """ACLs, then actions in position order (http-request actions before use_backend)."""
    acls: list[str] = []
    requests: list[str] = []
    backends: list[str] = []
    for policy in sorted(listener.l7policies, key=lambda p: p.position):
        if not policy.admin_state_up:
            continue
        rules = [r for r in policy.rules if r.admin_state_up]
        if not rules:
            continue
        acls.extend(_acl(rule) for rule in rules)
        action = _action(policy, listener, _condition(rules))
        (backends if policy.action == "REDIRECT_TO_POOL" else requests).append(action)
    return acls + requests + backends


def _action(policy: L7PolicySpec, listener: ListenerSpec, condition: str) -> str:
    code = int(policy.redirect_http_code or 302)
    if policy.action == "REJECT":
        return f"http-request deny if {condition}"
    if policy.action == "REDIRECT_TO_URL":
        url = quote(policy.redirect_url)
        return f"http-request redirect code {code} location {url} if {condition}"
    if policy.action == "REDIRECT_PREFIX":
        prefix = quote(policy.redirect_prefix)
        return f"http-request redirect code {code} prefix {prefix} if {condition}"
    if policy.action == "REDIRECT_TO_POOL":
        return f"use_backend {policy.redirect_pool_id}:{listener.id} if {condition}"
    raise ValueError(f"unknown L7 action {policy.action}")
