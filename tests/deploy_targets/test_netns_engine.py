"""The second engine fixture is a separate Docker Engine that the host reaches only over TCP."""

from __future__ import annotations

import docker
import pytest

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def test_netns_engine_is_a_separate_engine_reached_over_tcp(netns_engine):
    remote = docker.DockerClient(base_url=netns_engine.docker_host)
    local = docker.from_env()

    assert netns_engine.docker_host == f"tcp://{netns_engine.ip}:2375"
    assert remote.info()["DockerRootDir"].startswith(str(netns_engine.workdir))
    assert remote.info()["DockerRootDir"] != local.info()["DockerRootDir"]
