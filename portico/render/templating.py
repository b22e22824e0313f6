"""The jinja2 environment every renderer loads its template from (``render/templates``).

Configuration syntax, not HTML: nothing is autoescaped. Values reach templates only after
the renderers have checked or quoted them (haproxy's through the ``q`` filter).
"""

from __future__ import annotations

from functools import cache

import jinja2

from portico.render.quoting import quote


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("portico.render", "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["q"] = quote
    return env
