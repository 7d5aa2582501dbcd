"""Serving Azure ML style entry scripts (``score.py`` with ``init()``/``run()``) unchanged."""

from shipyard.scoring.entry_script.scorer import EntryScriptScorer

__all__ = ["EntryScriptScorer"]
