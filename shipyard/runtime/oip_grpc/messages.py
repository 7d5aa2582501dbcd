"""The protocol's message classes, built from ``inference.proto`` in a descriptor pool of our own.

Why not protoc's generated ``*_pb2.py``: generated code is pinned to the protobuf version that
generated it, and registers ``inference.*`` in protobuf's process-wide default pool, where
``tritonclient.grpc`` (or any Triton or KServe client a ``score.py`` imports) registers the same
names from its own file and the two imports then conflict. A private pool built from the
serialized descriptor works on every protobuf release since 4.21 and collides with nothing;
the wire format is the same.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from shipyard.runtime.oip_grpc._descriptor import HEALTH, INFERENCE

PACKAGE = "inference"
SERVICE = f"{PACKAGE}.GRPCInferenceService"

HEALTH_SERVICE = "grpc.health.v1.Health"

_pool = descriptor_pool.DescriptorPool()
for _serialized in (INFERENCE, HEALTH):
    _pool.Add(descriptor_pb2.FileDescriptorProto.FromString(_serialized))


def _message_class(name: str, package: str = PACKAGE) -> Any:
    descriptor = _pool.FindMessageTypeByName(f"{package}.{name}")
    get_class = getattr(message_factory, "GetMessageClass", None)  # protobuf >= 4.22
    if get_class is not None:
        return get_class(descriptor)
    return message_factory.MessageFactory(_pool).GetPrototype(descriptor)  # pragma: no cover - older protobuf


ServerLiveRequest = _message_class("ServerLiveRequest")
ServerLiveResponse = _message_class("ServerLiveResponse")
ServerReadyRequest = _message_class("ServerReadyRequest")
ServerReadyResponse = _message_class("ServerReadyResponse")
ModelReadyRequest = _message_class("ModelReadyRequest")
ModelReadyResponse = _message_class("ModelReadyResponse")
ServerMetadataRequest = _message_class("ServerMetadataRequest")
ServerMetadataResponse = _message_class("ServerMetadataResponse")
ModelMetadataRequest = _message_class("ModelMetadataRequest")
ModelMetadataResponse = _message_class("ModelMetadataResponse")
ModelInferRequest = _message_class("ModelInferRequest")
ModelInferResponse = _message_class("ModelInferResponse")
InferParameter = _message_class("InferParameter")
HealthCheckRequest = _message_class("HealthCheckRequest", "grpc.health.v1")
HealthCheckResponse = _message_class("HealthCheckResponse", "grpc.health.v1")

METHODS: dict[str, tuple[Any, Any]] = {
    "ServerLive": (ServerLiveRequest, ServerLiveResponse),
    "ServerReady": (ServerReadyRequest, ServerReadyResponse),
    "ModelReady": (ModelReadyRequest, ModelReadyResponse),
    "ServerMetadata": (ServerMetadataRequest, ServerMetadataResponse),
    "ModelMetadata": (ModelMetadataRequest, ModelMetadataResponse),
    "ModelInfer": (ModelInferRequest, ModelInferResponse),
}
"""Every RPC of the service: its request and response classes."""
