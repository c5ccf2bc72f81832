"""`tbench aws run` and `tbench aws destroy`: the lambda target on AWS itself (docs/aws.md)."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.markup import escape

from contract.aws import masked_account_id
from contract.scenario import ScenarioError
from cost_model.pricing import Architecture, load_pricing
from cost_model.run_estimate import describe_estimate, estimate_run
from loadtests import scenario_files
from servers.lambda_ws.cpu_model import MemorySizeError, check_memory_mb
from tbench.aws.collect import CollectSettings
from tbench.aws.run import TARGET, AwsRun, AwsRunOptions, Timing
from tbench.aws.session import AwsAccount, AwsSetupError, connect
from tbench.aws.stack import StackError, StackSettings
from tbench.aws.teardown import find_by_run_id, find_tagged, remove
from tbench.runner import metadata

aws_app = typer.Typer(
    help="The lambda target on AWS: deploy, measure, collect the bill's inputs, tear down.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err_console = Console(stderr=True)
# It names the stack, and CloudFormation names the functions `<stack>-<logical id>-<12 chars>`
# in at most 64: at 24, "tbench-<id>-SendMessageFunction-<12>" fits whole (a default id: 21).
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,23}$")
RUN_ID_RULE = "letters, digits and '-', at most 24"
STAGE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")  # the template's StageName pattern
DATA_PLANE_ENV = "TBENCH_AWS_DATA_PLANE_URL"

Region = typer.Option(None, "--region", help="AWS region (default: AWS_REGION / the profile's).")


def _fail(message: str, code: int) -> typer.Exit:
    err_console.print(f"[red]{escape(message)}[/]", soft_wrap=True)
    return typer.Exit(code)


def _account(region: str | None) -> AwsAccount:
    try:
        return connect(region)
    except AwsSetupError as exc:
        raise _fail(str(exc), 2) from None


def _check_inputs(run_id: str, stage: str, memory_mb: int) -> None:
    if not RUN_ID.match(run_id):
        raise _fail(f"--run-id {run_id!r}: {RUN_ID_RULE}", 2)
    if not STAGE.match(stage):
        raise _fail(f"--stage {stage!r}: letters, digits, '_' and '-' (API Gateway's rule)", 2)
    try:
        check_memory_mb(memory_mb)
    except MemorySizeError as exc:
        raise _fail(f"--memory: {exc}", 2) from None


def _confirm(yes: bool, question: str, doing: str) -> None:
    """Ask `question` unless --yes; without a terminal, --yes is required."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise _fail(f"no terminal to confirm on: pass --yes to {doing} without a prompt", 2)
    if not typer.confirm(question, default=False):
        raise typer.Exit(1)


def _terminate(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM tears down as Ctrl-C does


@aws_app.command("run")
def run(  # noqa: PLR0913 -- a typer command: its parameters are its options
    scenario: str = typer.Option(
        "chat", "--scenario", "-s", help="Scenario name (loadtests/scenarios/) or a TOML file."
    ),
    region: str | None = Region,
    memory_mb: int = typer.Option(256, "--memory", help="Lambda memory, MB (128-10,240)."),
    architecture: Annotated[
        Architecture, typer.Option("--architecture", help="Lambda instruction set.")
    ] = "x86_64",
    stage: str = typer.Option("prod", "--stage", help="API Gateway stage name."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Deploy without asking."),
    keep: bool = typer.Option(False, "--keep", help="Leave the stack, bucket and logs up."),
    out: str = typer.Option("results", "--out", "-o", help="Results root directory."),
    run_id: str | None = typer.Option(None, "--run-id", help="Run id (names the stack)."),
    verify_first: bool = typer.Option(True, "--verify/--no-verify", help="Conformance first."),
    with_report: bool = typer.Option(True, "--report/--no-report", help="Write the report."),
    log_timeout_s: float = typer.Option(
        300.0, "--log-timeout-s", min=0.0, help="Wait this long at most for REPORT lines."
    ),
    log_settle_s: float = typer.Option(
        20.0, "--log-settle-s", min=0.0, help="REPORT lines are in once unchanged this long."
    ),
    poll_s: float = typer.Option(
        5.0, "--poll-s", min=0.05, help="Seconds between CloudFormation / Logs polls."
    ),
    stack_timeout_s: float = typer.Option(
        900.0, "--stack-timeout-s", min=1.0, help="Give up on a stack not created by then."
    ),
    data_plane_url: str | None = typer.Option(
        None,
        "--data-plane-url",
        envvar=DATA_PLANE_ENV,
        hidden=True,
        help="The stack's URL output says this URL (tests: the local emulator).",
    ),
) -> None:
    """Deploy the lambda target to AWS, run a scenario on it, price it from AWS's REPORT lines,
    tear it down."""
    run_id = run_id or metadata.new_run_id()
    _check_inputs(run_id, stage, memory_mb)
    try:
        loaded = scenario_files.load(scenario)
    except (ScenarioError, OSError, ValueError) as exc:
        raise _fail(f"--scenario {scenario}: {exc}", 2) from None
    account = _account(region)
    console.print(
        f"account {masked_account_id(account.account_id)}, region {account.region}: "
        f"stack tbench-{run_id}, {memory_mb} MB, {architecture}, stage {stage}"
    )
    console.print(describe_estimate(estimate_run(loaded, load_pricing(), memory_mb, architecture)))
    _confirm(yes, "Deploy the stack into this account and run?", "deploy")
    options = AwsRunOptions(
        run_id=run_id,
        scenario_ref=scenario,
        stack=StackSettings(memory_mb=memory_mb, architecture=architecture, stage=stage),
        out_root=Path(out),
        keep=keep,
        verify=verify_first,
        data_plane_url=data_plane_url,
        timing=Timing(stack_timeout_s=stack_timeout_s, poll_s=poll_s),
        collect=CollectSettings(timeout_s=log_timeout_s, poll_s=poll_s, settle_s=log_settle_s),
    )
    _execute(AwsRun(options, account, console), with_report)


def _execute(aws_run: AwsRun, with_report: bool) -> None:
    """Run it; errors as one line each; exit 1 on a failed target, a gap or a leftover."""
    from tbench.runner.live import print_outcome

    signal.signal(signal.SIGTERM, _terminate)
    try:
        outcome = aws_run.execute()
    except KeyboardInterrupt:
        raise _fail(f"interrupted; partial results in {aws_run.run_dir}", 130) from None
    except StackError as exc:
        raise _fail(str(exc), 1) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        operation = getattr(exc, "operation_name", "a call")
        raise _fail(
            f"AWS refused {operation}: {error.get('Code')}: {error.get('Message')}", 1
        ) from None
    except BotoCoreError as exc:
        raise _fail(f"AWS: {exc}", 1) from None
    failed = print_outcome(console, outcome.run, aws_run.run_dir) if outcome.run else 1
    if outcome.bill is not None:
        console.print(escape(outcome.bill), soft_wrap=True)
    if with_report and outcome.run is not None:
        _report(aws_run.run_dir)
    no_reports = outcome.collection is not None and not any(
        f.reports for f in outcome.collection.functions
    )
    if failed or outcome.leftovers or no_reports or outcome.bill is None:
        if no_reports:
            err_console.print(
                f"[red]no REPORT line reached CloudWatch Logs: {TARGET} not priced[/]"
            )
        raise typer.Exit(1)


def _report(run_dir: Path) -> None:
    from reports.command import write_report

    try:
        write_report(console, run_dir)
    except Exception as exc:  # the measurements are saved; a report can be built later
        err_console.print(f"[red]no report: {escape(repr(exc))}[/]; try `tbench report {run_dir}`")


@aws_app.command("destroy")
def destroy(
    run_id: str | None = typer.Option(None, "--run-id", help="Remove what this run left."),
    all_tagged: bool = typer.Option(
        False, "--all-tagged", help="Remove every stack, bucket and log group tagged by a run."
    ),
    region: str | None = Region,
    yes: bool = typer.Option(False, "--yes", "-y", help="Remove without asking."),
    timeout_s: float = typer.Option(900.0, "--timeout-s", min=1.0, help="Per stack deletion."),
) -> None:
    """Remove what killed or --keep runs left: by run id, or everything with the run-id tag."""
    if (run_id is None) == (not all_tagged):
        raise _fail("give --run-id ID or --all-tagged (one of them)", 2)
    if run_id is not None and not RUN_ID.match(run_id):
        raise _fail(f"--run-id {run_id!r}: {RUN_ID_RULE}", 2)
    account = _account(region)
    try:
        leftovers = find_by_run_id(account, run_id) if run_id else find_tagged(account)
    except (ClientError, BotoCoreError) as exc:
        raise _fail(f"cannot list the account's resources: {exc}", 1) from None
    if not leftovers:
        console.print(f"nothing to remove in {account.region}")
        return
    for name in leftovers.names():
        console.print(f"  {escape(name)}")
    _confirm(yes, "Remove these?", "remove them")
    problems = remove(account, leftovers, timeout_s, lambda text: console.print(escape(text)))
    for problem in problems:
        err_console.print(f"[red]not removed: {escape(problem)}[/]", soft_wrap=True)
    if problems:
        raise typer.Exit(1)
    console.print("removed")
