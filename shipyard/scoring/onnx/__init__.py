"""Serving a ``.onnx`` model directly with ONNX Runtime, no entry script needed."""
