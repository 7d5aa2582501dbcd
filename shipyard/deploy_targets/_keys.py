"""API keys for deployments: generated at deploy time, kept across updates, never in an image.

Like Azure ML, a deployment has a primary and a secondary key, both accepted, so one can be
rotated while clients still use the other. The runtime reads them from ``SHIPYARD_API_KEYS``
(comma-separated) at run time; each target decides where that value lives (container env,
Kubernetes Secret).
"""

from __future__ import annotations

import secrets

from shipyard.deploy_targets.base import DeploymentKeys
from shipyard.deploy_targets.options import DeployOptions
from shipyard.errors import SpecError

KEYS_ENV = "SHIPYARD_API_KEYS"
_MIN_KEY_LENGTH = 16


def new_key() -> str:
    """A fresh random key (32 bytes, URL-safe base64: 43 characters)."""
    return secrets.token_urlsafe(32)


def _checked(key: str, which: str) -> str:
    if len(key) < _MIN_KEY_LENGTH or any(ch in key for ch in ", \t\r\n"):
        raise SpecError(f"the {which} key must be at least {_MIN_KEY_LENGTH} characters without commas "
                        "or whitespace; leave it out to have one generated", field=f"{which}_key")
    return key


def resolve_keys(options: DeployOptions, current: DeploymentKeys | None) -> DeploymentKeys | None:
    """The keys a deployment should have: given ones, else the current ones, else new ones.

    Returns ``None`` when auth is off.
    """
    if not options.auth_enabled:
        return None
    primary = (options.primary_key.get_secret_value() if options.primary_key
               else current.primary if current else new_key())
    secondary = (options.secondary_key.get_secret_value() if options.secondary_key
                 else current.secondary if current else new_key())
    return DeploymentKeys(_checked(primary, "primary"), _checked(secondary, "secondary"))


def keys_env_value(keys: DeploymentKeys | None) -> str:
    """The ``SHIPYARD_API_KEYS`` value for ``keys`` (empty: auth off)."""
    return ",".join(keys.as_list()) if keys else ""


def keys_from_env_value(value: str | None) -> DeploymentKeys | None:
    """Read keys back from a ``SHIPYARD_API_KEYS`` value; ``None`` when auth is off."""
    parts = [part for part in (value or "").split(",") if part]
    if not parts:
        return None
    return DeploymentKeys(parts[0], parts[1] if len(parts) > 1 else parts[0])
