"""The one error rendering raises."""

from __future__ import annotations


class RenderError(ValueError):
    """The desired state cannot run on this amphora; the text is shown to the user."""
