"""Rendered configurations of representative load balancers, compared with golden files.

A change to rendering shows up as a reviewable diff of ``tests/golden/haproxy/*.cfg``;
``PORTICO_UPDATE_GOLDEN=1`` rewrites the files after an intended change.
``tests/integration/test_render_haproxy_check.py`` runs ``haproxy -c`` on each of them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from portico.render.haproxy import render_haproxy
from tests.unit.render.variants import VARIANTS

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "haproxy"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_rendering_matches_golden_file(name: str) -> None:
    spec, target = VARIANTS[name]
    text = render_haproxy(spec, target).text
    path = GOLDEN / f"{name}.cfg"
    if os.environ.get("PORTICO_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"{path} is missing: run with PORTICO_UPDATE_GOLDEN=1"
    assert text == path.read_text()


def test_every_golden_file_has_a_variant() -> None:
    stale = {p.stem for p in GOLDEN.glob("*.cfg")} - set(VARIANTS)
    assert not stale, f"golden files without a variant: {sorted(stale)}"


def test_rendering_is_deterministic() -> None:
    for spec, target in VARIANTS.values():
        assert render_haproxy(spec, target) == render_haproxy(spec, target)
