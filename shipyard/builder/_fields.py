"""Constrained string types for every spec value that reaches a Dockerfile.

The Dockerfile is rendered from user input, so each value that lands in it is checked here
against the smallest grammar that serves its purpose: package names are Debian package names,
environment names are POSIX names, image references follow Docker's reference grammar, and free
text (environment values, label values) may hold anything but control characters, since a
newline would start a new Dockerfile instruction. The templates still quote every value
(defence in depth); these checks make bad input fail early, naming the field and the reason.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, Field

#: Characters that end a line somewhere: Docker and shells split on \n, pip reads requirement files with
#: ``str.splitlines`` (which also splits on \x1c-\x1e, \x85, U+2028, U+2029). None may reach a Dockerfile
#: or a file the build reads line by line.
CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def single_line(value: str, what: str = "this value") -> str:
    """*value* unchanged, or ValueError when it holds a line break or control character.

    The one rule for every string that the builder writes into the Dockerfile or the build
    context (values, file names, requirement lines): they would start a new instruction or line.
    """
    if CONTROL.search(value):
        raise ValueError(f"{what} must not contain newlines or control characters (they would inject "
                         f"Dockerfile instructions or requirement lines): {value!r}")
    return value


def _matcher(pattern: str, what: str, example: str):
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        single_line(value, f"a {what}")
        if not compiled.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid {what} (expected something like {example!r}); "
                             "shell syntax, spaces and quotes are not allowed here")
        return value

    return check


def _plain_text(value: str) -> str:
    return single_line(value, "a value")


#: A Debian package, optionally pinned: ``libgomp1`` or ``libgomp1=12.2.0-14``.
AptPackage = Annotated[str, AfterValidator(_matcher(
    r"[a-z0-9][a-z0-9+.-]+(=[A-Za-z0-9.+~:-]+)?", "Debian package name", "libgomp1"))]

#: An environment variable name.
EnvName = Annotated[str, AfterValidator(_matcher(r"[A-Za-z_][A-Za-z0-9_]*", "environment variable name",
                                                 "MY_SETTING"))]

#: Free text that ends up quoted in the Dockerfile (environment values, label values).
PlainText = Annotated[str, AfterValidator(_plain_text)]

#: An OCI/Docker label key (reverse-DNS style).
LabelKey = Annotated[str, AfterValidator(_matcher(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}", "label key",
                                                  "com.example.team"))]

#: A Docker image reference: ``[registry[:port]/]path[:tag][@sha256:digest]``.
ImageRef = Annotated[str, AfterValidator(_matcher(
    r"(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(?:@sha256:[a-f0-9]{64})?",
    "image reference", "registry.example.com/team/python:3.11-slim"))]

#: A deployment / model name: used in the model path, V2 routes and labels.
Name = Annotated[str, AfterValidator(_matcher(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}", "name",
                                              "iris-classifier"))]

#: A model version label.
Version = Annotated[str, AfterValidator(_matcher(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}", "version", "1"))]

#: ``major.minor`` of a CPython release.
PythonVersion = Annotated[str, AfterValidator(_matcher(r"3\.[0-9]{1,2}", "Python version", "3.11"))]

#: ``major.minor`` of a CUDA release.
CudaVersion = Annotated[str, AfterValidator(_matcher(r"[0-9]{2}\.[0-9]{1,2}", "CUDA version", "12.4"))]

#: An http(s) package index URL.
IndexUrl = Annotated[str, AfterValidator(_matcher(r"https?://[^\s\"'\\`$;]+", "package index URL",
                                                  "https://pypi.example.com/simple"))]

#: A host name with an optional port, as pip's ``--trusted-host`` takes it.
HostName = Annotated[str, AfterValidator(_matcher(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?", "host name",
                                                  "pypi.example.com"))]

#: A TCP port.
Port = Annotated[int, Field(ge=1, le=65535)]


#: Settings the spec controls through dedicated fields, or that must never be baked into an image.
#: Checked for every variable baked into an image, whether it comes from the spec's ``env:`` or an
#: environment file's ``variables:``.
RESERVED_ENV = {
    "SHIPYARD_MODEL_DIR": "set by the 'models' field",
    "SHIPYARD_ENTRY_SCRIPT": "set by the 'entry_script' field",
    "SHIPYARD_APP_ROOT": "set by the builder",
    "SHIPYARD_PORT": "set by the 'port' field",
    "SHIPYARD_GRPC_PORT": "set by the 'grpc_port' field",
    "SHIPYARD_MODEL_NAME": "set by the 'name' field",
    "SHIPYARD_MODEL_VERSION": "set by the 'version' field",
    "SHIPYARD_API_KEYS": "a secret: pass it when the container starts (deploy settings), never in an image",
    "SHIPYARD_API_KEYS_FILE": "where the deploy target puts the keys when the container starts; an image "
                              "that names it would serve with whatever file is there",
    "SHIPYARD_EXECUTION_PROVIDERS": "set by the 'execution_providers' field",
    "SHIPYARD_STRICT_PROVIDERS": "set by the 'strict_providers' field",
    "SHIPYARD_MAX_BATCH_SIZE": "set by the 'batching' field",
    "SHIPYARD_MAX_QUEUE_DELAY_US": "set by the 'batching' field",
    "SHIPYARD_PREFERRED_BATCH_SIZES": "set by the 'batching' field",
}


def _no_reserved_env(env: dict[str, str]) -> dict[str, str]:
    for key in env:
        if key in RESERVED_ENV:
            raise ValueError(f"{key} cannot be set here ({RESERVED_ENV[key]})")
    return env


#: Environment variables baked into an image (``ENV`` lines): POSIX names, one-line values, and
#: none of the names Shipyard sets itself or that hold secrets.
ImageEnv = Annotated[dict[EnvName, PlainText], AfterValidator(_no_reserved_env)]
