"""The `tbench` command line: wires the parts together."""

from __future__ import annotations

import signal
import sys
import time

import typer
from rich.console import Console

from cost_model.cli import cost_app
from tbench.process import DEFAULT_HOST, TargetProcess, TargetStartError
from tbench.registry import TARGETS, get_target, resolve_targets

app = typer.Typer(
    help="transport-bench: what real-time transports cost in latency, resources and dollars.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)
app.add_typer(cost_app, name="cost")


def _target_or_exit(name: str) -> None:
    if name not in TARGETS:
        err_console.print(f"[red]unknown target {name!r}[/]; known: {', '.join(TARGETS)}")
        raise typer.Exit(2)


@app.command()
def targets() -> None:
    """List the registered targets and their capabilities."""
    for spec in TARGETS.values():
        resume = "resume" if spec.supports_resume else "no resume"
        console.print(f"[bold]{spec.name:<14}[/] {spec.scheme:<4} {resume:<9} {spec.description}")


@app.command()
def serve(
    target: str = typer.Argument(..., help="Target name (see `tbench targets`)."),
    host: str = typer.Option(DEFAULT_HOST, help="Address to bind; loopback unless told."),
    port: int = typer.Option(8000, help="TCP port to bind."),
) -> None:
    """Start one target's server in the foreground and print its URL."""
    _target_or_exit(target)
    server = TargetProcess(get_target(target), host=host, port=port)
    try:
        server.start()
    except TargetStartError as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    console.print(f"{target} listening on [bold]{server.url}[/]  (Ctrl-C to stop)")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while server.alive():
            time.sleep(0.5)
        err_console.print(f"[red]{target} exited[/]\n{server.log_tail()}")
        raise typer.Exit(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command()
def verify(
    target: str = typer.Option(
        "all", "--target", "-t", help="Target name, comma-separated names, or 'all'."
    ),
    url: str | None = typer.Option(
        None, help="Verify the server already running at this base URL (one target only)."
    ),
) -> None:
    """Check targets against docs/protocol.md before they are measured; exit 1 on any fail."""
    from tbench.conformance.display import results_table, verify_with_progress
    from tbench.conformance.result import Status
    from tbench.conformance.runner import reachability_problem

    try:
        specs = resolve_targets(target)
    except KeyError as exc:
        err_console.print(f"[red]{exc.args[0]}[/]")
        raise typer.Exit(2) from None
    if url is not None:
        if len(specs) != 1:
            err_console.print("[red]--url names one running server: give exactly one --target[/]")
            raise typer.Exit(2)
        problem = reachability_problem(url)
        if problem:
            err_console.print(f"[red]cannot reach {url}: {problem}[/]")
            raise typer.Exit(2)
    results = verify_with_progress(console, specs, url)
    console.print(results_table(results))
    failures = sum(r.status is Status.FAIL for rs in results.values() for r in rs)
    if failures:
        err_console.print(f"[red]{failures} check(s) failed[/]: failing targets are not measured")
        raise typer.Exit(1)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
