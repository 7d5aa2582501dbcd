"""docs/building.md documents every spec field (the table is the user's reference)."""

from __future__ import annotations

from pathlib import Path

from shipyard.builder.spec import BatchingSettings, BuildSettings, DeploymentSpec, GpuSettings, PipSettings

DOC = Path(__file__).resolve().parents[2] / "docs" / "building.md"


def test_every_spec_field_is_in_the_reference_table():
    text = DOC.read_text()
    fields = [f"`{name}`" for name in DeploymentSpec.model_fields if name not in ("build", "gpu", "batching")]
    fields += [f"`build.{name}`" for name in BuildSettings.model_fields if name != "pip"]
    fields += [f"`build.pip.{name}`" for name in PipSettings.model_fields]
    fields += [f"`gpu.{name}`" for name in GpuSettings.model_fields]
    fields += [f"`batching.{name}`" for name in BatchingSettings.model_fields]
    missing = [field for field in fields if f"| {field} |" not in text]
    assert not missing, f"document these fields in docs/building.md: {missing}"
