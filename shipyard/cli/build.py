"""``shipyard build-image``, ``render-dockerfile``, ``spec-schema`` and ``base-image build``.

Each command parses its options, calls one function of :mod:`shipyard.builder` and prints the
result; build progress is drawn with rich (step N/M, cached or running, the live output line).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

from shipyard import builder
from shipyard.builder.progress import BuildEvent

console = Console(stderr=True, highlight=False, soft_wrap=True)

base_image_app = typer.Typer(name="base-image", help="Make base images without a registry.",
                             no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to *app*."""
    app.command("build-image")(build_image)
    app.command("render-dockerfile")(render_dockerfile)
    app.command("spec-schema")(spec_schema)
    app.add_typer(base_image_app)


_SPEC = typer.Argument(Path("shipyard.yaml"), help="The deployment spec, or its folder.")
_BASE = typer.Option(None, "--base-image", envvar="SHIPYARD_BASE_IMAGE",
                     help="Build on this image instead of the spec's base_image.")
_PLATFORM = typer.Option(None, "--platform", envvar="SHIPYARD_PLATFORM",
                         help="linux/amd64 or linux/arm64 (default: the engine's).")
_EXTRA_CA = typer.Option(None, "--extra-ca", exists=True, dir_okay=False, envvar="SHIPYARD_EXTRA_CA",
                         help="PEM CA bundle trusted while installing packages (not kept in the image).")


def build_image(
    spec: Path = _SPEC,
    tag: str | None = typer.Option(None, "--tag", "-t", help="Image name:tag (registry/name:tag to push)."),
    base_image: str | None = _BASE,
    platform: str | None = _PLATFORM,
    extra_ca: Path | None = _EXTRA_CA,
    export: Path | None = typer.Option(None, "--export", file_okay=False,
                                          help="Write the Dockerfile and context to DIR instead of building."),
    push: bool = typer.Option(False, "--push", help="Push the image to its registry after building."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Ignore the layer cache."),
    pull: bool = typer.Option(False, "--pull", help="Pull a newer base image first."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show every line of the build output."),
    runtime_wheel: Path | None = typer.Option(None, "--runtime-wheel", exists=True, dir_okay=False,
                                              help="Install this Shipyard wheel instead of this installation."),
    no_check: bool = typer.Option(False, "--no-check",
                                  help="Skip loading the model in the built image (import score.py, run init())."),
) -> None:
    """Build an image from a deployment spec on the Docker Engine (DOCKER_HOST or the local socket)."""
    _show_logs(verbose)
    loaded = builder.load_spec(spec)
    if export is not None:
        folder = builder.export_context(loaded, export, base_image=base_image, platform=platform, extra_ca=extra_ca,
                                        runtime_wheel=runtime_wheel)
        console.print(f"wrote the Dockerfile and build context to {folder}")
        console.print(f"build it with: docker build -t {tag or loaded.name + ':latest'} {folder}")
        return
    if not tag:
        raise typer.BadParameter("give the image a name with --tag NAME:TAG (or use --export DIR)",
                                 param_hint="--tag")
    printer = _ProgressPrinter(verbose=verbose)
    result = builder.build_image(loaded, tag, base_image=base_image, platform=platform, extra_ca=extra_ca,
                                 push=push, no_cache=no_cache, pull=pull, progress=printer,
                                 runtime_wheel=runtime_wheel, check=not no_check)
    printer.finish()
    console.print(f"[green]built[/] {result.tag} ({result.image_id[:19]}) in {result.duration_s:.1f} s, "
                  f"{result.cached_steps}/{len(result.steps)} steps from cache")
    if result.pushed:
        console.print(f"[green]pushed[/] {result.pushed}")
    typer.echo(result.tag)


def render_dockerfile(spec: Path = _SPEC, base_image: str | None = _BASE,
                      platform: str | None = _PLATFORM) -> None:
    """Print the Dockerfile a spec builds, without building."""
    _show_logs(False)
    plan = builder.plan_build(builder.load_spec(spec), base_image=base_image, platform=platform)
    typer.echo(builder.render_dockerfile(plan), nl=False)


def spec_schema() -> None:
    """Print the JSON Schema of shipyard.yaml (for editors: yaml-language-server, VS Code)."""
    typer.echo(json.dumps(builder.spec_json_schema(), indent=2))


@base_image_app.command("build")
def base_image_build(
    tag: str = typer.Option(..., "--tag", "-t", help="Image name:tag, e.g. shipyard-base:bookworm."),
    platform: str = typer.Option("linux/amd64", "--platform", help="linux/amd64 or linux/arm64."),
    suite: str = typer.Option("bookworm", "--suite", help="Debian release; its Python is the image's."),
    mirror: str = typer.Option("http://deb.debian.org/debian", "--mirror", help="Debian mirror (internal on air-gapped sites)."),
    extra_ca: Path | None = typer.Option(None, "--extra-ca", exists=True, dir_okay=False,
                                            help="PEM CA bundle to trust inside the image."),
) -> None:
    """Make a Debian-based Python image locally from Debian packages (debootstrap); needs root."""
    _show_logs(True)
    with console.status(f"debootstrap {suite} for {platform}..."):
        image = builder.build_base_image(tag, platform=platform, suite=suite, mirror=mirror, extra_ca=extra_ca)
    console.print(f"[green]built[/] {image.tag} ({image.image_id[:19]}): Debian {suite}, Python "
                  f"{image.python_version}, {image.platform}, in {image.duration_s:.0f} s")
    typer.echo(image.tag)


class _ProgressPrinter:
    """Draws build events: one line per step, marked cached or run, plus a live output line."""

    def __init__(self, *, verbose: bool) -> None:
        self.verbose = verbose
        self.status = console.status("sending the build context...")
        self.status.start()
        self.pending: BuildEvent | None = None

    def __call__(self, event: BuildEvent) -> None:
        if event.kind == "step":
            self._flush()
            self.pending = event
            self.status.update(f"[{event.step}/{event.total}] {escape(_short(event.text))}")
        elif event.kind == "cached" and self.pending is not None:
            console.print(f"[dim][{event.step}/{event.total}][/] {escape(_short(self.pending.text))} [cyan]cached[/]")
            self.pending = None
        elif event.kind == "running" and self.pending is not None:
            console.print(f"[dim][{event.step}/{event.total}][/] {escape(_short(self.pending.text))} [yellow]running[/]")
            self.pending = None
        elif event.kind == "check":
            self._flush()
            console.print(escape(event.text))
            self.status.update(escape(event.text))
        elif event.kind == "output":
            if self.verbose:
                console.print(f"    [dim]{escape(event.text)}[/]")
            where = f"[{event.step}/{event.total}] " if event.step is not None else "check: "
            self.status.update(f"{where}{escape(_short(event.text, 100))}")

    def _flush(self) -> None:
        if self.pending is not None:  # COPY steps report neither 'cached' nor 'running'
            console.print(f"[dim][{self.pending.step}/{self.pending.total}][/] {escape(_short(self.pending.text))}")
            self.pending = None

    def finish(self) -> None:
        """Stop the live line."""
        self._flush()
        self.status.stop()


def _short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _show_logs(verbose: bool) -> None:
    """Route shipyard's warnings (INFO with --verbose) to the terminal, unless logging is already set up."""
    root = logging.getLogger()
    if not root.handlers:
        handler = RichHandler(console=console, show_time=False, show_path=False)
        logging.getLogger("shipyard").addHandler(handler)
        logging.getLogger("shipyard").setLevel(logging.INFO if verbose else logging.WARNING)
