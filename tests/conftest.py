"""Shared pytest fixtures. Each concern keeps its fixtures in its own module under tests/fixtures/."""

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.docker_engine",
    "tests.fixtures.netns_engine",
    "tests.fixtures.azmlinfsrv",
]
