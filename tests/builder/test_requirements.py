"""Requirement lines are accepted as pip accepts them: checked against pip's own requirement-file parser.

The reference is the installed pip (``pip._internal.req.req_file.parse_requirements``, the code
``pip install -r`` runs). Each test parses the user's file with it, then parses what Shipyard
writes into the build context (``.shipyard/requirements.txt`` plus the carried ``wheels/``) with
it too, and compares the requirements and the index settings pip ends up with. ``-r URL`` is
fetched from a real HTTP server on loopback, by pip in both cases.
"""

from __future__ import annotations

import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shipyard.builder.environment import load_environment
from shipyard.errors import SpecError

req_file = pytest.importorskip("pip._internal.req.req_file", reason="needs pip's requirement-file parser")


def pip_reads(path: Path, cwd: Path) -> dict[str, object]:
    """What real pip takes from the requirements file *path*: requirements and finder settings."""
    from pip._internal.index.collector import LinkCollector
    from pip._internal.index.package_finder import PackageFinder
    from pip._internal.models.search_scope import SearchScope
    from pip._internal.models.selection_prefs import SelectionPreferences
    from pip._internal.network.session import PipSession

    session = PipSession()
    finder = PackageFinder.create(
        link_collector=LinkCollector(session=session, search_scope=SearchScope.create([], [], no_index=False)),
        selection_prefs=SelectionPreferences(allow_yanked=False))
    previous = Path.cwd()
    os.chdir(cwd)  # pip resolves local requirement paths against the working directory
    try:
        requirements = [(_local_name(parsed.requirement, cwd), parsed.constraint, parsed.options)
                        for parsed in req_file.parse_requirements(str(path), session=session, finder=finder)]
    finally:
        os.chdir(previous)
    return {"requirements": requirements, "index_urls": finder.search_scope.index_urls,
            "find_links": [_local_name(link, cwd) for link in finder.search_scope.find_links],
            "no_index": finder.search_scope.no_index, "pre": finder.allow_all_prereleases,
            "prefer_binary": finder.prefer_binary, "format_control": str(finder.format_control),
            "trusted_hosts": sorted(host for host, _ in session.pip_trusted_origins)}


def _local_name(text: str, cwd: Path) -> str:
    """A local path as the file or folder it names (the context moves it into wheels/)."""
    head = text.split(";")[0].strip()
    candidate = cwd / head
    return f"local:{candidate.resolve().name}" if ("/" in head or head.startswith(".")) and candidate.exists() \
        else text


def context_requirements(env_file: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Write the environment as the build context holds it; returns (requirements.txt, its folder)."""
    environment = load_environment(env_file, root=env_file.parent)
    context = tmp_path / "context"
    (context / "wheels").mkdir(parents=True)
    for local in environment.local_files:
        (shutil.copytree if local.is_dir() else shutil.copy)(local, context / "wheels" / local.name)
    (context / "requirements.txt").write_text("".join(f"{line}\n" for line in environment.requirements))
    return context / "requirements.txt", context


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A real HTTP server on loopback serving a folder: (folder, base URL)."""
    served = tmp_path / "served"
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


SHA = "sha256:" + "a" * 64


def test_every_kind_of_line_pip_accepts_reaches_pip_unchanged(tmp_path, http_folder):
    served, url = http_folder
    (served / "extra.txt").write_text("requests==2.32.3\n--extra-index-url https://remote.example/simple\n")
    spec = tmp_path / "spec"
    (spec / "wheels").mkdir(parents=True)
    (spec / "wheels" / "internal_lib-1.0-py3-none-any.whl").write_bytes(b"wheel")
    (spec / "vendor" / "localpkg").mkdir(parents=True)
    (spec / "vendor" / "localpkg" / "pyproject.toml").write_text("[project]\nname = 'localpkg'\nversion = '1'\n")
    (spec / "links").mkdir()
    (spec / "constraints.txt").write_text("urllib3<3\n")
    (spec / "base.txt").write_text("pandas>=2  # shared with training\n")
    requirements = spec / "requirements.txt"
    requirements.write_text(f"""\
# An Azure ML v1 style requirements file
-r base.txt
-r {url}/extra.txt
-c constraints.txt
numpy>=1.24 ; python_version >= "3.10"  # pinned for the model
scikit-learn==1.5.0 \\
    --hash={SHA}
https://files.example.com/packages/joblib-1.4.2-py3-none-any.whl
https://files.example.com/packages/xgboost-2.1.0.tar.gz#egg=xgboost
requests-toolbelt @ https://files.example.com/requests_toolbelt-1.0.0.tar.gz
git+https://github.com/example/repo.git@v1.0#egg=repo
--extra-index=https://mirror.example.com/simple
-ihttps://pypi.example.com/simple
--extra-index-url=https://other.example.com/simple?token=a=b
-f https://download.example.com/wheels/
-f links
--trusted-host mirror.example.com
--pre
--prefer-binary
--only-binary :all:
--no-binary=lxml
wheels/internal_lib-1.0-py3-none-any.whl
./vendor/localpkg
pillow[avif] >= 10
""")
    ours, context = context_requirements(requirements, tmp_path)
    reference = pip_reads(requirements, spec)
    assert pip_reads(ours, context) == reference
    assert len(reference["requirements"]) == 12 and ("requests==2.32.3", False, {}) in reference["requirements"]
    assert reference["index_urls"] == ["https://pypi.example.com/simple", "https://other.example.com/simple?token=a=b"]
    assert reference["trusted_hosts"] == ["mirror.example.com"] and reference["pre"] and reference["prefer_binary"]
    environment = load_environment(requirements, root=spec)
    assert "git" in environment.build_system_packages
    assert {path.name for path in environment.local_files} == {"internal_lib-1.0-py3-none-any.whl", "localpkg",
                                                                "links", "constraints.txt"}
    assert environment.origins["numpy"] == f"{requirements}:5"


def test_a_conda_pip_section_takes_the_same_lines(tmp_path, http_folder):
    served, url = http_folder
    (served / "more.txt").write_text("joblib==1.4.2\n")
    spec = tmp_path / "spec"
    spec.mkdir()
    (spec / "dist").mkdir()
    (spec / "dist" / "helpers-0.1.tar.gz").write_bytes(b"sdist")
    lines = [f"-r {url}/more.txt", "--extra-index-url https://mirror.example.com/simple",
             "https://files.example.com/packages/lightgbm-4.5.0-py3-none-manylinux_2_28_x86_64.whl",
             "dist/helpers-0.1.tar.gz", "--trusted-host=mirror.example.com", "azureml-defaults"]
    env_file = spec / "environment.yml"
    env_file.write_text("dependencies:\n  - python=3.11\n  - pip:\n" + "".join(f"    - '{line}'\n" for line in lines))
    flat = spec / "as-requirements.txt"
    flat.write_text("".join(f"{line}\n" for line in lines[:-1]) + "inference-schema\n")  # Azure stack swapped
    ours, context = context_requirements(env_file, tmp_path)
    assert pip_reads(ours, context) == pip_reads(flat, spec)


@pytest.mark.parametrize(("line", "message"), [
    ("-e ./vendor/localpkg", "editable installs do not work in an image"),
    ("--user", "no such option: --user"),
    ("--index-url", "--index-url option requires 1 argument"),
    ("numpy --hash", "--hash option requires 1 argument"),
    ("-r missing.txt", r"'missing.txt' does not exist"),
    ("-r ../outside.txt", "points outside the spec's folder"),
    ("-r requirements.txt", "remove the circular -r"),
    ("./notes", "is a folder without pyproject.toml or setup.py"),
    ("missing-1.0.tar.gz", "'missing-1.0.tar.gz' does not exist"),
    ("--extra-index-url 'https://a.example", "cannot split the options"),
    ("scikit learn", "is not a valid pip requirement"),
])
def test_lines_pip_refuses_or_that_cannot_work_in_an_image_are_spec_errors(tmp_path, line, message):
    spec = tmp_path / "spec"
    (spec / "notes").mkdir(parents=True)
    (tmp_path / "outside.txt").write_text("numpy\n")
    requirements = spec / "requirements.txt"
    requirements.write_text(f"numpy\n{line}\n")
    with pytest.raises(SpecError, match=message) as caught:
        load_environment(requirements, root=spec)
    assert (caught.value.file, caught.value.line) == (str(requirements), 2)
