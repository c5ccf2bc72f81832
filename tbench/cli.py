"""The `tbench` command line: wires the parts together."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from contract.addresses import DEFAULT_HOST
from contract.log_level import DEFAULT_LEVEL, LOG_LEVEL_ENV, LevelName
from contract.registry import TARGETS, get_target, resolve_targets
from cost_model.cli import cost_app
from cost_model.plan_cli import plan_command
from tbench.aws.cli import aws_app
from tbench.lambda_tune_cli import lambda_app
from tbench.log_setup import log_to_console
from tbench.process import TargetProcess, TargetStartError

if TYPE_CHECKING:
    from tbench.runner.run import ComparisonRun

app = typer.Typer(
    help="transport-bench: what real-time transports cost in latency, resources and dollars.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)
app.add_typer(cost_app, name="cost")
app.command("plan")(plan_command)
app.add_typer(lambda_app, name="lambda")
app.add_typer(aws_app, name="aws")


@app.callback()
def options(
    log_level: Annotated[
        LevelName | None,
        typer.Option(
            "--log-level",
            envvar=LOG_LEVEL_ENV,
            case_sensitive=False,
            show_default=DEFAULT_LEVEL,
            help="Diagnostics shown on stderr; the targets and Locust it starts log at it too.",
        ),
    ] = None,
) -> None:
    """Options every command shares."""
    log_to_console(log_level, err_console)


def _target_or_exit(name: str) -> None:
    if name not in TARGETS:
        err_console.print(f"[red]unknown target {name!r}[/]; known: {', '.join(TARGETS)}")
        raise typer.Exit(2)


@app.command()
def targets() -> None:
    """List the registered targets and their capabilities."""
    table = Table(box=None, show_header=False, pad_edge=False)
    table.add_column(style="bold", no_wrap=True)
    for spec in TARGETS.values():
        resume = "resume" if spec.supports_resume else "no resume"
        table.add_row(spec.name, spec.scheme, resume, spec.description)
    console.print(table)


@app.command()
def serve(
    target: str = typer.Argument(..., help="Target name (see `tbench targets`)."),
    host: str = typer.Option(DEFAULT_HOST, help="Address to bind; loopback unless told."),
    port: int = typer.Option(8000, help="TCP port to bind."),
    cpu_model: bool = typer.Option(
        True,
        "--cpu-model/--no-cpu-model",
        help="lambda: each execution environment gets memory/1,769 vCPU, as on AWS.",
    ),
) -> None:
    """Start one target's server in the foreground and print its URL."""
    _target_or_exit(target)
    spec = get_target(target)
    if not cpu_model and spec.no_cpu_model_option is None:
        err_console.print(f"[red]--no-cpu-model: {target} has no CPU model (lambda has)[/]")
        raise typer.Exit(2)
    server = TargetProcess(spec, host=host, port=port, extra_args=spec.cpu_model_args(cpu_model))
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
    from conformance.display import results_table
    from conformance.result import Status
    from conformance.runner import reachability_problem
    from tbench.verify import verify_with_progress

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


@app.command()
def report(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(
            metavar="RUN_DIR [RUN_B]",
            help="A run directory; with two (RUN_A RUN_B), the deltas from A to B.",
            exists=True,
            file_okay=False,
        ),
    ],
    formats: str = typer.Option("html,pdf", "--format", "-f", help="html, pdf, or html,pdf."),
    pricing_file: Annotated[
        Path | None,
        typer.Option(
            "--pricing",
            help="A price file (tbench cost's schema) to price the run with, beside the defaults.",
            exists=True,
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Write report.html / report.pdf into a run directory, or compare two runs (HTML)."""
    from cost_model.pricing import PricingError
    from reports.build import ReportError
    from reports.command import write_comparison, write_report

    if len(run_dirs) > 2:
        err_console.print("[red]give one run directory, or two to compare[/]")
        raise typer.Exit(2)
    try:
        if len(run_dirs) == 2:
            write_comparison(console, run_dirs[0], run_dirs[1])
        else:
            write_report(console, run_dirs[0], formats, pricing_file)
    except (ReportError, PricingError, OSError, ValueError) as exc:
        # one line however long (a file's path and what is wrong with it), markup-free
        err_console.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(2) from None


@app.command()
def run(  # noqa: PLR0913 -- a typer command: its parameters are its options (no option groups)
    targets: str = typer.Option(
        "all", "--targets", "-t", help="Target names, comma-separated, or 'all'."
    ),
    scenario: str = typer.Option(
        "chat", "--scenario", "-s", help="Scenario name (loadtests/scenarios/) or a TOML file."
    ),
    workers: int = typer.Option(
        0, "--workers", "-w", min=0, help="Local Locust worker processes (0: one local process)."
    ),
    remote_workers: int = typer.Option(
        0, "--remote-workers", min=0, help="Extra workers the master waits for (other machines)."
    ),
    master_port: int | None = typer.Option(
        None, "--master-port", help="Locust master port (remote workers connect to it)."
    ),
    out: str = typer.Option("results", "--out", "-o", help="Results root directory."),
    url: str | None = typer.Option(
        None, "--url", help="Measure a target already running at this URL (one target only)."
    ),
    server_pid: int | None = typer.Option(
        None,
        "--server-pid",
        min=1,
        help="The --url server's process on this machine: its CPU, memory and connections are "
        "sampled (children included) as a started target's are.",
    ),
    verify_first: bool = typer.Option(
        True, "--verify/--no-verify", help="Run the conformance checks before measuring."
    ),
    with_report: bool = typer.Option(
        True, "--report/--no-report", help="Write report.html and report.pdf at the end."
    ),
    run_id: str | None = typer.Option(
        None,
        "--run-id",
        envvar="TBENCH_RUN_ID",
        help="Name of the run directory (default: the UTC time and a random suffix).",
    ),
    replicas: int = typer.Option(
        1, "--replicas", min=1, help="Server processes per target, behind nginx (local mode)."
    ),
    broker: str | None = typer.Option(
        None, "--broker", help="memory or redis (a local redis-server); redis if --replicas > 1."
    ),
    target_urls: Annotated[
        list[str] | None,
        typer.Option(
            "--target-url",
            metavar="NAME=URL",
            envvar="TBENCH_TARGET_URLS",
            help="A target already running at URL (repeat; docker compose): verified and "
            "measured, not started. TBENCH_TARGET_URLS: the same pairs, space-separated.",
        ),
    ] = None,
    docker_stats: bool = typer.Option(
        False,
        "--docker-stats",
        help="Sample each --target-url target's containers (label tbench.target=NAME) and the "
        "Locust workers' (tbench.loadgen=true) through the Docker socket.",
    ),
    faults: str | None = typer.Option(
        None,
        "--faults",
        metavar="KINDS",
        help="Inject faults in the measured window, one after another, comma-separated: "
        "restart (kill -9 and start again), drop (the server closes every connection), "
        "slow (some clients stop reading). Settings: the scenario's [faults] table.",
    ),
    hang_timeout_s: float = typer.Option(
        30.0,
        "--hang-timeout-s",
        min=1.0,
        help="A target that answers no /healthz probe for this long is failed as hung.",
    ),
    cpu_model: bool = typer.Option(
        True,
        "--cpu-model/--no-cpu-model",
        help="lambda: give each execution environment memory/1,769 vCPU, as AWS does (off: "
        "the machine's CPU; its durations are then flagged unmodelled).",
    ),
    network: str | None = typer.Option(
        None,
        "--network",
        metavar="PROFILE[,PROFILE...]",
        help="Measure over an emulated link (root): named profiles (loadtests/"
        "network_profiles.toml: lan, wifi, 4g, 3g, lossy-4g) or inline "
        "rtt=100ms,jitter=10ms,loss=1%,rate=5mbit; several: each target under each.",
    ),
    network_mechanism: str = typer.Option(
        "auto",
        "--network-mechanism",
        help="auto (netem if the kernel has it), netem, or relay (TUN delay relay + tbf + "
        "iptables).",
    ),
) -> None:
    """Measure targets under a scenario; results in OUT/<run-id>/ (run.json, summary.csv)."""
    from contract.network_profile import parse_network_option
    from contract.scenario import ScenarioError, parse_fault_kinds
    from tbench.runner.options import (
        GivenOptions,
        LoadOptions,
        NetworkOptions,
        RunOptions,
        StartOptions,
    )
    from tbench.runner.run import ComparisonRun

    try:
        options = RunOptions(
            targets=resolve_targets(targets),
            scenario_ref=scenario,
            faults=parse_fault_kinds(faults) if faults is not None else [],
            out_root=Path(out),
            run_id=run_id,
            verify=verify_first,
            hang_timeout_s=hang_timeout_s,
            load=LoadOptions(
                workers=workers, remote_workers=remote_workers, master_port=master_port
            ),
            given=GivenOptions(
                url=url,
                server_pid=server_pid,
                target_urls=target_urls or [],
                docker_stats=docker_stats,
            ),
            start=StartOptions(replicas=replicas, broker=broker, cpu_model=cpu_model),
            network=NetworkOptions(
                profiles=parse_network_option(network) if network is not None else [],
                mechanism=network_mechanism,
            ),
        )
        comparison = ComparisonRun(options, console)
    except (KeyError, ValueError, ScenarioError) as exc:
        err_console.print(f"[red]{exc.args[0] if isinstance(exc, KeyError) else exc}[/]")
        raise typer.Exit(2) from None
    failed = _execute(comparison)
    if with_report:
        _report_after_run(comparison.run_dir)
    if failed:
        raise typer.Exit(1)


def _execute(comparison: ComparisonRun) -> int:
    """Run the comparison and print its outcome; how many targets failed. Ctrl-C exits 130."""
    from tbench.runner.live import print_outcome

    def _terminate(*_: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (docker stop, CI timeouts) cleans up like Ctrl-C

    signal.signal(signal.SIGTERM, _terminate)
    try:
        result = comparison.execute()
    except KeyboardInterrupt:
        err_console.print(f"[yellow]interrupted[/]; partial results in {comparison.run_dir}")
        raise typer.Exit(130) from None
    return print_outcome(console, result, comparison.run_dir)


def _report_after_run(run_dir: Path) -> None:
    """Write the run's report; if that fails, say how to build it later."""
    from reports.command import write_report

    try:
        write_report(console, run_dir)
    except Exception as exc:  # the measurements are saved; a report can be built later
        err_console.print(f"[red]no report: {exc!r}[/]; try `tbench report {run_dir}`")


@app.command()
def demo(
    port: int = typer.Option(8080, help="TCP port of the demo page."),
    host: str = typer.Option(DEFAULT_HOST, help="Address of the page and every target."),
    room: str = typer.Option("demo", help="The chat room every panel joins."),
    drop_button: bool = typer.Option(
        True,
        "--drop-button/--no-drop-button",
        help="Start targets with --admin and offer a 'drop connections' button.",
    ),
) -> None:
    """Start every target and serve the live demo page: one panel per transport."""
    from contract.messages import InvalidInput
    from servers.demo.config import DemoConfig
    from tbench.demo_session import DemoOptions, run_demo

    def ready(url: str, config: DemoConfig) -> None:
        names = ", ".join(panel.name for panel in config.panels)
        console.print(f"live demo of {names} in room {config.room!r}")
        console.print(f"open [bold]{url}[/]  (Ctrl-C stops every target)", soft_wrap=True)

    try:
        options = DemoOptions(host=host, port=port, room=room, drop_enabled=drop_button)
        run_demo(list(TARGETS.values()), options, ready)
    except InvalidInput as exc:
        err_console.print(f"[red]--room {room!r}: {exc.reason}[/]")
        raise typer.Exit(2) from None
    except (OSError, TargetStartError) as exc:
        err_console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
