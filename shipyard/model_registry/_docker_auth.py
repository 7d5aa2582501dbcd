"""Registry credentials the way the Docker Engine's client keeps them: ``~/.docker/config.json``.

``docker login`` writes either ``auths[host].auth`` (base64 ``user:password``) or, with a
credential helper, ``credsStore`` / ``credHelpers[host]``; the helper is the program
``docker-credential-<name>``, which prints ``{"Username": ..., "Secret": ...}`` for the host
given on its stdin. Shipyard reads the same file (``DOCKER_CONFIG`` moves it), so one
``docker login`` serves images and models alike.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

from shipyard.errors import RegistryError


def config_path() -> Path:
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"


def _host_of(key: str) -> str:
    return key.removeprefix("https://").removeprefix("http://").split("/", 1)[0]


def credentials(host: str) -> tuple[str, str] | None:
    """(user, secret) for *host* from Docker's config, or ``None`` when it has none."""
    path = config_path()
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise RegistryError(f"cannot read Docker's credentials from {path}: {exc}") from exc
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    for key, entry in (config.get("auths") or {}).items():
        if _host_of(key) != host or not isinstance(entry, dict):
            continue
        if entry.get("auth"):
            user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
            return user, secret
        if entry.get("username"):
            return entry["username"], entry.get("password", "")
    if helper:
        return _from_helper(helper, host)
    return None


def _from_helper(helper: str, host: str) -> tuple[str, str] | None:
    program = f"docker-credential-{helper}"
    try:
        done = subprocess.run([program, "get"], input=host.encode(), capture_output=True, timeout=30, check=False)
    except FileNotFoundError:
        raise RegistryError(f"Docker's config names the credential helper '{helper}', but {program} is not "
                            "installed") from None
    if done.returncode != 0:
        return None  # the helper has no credentials for this host
    answer = json.loads(done.stdout)
    return answer.get("Username", ""), answer.get("Secret", "")
