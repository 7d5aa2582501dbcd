"""Every error Shipyard raises on purpose. Catch :class:`ShipyardError` to catch them all.

The library raises; only the CLI turns an error into an exit code (``exit_code`` below), so the
Python API never calls ``sys.exit``. Messages say what was wrong, where (file, field, line) and
what to do about it.
"""

from __future__ import annotations


class ShipyardError(Exception):
    """Root of every Shipyard error."""

    exit_code: int = 1


class SpecError(ShipyardError):
    """A deployment spec or environment file is invalid. Raised before any build starts."""

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 line: int | None = None) -> None:
        self.file, self.field, self.line = file, field, line
        where = ":".join(str(part) for part in (file, line) if part is not None)
        if field:
            where = f"{where} (field '{field}')" if where else f"field '{field}'"
        super().__init__(f"{where}: {message}" if where else message)


class ScoringError(ShipyardError):
    """A model or entry script could not be loaded, or a request could not be scored.

    ``status_code`` is the HTTP status the runtime answers with when this escapes a request.
    ``azure_message``, when set, is what azmlinfsrv said for the same mistake: ``/score`` answers
    it in ``"message"`` (Azure clients match on it) and the fuller *message* in ``"error"``.
    """

    exit_code = 3
    status_code: int = 500
    azure_message: str | None = None

    def __init__(self, message: str, *, status_code: int | None = None, azure_message: str | None = None) -> None:
        super().__init__(message)
        if status_code is not None:
            self.status_code = status_code
        if azure_message is not None:
            self.azure_message = azure_message


class ModelLoadError(ScoringError):
    """The entry script failed to import, or its ``init()`` raised, or the model file is unusable."""


class BadRequestError(ScoringError):
    """The request body is not what the model accepts (bad JSON, wrong shape or datatype...)."""

    status_code = 400


class ModelNotFoundError(ScoringError):
    """A V2 request named a model or version this server does not serve."""

    status_code = 404


class BuildError(ShipyardError):
    """The Docker Engine failed to build an image; the message carries the failing step."""

    exit_code = 4


class DockerUnavailableError(ShipyardError):
    """No Docker Engine answers at ``DOCKER_HOST`` or the default socket."""

    exit_code = 5


class DeployError(ShipyardError):
    """A deployment could not be created, updated, inspected or removed on its target."""

    exit_code = 6


class DeploymentNotFoundError(DeployError):
    """The named deployment does not exist on the target."""

    exit_code = 7


class ModelNotReadyError(ScoringError):
    """A request arrived while the model is still loading (``init()`` is running)."""

    status_code = 503


class ScoringTimeoutError(ScoringError):
    """Scoring one request took longer than the runtime's request timeout."""

    status_code = 504


class PayloadTooLargeError(ScoringError):
    """The request body is larger than the runtime accepts (``SHIPYARD_MAX_BODY_BYTES``)."""

    status_code = 413


class BuildStepError(BuildError):
    """One Dockerfile step failed. Carries the step, its command, exit code and output tail.

    ``package`` names the pip or apt package that could not be installed, when the log says so.
    """

    def __init__(self, message: str, *, step: int | None = None, instruction: str | None = None,
                 exit_code: int | None = None, log_tail: list[str] | None = None,
                 package: str | None = None) -> None:
        super().__init__(message)
        self.step, self.instruction, self.exit_code = step, instruction, exit_code
        self.log_tail, self.package = list(log_tail or []), package


class ImageCheckError(BuildError):
    """The image built, but loading the model in it failed (``python -m shipyard.runtime.check``).

    ``log`` holds what the check printed (the entry script's traceback); ``image_id`` is the
    untagged image, kept for debugging (``docker run --rm -it IMAGE_ID sh``); ``status`` is the
    check's exit status (None when it timed out).
    """

    def __init__(self, message: str, *, image_id: str, log: list[str] | None = None,
                 status: int | None = None) -> None:
        super().__init__(message)
        self.image_id, self.log, self.status = image_id, list(log or []), status


class ServerStartError(ShipyardError):
    """The runtime could not start serving (the port is taken, a setting is invalid...)."""

    exit_code = 8


class RegistryError(ShipyardError):
    """The model registry could not do what was asked (unknown model or version, unreachable registry)."""

    exit_code = 9


class ModelIntegrityError(RegistryError):
    """A stored model file does not match its recorded SHA-256: it was changed or corrupted."""
