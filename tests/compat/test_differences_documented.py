"""The differences the differential tests accept are exactly the ones docs/scoring.md lists."""

from __future__ import annotations

import re
from pathlib import Path

from tests.fixtures.azmlinfsrv import ALLOWED_DIFFERENCES

DOCS = Path(__file__).resolve().parents[2] / "docs" / "scoring.md"


def documented_differences() -> list[str]:
    """Names in the first column of the table under "Differences from azmlinfsrv 1.5.1"."""
    text = DOCS.read_text()
    section = text.split("### Differences from azmlinfsrv 1.5.1", 1)[1].split("\n#", 1)[0]
    return re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE)


def test_every_accepted_difference_is_in_the_docs_table_and_nothing_else() -> None:
    documented = documented_differences()
    assert len(documented) == len(set(documented)), f"listed twice in {DOCS}: {documented}"
    assert sorted(documented) == sorted(difference.name for difference in ALLOWED_DIFFERENCES)
