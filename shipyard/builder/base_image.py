"""A Python base image made locally from Debian packages, for sites without a registry.

``debootstrap --variant=minbase`` installs Debian's own Python (3.11 in bookworm) with the venv
module, pip and CA certificates into a folder; the folder is trimmed (documentation, manuals,
locales, apt lists and caches) and turned into an image of the requested platform with the
``ENV``/``CMD``/``LABEL`` settings a base image needs. Only a Debian mirror is required, and ``--mirror`` points
that at an internal one. Foreign platforms (``linux/arm64``) work where qemu-user-static and
binfmt-support are installed: debootstrap then runs the second stage under emulation.

The image records its Python version in the ``dev.shipyard.base.python`` label, which
``build-image`` checks against the environment's ``python=`` before building.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import docker

from shipyard.builder._docker import docker_client
from shipyard.builder.plan import BASE_PYTHON_LABEL
from shipyard.builder.progress import BuildLog
from shipyard.builder.support import DEBIAN_ARCH, check_platform
from shipyard.errors import BuildError

logger = logging.getLogger(__name__)

DEFAULT_MIRROR = "http://deb.debian.org/debian"
DEFAULT_SUITE = "bookworm"
BASE_PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
EXTRA_CA_NAME = "shipyard-extra-ca.crt"

#: Removed after debootstrap: nothing a Python service reads at run time.
_TRIM = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
         "var/cache/apt", "var/lib/apt/lists", "var/log", "var/cache/debconf/templates.dat-old",
         "debootstrap")
#: Keeps later apt installs (system_packages) just as lean, like Debian's official images do.
_DPKG_EXCLUDES = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
"""
_APT_CLEAN = ('APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n'
              'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };\n'
              'Acquire::GzipIndexes "true";\n')


@dataclass(frozen=True)
class BaseImage:
    """A base image in the engine."""

    tag: str
    image_id: str
    python_version: str
    platform: str
    duration_s: float


def build_base_image(tag: str, *, platform: str = "linux/amd64", suite: str = DEFAULT_SUITE,
                     mirror: str = DEFAULT_MIRROR, extra_ca: Path | None = None,
                     client: docker.DockerClient | None = None, workdir: Path | None = None) -> BaseImage:
    """Make a Debian *suite* Python base image with debootstrap and import it as *tag*.

    Args:
        tag: ``name:tag`` for the image.
        platform: ``linux/amd64`` or ``linux/arm64`` (foreign ones need qemu-user-static + binfmt-support).
        suite: Debian release (its Python is the image's Python: bookworm ships 3.11).
        mirror: Debian mirror URL (an internal mirror on air-gapped sites).
        extra_ca: a PEM bundle to trust in the image (added to the system CA store).
        client: Docker SDK client (default: ``DOCKER_HOST`` or the local socket).
        workdir: where to debootstrap (default: a temporary folder, removed afterwards).

    Raises:
        BuildError: debootstrap or the import failed (the message carries debootstrap's log tail).
        DockerUnavailableError: no engine answers.
    """
    check_platform(platform)
    if not re.fullmatch(r"[a-z][a-z0-9-]*", suite):
        raise BuildError(f"'{suite}' is not a Debian suite name (e.g. bookworm, trixie)")
    if os.geteuid() != 0:
        raise BuildError("building a base image runs debootstrap, which needs root (run it with sudo)")
    if shutil.which("debootstrap") is None:
        raise BuildError("debootstrap is not installed; on Debian/Ubuntu: apt-get install debootstrap")
    if extra_ca is not None and not Path(extra_ca).is_file():
        raise BuildError(f"extra CA bundle '{extra_ca}' does not exist")
    client = client or docker_client()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="shipyard-rootfs-", dir=workdir) as temp:
        rootfs = Path(temp) / "rootfs"
        _debootstrap(rootfs, platform=platform, suite=suite, mirror=mirror)
        _trim(rootfs)
        if extra_ca is not None:
            _trust_ca(rootfs, Path(extra_ca))
        python = _python_version(rootfs)
        image_id = _import(client, rootfs, tag, platform=platform, python=python, suite=suite)
    result = BaseImage(tag=tag, image_id=image_id, python_version=python, platform=platform,
                       duration_s=time.monotonic() - started)
    logger.info("base image %s (%s, Python %s) ready in %.0f s", tag, platform, python, result.duration_s)
    return result


def _debootstrap(rootfs: Path, *, platform: str, suite: str, mirror: str) -> None:
    arch = DEBIAN_ARCH[platform]
    command = ["debootstrap", "--variant=minbase", f"--arch={arch}", f"--include={','.join(BASE_PACKAGES)}",
               suite, str(rootfs), mirror]
    logger.info("running %s", " ".join(command))
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        log = (rootfs / "debootstrap" / "debootstrap.log")
        tail = (log.read_text(errors="replace") if log.exists() else completed.stdout + completed.stderr)
        hint = ""
        if arch != DEBIAN_ARCH["linux/amd64"] and "can't be executed" in completed.stdout + completed.stderr:
            hint = f"\n{platform} binaries cannot run here: install qemu-user-static and binfmt-support"
        last = "\n".join(f"  {line}" for line in tail.strip().splitlines()[-20:])
        raise BuildError(f"debootstrap exited with code {completed.returncode}{hint}\nlast lines of its log:\n{last}")


def _trim(rootfs: Path) -> None:
    for relative in _TRIM:
        target = rootfs / relative
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
            target.mkdir(parents=True)
        elif target.exists():
            target.unlink()
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True, exist_ok=True)
    (rootfs / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
    (rootfs / "etc/dpkg/dpkg.cfg.d/shipyard-excludes").write_text(_DPKG_EXCLUDES)
    (rootfs / "etc/apt/apt.conf.d/shipyard-clean").write_text(_APT_CLEAN)


def _trust_ca(rootfs: Path, bundle: Path) -> None:
    """Add *bundle* to the image's CA store without running anything inside it (works for any platform)."""
    pem = bundle.read_text()
    target = rootfs / "usr/local/share/ca-certificates" / EXTRA_CA_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(pem)
    system_bundle = rootfs / "etc/ssl/certs/ca-certificates.crt"
    with system_bundle.open("a") as handle:
        handle.write("\n" + pem)


def _python_version(rootfs: Path) -> str:
    """Python major.minor from dpkg's status file (no need to run the foreign interpreter)."""
    status = (rootfs / "var/lib/dpkg/status").read_text(errors="replace")
    for block in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and not line[0].isspace())
        if fields.get("Package") == "python3":
            upstream = fields["Version"].split(":")[-1]
            return ".".join(upstream.split(".")[:2])
    raise BuildError("debootstrap finished but python3 is not installed in the image")


def _import(client: docker.DockerClient, rootfs: Path, tag: str, *, platform: str, python: str, suite: str) -> str:
    """Turn *rootfs* into an image of *platform*.

    ``docker import`` would be the obvious tool, but the engine ignores its ``platform`` for
    imported tarballs (a foreign rootfs came out labelled amd64), so the rootfs goes in through a
    ``FROM scratch`` + ``ADD rootfs.tar /`` build, which records the platform it is given.
    """
    with tempfile.TemporaryDirectory(prefix="shipyard-base-context-") as temp:
        context = Path(temp)
        excludes = ["./proc/*", "./sys/*", "./dev/*", "./run/*", "./tmp/*"]
        subprocess.run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(context / "rootfs.tar"),
                        *[f"--exclude={pattern}" for pattern in excludes], "."], check=True)
        (context / "Dockerfile").write_text(_BASE_DOCKERFILE.format(label=BASE_PYTHON_LABEL, python=python, suite=suite))
        log = BuildLog()
        try:
            for record in client.api.build(path=str(context), tag=tag, platform=platform, rm=True, forcerm=True,
                                           decode=True):
                log.feed(record)
        except docker.errors.APIError as exc:
            raise BuildError(f"importing the root filesystem as {tag} failed: {exc.explanation or exc}") from exc
    return client.images.get(tag).id


_BASE_DOCKERFILE = """\
FROM scratch
ADD rootfs.tar /
ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    LANG=C.UTF-8
LABEL {label}="{python}" \\
      dev.shipyard.base.suite="{suite}" \\
      org.opencontainers.image.description="Debian {suite} with Python {python}, made by shipyard base-image build"
CMD ["python3"]
"""
