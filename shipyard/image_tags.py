""""Did you mean ...?" for an image reference the Docker Engine does not have.

A mistyped tag (``iris:l``, ``shipyard-base:bookwork``) used to end in "not found" or a failed
pull from a registry the user never meant. Both the builder (``--base-image``) and the deploy
targets (the image to deploy) ask the engine for its tags and suggest the closest ones.
"""

from __future__ import annotations

import difflib
from typing import Any

_CUTOFF = 0.75  # difflib ratio: 'iris:l' ~ 'iris:1', 'shipyard-base:bookwork' ~ 'shipyard-base:bookworm'


def _with_tag(reference: str) -> str:
    """``iris`` -> ``iris:latest``, as Docker reads a reference without a tag."""
    return reference if ":" in reference.rsplit("/", 1)[-1] or "@" in reference else f"{reference}:latest"


def similar_tags(client: Any, reference: str, limit: int = 3) -> list[str]:
    """Tags on *client*'s engine that look like *reference*: close spellings, then the same repository.

    Never raises: a suggestion is a courtesy, and the caller is already reporting an error.
    """
    try:
        tags = sorted({tag for image in client.images.list() for tag in image.tags})
    except Exception:  # noqa: BLE001 - engine unreachable or odd answer: no suggestion
        return []
    wanted = _with_tag(reference)
    close = difflib.get_close_matches(wanted, tags, n=limit, cutoff=_CUTOFF)
    repository = wanted.rsplit(":", 1)[0]
    same_repository = [tag for tag in tags if tag.rsplit(":", 1)[0] == repository and tag not in close]
    return [tag for tag in [*close, *same_repository] if tag != wanted][:limit]


def did_you_mean(client: Any, reference: str) -> str:
    """``"Did you mean 'iris:1' (on this engine)? "``, or ``""`` when nothing is close: put it where a sentence starts."""
    found = similar_tags(client, reference)
    if not found:
        return ""
    return f"Did you mean {' or '.join(repr(tag) for tag in found)} (on this engine)? "
