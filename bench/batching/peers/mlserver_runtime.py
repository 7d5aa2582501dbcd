"""MLServer 1.7 custom runtime: onnxruntime behind MLServer's adaptive batching (model-settings.json)."""

import asyncio

import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxModel(MLModel):
    async def load(self) -> bool:
        self.session = ort.InferenceSession(self.settings.parameters.uri, providers=["CPUExecutionProvider"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0])
        (y,) = await asyncio.to_thread(self.session.run, None, {"x": x})  # off the event loop, like Shipyard
        return InferenceResponse(model_name=self.name, outputs=[NumpyCodec.encode_output("y", y)])
