"""Version discovery at ``/`` (the v2 minor versions Octavia lists, the last one CURRENT) and
the bare ``"v2"`` Octavia answers at the roots of its v2 trees."""

from __future__ import annotations

from fastapi import APIRouter, Request

from portico.api.context import get_context

router = APIRouter(tags=["versions"])

# (minor version, date it appeared in Octavia)
_VERSIONS = (
    (0, "2016-12-11T00:00:00Z"),
    (1, "2018-04-20T00:00:00Z"),
    (2, "2018-07-31T00:00:00Z"),
    (3, "2018-12-18T00:00:00Z"),
    (4, "2018-12-19T00:00:00Z"),
    (5, "2019-01-21T00:00:00Z"),
    (6, "2019-01-25T00:00:00Z"),
    (7, "2018-01-25T12:00:00Z"),
    (8, "2019-02-12T00:00:00Z"),
    (9, "2019-03-04T00:00:00Z"),
    (10, "2019-03-05T00:00:00Z"),
    (11, "2019-06-24T00:00:00Z"),
    (12, "2019-09-11T00:00:00Z"),
    (13, "2019-09-13T00:00:00Z"),
    (14, "2019-11-10T00:00:00Z"),
    (15, "2020-03-10T00:00:00Z"),
    (16, "2020-03-15T00:00:00Z"),
    (17, "2020-04-29T00:00:00Z"),
    (18, "2020-04-29T01:00:00Z"),
    (19, "2020-05-12T00:00:00Z"),
    (20, "2020-08-02T00:00:00Z"),
    (21, "2020-09-03T00:00:00Z"),
    (22, "2020-09-04T00:00:00Z"),
    (23, "2020-09-07T00:00:00Z"),
    (24, "2020-10-15T00:00:00Z"),
    (25, "2021-10-02T00:00:00Z"),
    (26, "2022-08-29T00:00:00Z"),
    (27, "2023-05-05T00:00:00Z"),
    (28, "2023-11-08T00:00:00Z"),
    (29, "2024-10-15T00:00:00Z"),
    (30, "2025-02-26T00:00:00Z"),
)


@router.get("/", operation_id="list_versions")
def list_versions(request: Request) -> dict[str, list[dict[str, object]]]:
    base = get_context(request).settings.api_base_url or str(request.base_url)
    base = base if base.endswith("/") else base + "/"
    last = _VERSIONS[-1][0]
    return {
        "versions": [
            {
                "id": f"v2.{minor}",
                "status": "CURRENT" if minor == last else "SUPPORTED",
                "updated": updated,
                "links": [{"href": base + "v2", "rel": "self"}],
            }
            for minor, updated in _VERSIONS
        ]
    }


@router.get("/v2", operation_id="show_v2_root")
@router.get("/v2.0", include_in_schema=False)
@router.get("/v2/lbaas", include_in_schema=False)
@router.get("/v2.0/lbaas", include_in_schema=False)
@router.get("/v2/octavia", include_in_schema=False)
def show_v2_root() -> str:
    # Octavia answers the roots of its v2 trees with the bare JSON string "v2".
    return "v2"
