"""The local base image: rootfs preparation (no Docker needed) and the image the fixtures build."""

from __future__ import annotations

import pytest

from shipyard.builder.base_image import EXTRA_CA_NAME, _python_version, _trim, _trust_ca

STATUS = """Package: python3-minimal
Status: install ok installed
Version: 3.11.2-1+b1

Package: python3
Status: install ok installed
Version: 3.11.2-1+b1
Description: interactive high-level object-oriented language (default version)
 multi-line description
"""


@pytest.fixture
def rootfs(tmp_path):
    root = tmp_path / "rootfs"
    for folder in ("usr/share/doc/python3", "usr/share/man/man1", "var/lib/apt/lists", "var/lib/dpkg",
                   "etc/ssl/certs", "etc/dpkg/dpkg.cfg.d", "etc/apt/apt.conf.d"):
        (root / folder).mkdir(parents=True)
    (root / "usr/share/doc/python3/changelog.gz").write_bytes(b"x" * 100)
    (root / "var/lib/apt/lists/deb.debian.org_Packages").write_text("lists")
    (root / "var/lib/dpkg/status").write_text(STATUS)
    (root / "etc/ssl/certs/ca-certificates.crt").write_text("-----BEGIN CERTIFICATE-----\nDEBIAN\n")
    return root


def test_the_python_version_comes_from_dpkg_without_running_the_image(rootfs):
    assert _python_version(rootfs) == "3.11"


def test_trimming_removes_docs_and_apt_lists_and_keeps_later_installs_lean(rootfs):
    _trim(rootfs)
    assert not any((rootfs / "usr/share/doc").iterdir())
    assert not (rootfs / "var/lib/apt/lists/deb.debian.org_Packages").exists()
    assert (rootfs / "var/lib/apt/lists/partial").is_dir()
    assert "path-exclude /usr/share/doc/*" in (rootfs / "etc/dpkg/dpkg.cfg.d/shipyard-excludes").read_text()
    assert 'APT::Install-Recommends "false"' in (rootfs / "etc/apt/apt.conf.d/shipyard-clean").read_text()


def test_an_extra_ca_joins_the_image_trust_store(rootfs, tmp_path):
    bundle = tmp_path / "corp.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\nCORPORATE\n-----END CERTIFICATE-----\n")
    _trust_ca(rootfs, bundle)
    assert (rootfs / "usr/local/share/ca-certificates" / EXTRA_CA_NAME).read_text() == bundle.read_text()
    system = (rootfs / "etc/ssl/certs/ca-certificates.crt").read_text()
    assert "DEBIAN" in system and "CORPORATE" in system


@pytest.mark.docker
def test_the_fixture_base_image_records_its_python(docker_base_image, docker_client):
    config = docker_client.images.get(docker_base_image).attrs["Config"]
    assert config["Labels"]["dev.shipyard.base.python"] == "3.11"
    assert config["Cmd"] == ["python3"] and "LANG=C.UTF-8" in config["Env"]
    output = docker_client.containers.run(docker_base_image, ["sh", "-c", "python3 -m venv /tmp/v && ls /usr/share/doc | wc -l"],
                                          remove=True)
    assert output.decode().strip() == "0"
