"""Bodies of the upgrade calls (portico extensions): a migration's target."""

from __future__ import annotations

from pydantic import Field, model_validator

from portico.api.schemas.common import Envelope, Strict


class Migration(Strict):
    """Where to move the load balancer: amphorae of this image (an agent version), and/or in
    this availability zone (``null``: no zone, the deployment's defaults). At least one."""

    # Printable, no spaces: an image name or id as a compute driver knows it.
    amphora_image: str | None = Field(
        default=None, min_length=1, max_length=255, pattern=r"^[!-~]+$"
    )
    availability_zone: str | None = Field(default=None, min_length=1, max_length=255)

    @model_validator(mode="after")
    def _names_a_target(self) -> Migration:
        if not self.model_fields_set & {"amphora_image", "availability_zone"}:
            raise ValueError("a migration names an amphora_image or an availability_zone")
        if "amphora_image" in self.model_fields_set and self.amphora_image is None:
            raise ValueError("amphora_image cannot be null")
        return self

    @property
    def moves_zone(self) -> bool:
        """Whether the body names a zone (``null`` included: it leaves its zone)."""
        return "availability_zone" in self.model_fields_set


class MigrateBody(Envelope):
    migration: Migration
