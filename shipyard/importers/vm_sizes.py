"""Azure VM sizes that Azure ML online endpoints run on: vCPUs, memory and GPUs per instance.

A v2 deployment names its ``instance_type`` (``Standard_DS3_v2``); Shipyard targets want cores,
memory and GPUs. The numbers are Azure's published sizes (learn.microsoft.com, "Sizes for virtual
machines in Azure", one page per series) for the SKUs the "Managed online endpoints SKU list"
offers. They describe the whole VM; Azure kept some of it for its own agents, so a pod asking
for all of it may not fit on a node of the same size (lower ``cpu_cores`` / ``memory_gb`` then).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class VmSize(BaseModel):
    """One VM size."""

    model_config = ConfigDict(frozen=True)

    name: str
    vcpus: int = Field(gt=0)
    memory_gib: float = Field(gt=0)
    gpus: int = Field(default=0, ge=0)
    gpu_model: str | None = None

    @property
    def memory_gb(self) -> float:
        """Memory in GB (10^9 bytes), the unit of Shipyard's ``memory_gb``."""
        return round(self.memory_gib * 2**30 / 1e9, 3)


def _sizes(*rows: tuple[str, int, float, int, str | None]) -> dict[str, VmSize]:
    return {name.lower(): VmSize(name=name, vcpus=cpus, memory_gib=memory, gpus=gpus, gpu_model=model)
            for name, cpus, memory, gpus, model in rows}


VM_SIZES: dict[str, VmSize] = _sizes(
    # General purpose: DSv2, Dasv4, Dsv3
    ("Standard_DS1_v2", 1, 3.5, 0, None), ("Standard_DS2_v2", 2, 7, 0, None), ("Standard_DS3_v2", 4, 14, 0, None),
    ("Standard_DS4_v2", 8, 28, 0, None), ("Standard_DS5_v2", 16, 56, 0, None),
    ("Standard_D2as_v4", 2, 8, 0, None), ("Standard_D4as_v4", 4, 16, 0, None), ("Standard_D8as_v4", 8, 32, 0, None),
    ("Standard_D16as_v4", 16, 64, 0, None), ("Standard_D32as_v4", 32, 128, 0, None),
    ("Standard_D48as_v4", 48, 192, 0, None), ("Standard_D64as_v4", 64, 256, 0, None),
    ("Standard_D96as_v4", 96, 384, 0, None),
    ("Standard_D2s_v3", 2, 8, 0, None), ("Standard_D4s_v3", 4, 16, 0, None), ("Standard_D8s_v3", 8, 32, 0, None),
    ("Standard_D16s_v3", 16, 64, 0, None), ("Standard_D32s_v3", 32, 128, 0, None),
    ("Standard_D48s_v3", 48, 192, 0, None), ("Standard_D64s_v3", 64, 256, 0, None),
    # Compute optimized: Fsv2
    ("Standard_F2s_v2", 2, 4, 0, None), ("Standard_F4s_v2", 4, 8, 0, None), ("Standard_F8s_v2", 8, 16, 0, None),
    ("Standard_F16s_v2", 16, 32, 0, None), ("Standard_F32s_v2", 32, 64, 0, None),
    ("Standard_F48s_v2", 48, 96, 0, None), ("Standard_F64s_v2", 64, 128, 0, None),
    ("Standard_F72s_v2", 72, 144, 0, None),
    # Memory optimized: Esv3
    ("Standard_E2s_v3", 2, 16, 0, None), ("Standard_E4s_v3", 4, 32, 0, None), ("Standard_E8s_v3", 8, 64, 0, None),
    ("Standard_E16s_v3", 16, 128, 0, None), ("Standard_E32s_v3", 32, 256, 0, None),
    ("Standard_E48s_v3", 48, 384, 0, None), ("Standard_E64s_v3", 64, 432, 0, None),
    # GPU: NCv3 (V100 16 GB), NCasT4_v3 (T4 16 GB), NC A100 v4 (A100 80 GB), NDv2 / ND A100 v4
    ("Standard_NC6s_v3", 6, 112, 1, "V100"), ("Standard_NC12s_v3", 12, 224, 2, "V100"),
    ("Standard_NC24s_v3", 24, 448, 4, "V100"), ("Standard_NC24rs_v3", 24, 448, 4, "V100"),
    ("Standard_NC4as_T4_v3", 4, 28, 1, "T4"), ("Standard_NC8as_T4_v3", 8, 56, 1, "T4"),
    ("Standard_NC16as_T4_v3", 16, 110, 1, "T4"), ("Standard_NC64as_T4_v3", 64, 440, 4, "T4"),
    ("Standard_NC24ads_A100_v4", 24, 220, 1, "A100 80GB"), ("Standard_NC48ads_A100_v4", 48, 440, 2, "A100 80GB"),
    ("Standard_NC96ads_A100_v4", 96, 880, 4, "A100 80GB"),
    ("Standard_ND40rs_v2", 40, 672, 8, "V100 32GB"),
    ("Standard_ND96asr_v4", 96, 900, 8, "A100 40GB"), ("Standard_ND96amsr_A100_v4", 96, 1900, 8, "A100 80GB"),
)


def find_vm_size(name: str) -> VmSize | None:
    """The size called *name* (any case), or ``None`` when the table does not have it."""
    return VM_SIZES.get(name.strip().lower())
