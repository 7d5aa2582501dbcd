"""``azureml.exceptions`` for scripts that catch what ``Model.get_model_path`` raises."""

from __future__ import annotations

from shipyard.scoring.entry_script.sdk_model import AzureMLException, ModelNotFoundException, WebserviceException

__all__ = ["AzureMLException", "ModelNotFoundException", "WebserviceException"]
