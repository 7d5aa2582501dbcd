"""Shipyard: from a trained model and a ``score.py`` to a running scoring service, anywhere.

The package is laid out by job:

- :mod:`shipyard.scoring`: loading a model (an Azure ML style entry script, or an ONNX file)
  and answering one request; knows nothing about HTTP.
- :mod:`shipyard.runtime`: the FastAPI/uvicorn service that wraps a scorer.
- :mod:`shipyard.builder` and :mod:`shipyard.templates`: from a deployment spec to a Docker image.
- :mod:`shipyard.deploy_targets`: one module per place an image can run.
- :mod:`shipyard.cli`: a thin command line over the above.
"""

__version__ = "0.1.0"
