"""Model-side half of the runtime: scorers that answer ``/score`` and V2 ``infer`` requests.

The runtime calls :func:`load_scorer` once per worker and then talks only to the
:class:`~shipyard.scoring.base.Scorer` interface. Concrete scorers are imported lazily, so serving
an entry script never imports onnxruntime.
"""

from shipyard.scoring.base import (
    InferRequest,
    InferResponse,
    InferTensor,
    ModelInfo,
    ModelMetadata,
    Scorer,
    ScoreRequest,
    ScoreResponse,
    TensorSpec,
)
from shipyard.scoring.factory import MODEL_FILE_SCORERS, choose_scorer, create_scorer, load_scorer

__all__ = [
    "InferRequest",
    "InferResponse",
    "InferTensor",
    "MODEL_FILE_SCORERS",
    "ModelInfo",
    "ModelMetadata",
    "Scorer",
    "ScoreRequest",
    "ScoreResponse",
    "TensorSpec",
    "choose_scorer",
    "create_scorer",
    "load_scorer",
]
