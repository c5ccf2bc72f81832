"""`tbench aws run`: deploy the lambda target's stack, measure it with the harness every target
runs under, collect what AWS bills from CloudWatch, price it, and tear the stack down.

The run writes down the names of what it will create (`aws-resources.json`) before it creates
anything, and removes exactly those (plus any log group of its functions) in a `finally`, so
success, failure, Ctrl-C and SIGTERM all end the same way; `--keep` keeps them on purpose.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from contract.aws import APIGW_METRICS_FILE, LOG_COLLECTION_FILE, RESOURCES_FILE, LogCollection
from contract.lambda_report import REPORT_LOG_FILE
from contract.registry import get_target
from contract.results import (
    Deployment,
    RunResult,
    TargetResult,
    TargetStatus,
    save_run,
    write_bytes_atomic,
    write_model_atomic,
)
from cost_model.measured import CONNECT_FUNCTION, DISCONNECT_FUNCTION, measure_run, price_run
from cost_model.measured_render import describe_durations, render_run_pricing
from cost_model.pricing import load_pricing
from tbench.aws.collect import (
    CollectSettings,
    LogRequest,
    Window,
    collect_reports,
    report_log_lines,
)
from tbench.aws.metrics import read_metrics
from tbench.aws.package import package_handlers
from tbench.aws.session import AwsAccount
from tbench.aws.stack import (
    DeployedStack,
    StackSettings,
    create_code_bucket,
    create_stack,
    plan_resources,
    read_stack,
    template_body,
    upload_code,
    wait_for_stack,
)
from tbench.aws.teardown import of_run, remove
from tbench.lambda_tune import SEND_FUNCTION
from tbench.runner.options import GivenOptions, RunOptions
from tbench.runner.run import ComparisonRun, files_of

TARGET = "lambda"
BILL_FILE = "aws-bill.txt"  # in the run directory: the run priced from AWS's REPORT lines
END_GRACE_S = 60.0  # $disconnect runs after the clients left: its lines come after the load


@dataclass(frozen=True, kw_only=True)
class Timing:
    """How long to wait for CloudFormation, and how often to ask it."""

    stack_timeout_s: float = 900.0
    teardown_timeout_s: float = 900.0
    poll_s: float = 5.0


@dataclass(frozen=True, kw_only=True)
class AwsRunOptions:
    """What `tbench aws run` was asked to do."""

    run_id: str
    scenario_ref: str
    stack: StackSettings
    out_root: Path = Path("results")
    keep: bool = False
    verify: bool = True
    # The tests' data plane (the local emulator): the stack's URL output says it instead
    data_plane_url: str | None = None
    timing: Timing = field(default_factory=Timing)
    collect: CollectSettings = field(default_factory=CollectSettings)


@dataclass
class AwsRunOutcome:
    """What the run measured and priced, and what its teardown could not remove."""

    run: RunResult | None = None
    bill: str | None = None  # the priced run, as `tbench cost run` prints it
    collection: LogCollection | None = None
    leftovers: list[str] = field(default_factory=list)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """Ctrl-C and SIGTERM ignored meanwhile: a second one must not stop a teardown half-way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _epoch_ms(iso: str | None) -> int:
    moment = dt.datetime.fromisoformat(iso) if iso else dt.datetime.now(dt.UTC)
    return int(moment.timestamp() * 1000)


class AwsRun:
    """One `tbench aws run`: its resources, its run directory, its steps in order."""

    def __init__(self, options: AwsRunOptions, account: AwsAccount, console: Console) -> None:
        self.options = options
        self.account = account
        self.console = console
        self.resources = plan_resources(options.run_id, account)
        self.run_dir = options.out_root / options.run_id
        self.outcome = AwsRunOutcome()

    def say(self, text: str) -> None:
        """One line of progress."""
        self.console.print(escape(text), soft_wrap=True)

    def execute(self) -> AwsRunOutcome:
        """Deploy, measure, collect, price; tear down in any case (unless --keep). Raises what
        stopped it (StackError, ClientError, KeyboardInterrupt) after the teardown."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._save_resources()
        self.say(f"what this run creates is named in {self.run_dir / RESOURCES_FILE}")
        try:
            stack = self._deploy()
            run = self.outcome.run = self._measure(stack)
            if run.targets[TARGET].status is TargetStatus.OK:
                self.outcome.collection = self._collect(stack, run)
                self.outcome.bill = self._price()
        finally:
            with shielded():
                self.outcome.leftovers = self._teardown()
        return self.outcome

    def _save_resources(self) -> None:
        write_model_atomic(self.run_dir / RESOURCES_FILE, self.resources)

    def _deploy(self) -> DeployedStack:
        """The code bucket, the archive, the stack; its URL and functions once created."""
        s3, cfn, names = self.account.s3(), self.account.cloudformation(), self.resources
        package = package_handlers()
        self.say(f"creating bucket {names.bucket} and uploading {package.key}")
        create_code_bucket(s3, names)
        upload_code(s3, names.bucket, package)
        self.say(f"creating stack {names.stack_name} in {names.region} (a few minutes on AWS)")
        body = template_body(names, package, self.options.data_plane_url)
        create_stack(cfn, names, body, self.options.stack)
        timing = self.options.timing
        outputs = wait_for_stack(cfn, names.stack_name, timing.stack_timeout_s, timing.poll_s)
        stack = read_stack(cfn, names.stack_name, outputs)
        names.functions = stack.functions
        names.log_groups = sorted(stack.log_groups.values())
        self._save_resources()
        self.say(f"stack {names.stack_name} is up: {stack.url}")
        return stack

    def _deployment(self) -> Deployment:
        """run.json's deployment of the target: the stack, where, at what size."""
        settings, names = self.options.stack, self.resources
        deployment = Deployment(
            cloud="aws",
            region=names.region,
            account_id=names.account_id,
            architecture=settings.architecture,
            function_memory_mb=settings.memory_mb,
            stage=settings.stage,
            stack_name=names.stack_name,
        )
        if self.options.data_plane_url is not None:
            deployment.note = f"the stack's URL output set to {self.options.data_plane_url}"
        return deployment

    def _measure(self, stack: DeployedStack) -> RunResult:
        """The scenario against the stack's URL, as `tbench run --url` measures it."""
        url = stack.url
        self.say(f"measuring {url} under {self.options.scenario_ref}")
        options = RunOptions(
            targets=[get_target(TARGET)],
            scenario_ref=self.options.scenario_ref,
            out_root=self.options.out_root,
            run_id=self.options.run_id,
            verify=self.options.verify,
            given=GivenOptions(url=url, deployment=self._deployment()),
        )
        return ComparisonRun(options, self.console).execute()

    def _collect(self, stack: DeployedStack, run: RunResult) -> LogCollection:
        """The functions' REPORT lines and the stage's metrics, saved beside the run."""
        result = run.targets[TARGET]
        window = Window(
            _epoch_ms(result.started_at), _epoch_ms(result.ended_at) + int(END_GRACE_S * 1000)
        )
        self.say("collecting REPORT lines from CloudWatch Logs")
        lines, record = collect_reports(
            self.account.logs(),
            LogRequest(stack.log_groups, _expected(result), window),
            self.options.collect,
            self.say,
        )
        target_dir = self.run_dir / TARGET
        text = "".join(f"{line}\n" for line in report_log_lines(lines))
        write_bytes_atomic(target_dir / REPORT_LOG_FILE, text.encode())
        write_model_atomic(target_dir / LOG_COLLECTION_FILE, record)
        for gap in record.missing:
            self.console.print(f"[yellow]missing: {escape(gap)}[/]", soft_wrap=True)
        self._collect_metrics(stack, window, target_dir)
        result.files = files_of(self.run_dir, target_dir)
        save_run(self.run_dir, run)
        return record

    def _collect_metrics(self, stack: DeployedStack, window: Window, target_dir: Path) -> None:
        """API Gateway's metrics of the stage; a refusal is reported, not fatal."""
        if not stack.api_id:  # moto's CloudFormation makes no ApiGatewayV2 API to name
            self.console.print("[yellow]the stack names no ApiId: no API Gateway metrics[/]")
            return
        start = dt.datetime.fromtimestamp(window.start_ms / 1000, dt.UTC)
        end = dt.datetime.fromtimestamp(window.end_ms / 1000, dt.UTC)
        try:
            metrics = read_metrics(
                self.account.cloudwatch(), stack.api_id, self.options.stack.stage, start, end
            )
        except Exception as exc:  # the REPORT lines are what prices the run: keep going
            self.console.print(f"[yellow]no API Gateway metrics: {escape(str(exc))}[/]")
            return
        write_model_atomic(target_dir / APIGW_METRICS_FILE, metrics)

    def _price(self) -> str:
        """The run priced from the collected REPORT lines, written beside it."""
        pricing = load_pricing()
        measured = measure_run(self.run_dir)
        text = "\n".join(
            [
                render_run_pricing(price_run(measured, pricing), pricing),
                *describe_durations(measured),
            ]
        )
        if pricing.region != self.resources.region:
            text += f"\n(prices of {pricing.region}; the stack ran in {self.resources.region})"
        write_bytes_atomic(self.run_dir / BILL_FILE, f"{text}\n".encode())
        return text

    def _teardown(self) -> list[str]:
        """Remove the run's resources (or keep them); what could not be removed."""
        names = self.resources
        if self.options.keep:
            names.kept = True
            self._save_resources()
            groups = ", ".join(names.log_groups) or "none"
            self.say(
                f"kept (--keep): stack {names.stack_name}, bucket {names.bucket}, log groups "
                f"{groups}; `tbench aws destroy --run-id {names.run_id}` removes them"
            )
            return []
        try:
            leftovers = of_run(self.account.logs(), names)
            problems = remove(
                self.account, leftovers, self.options.timing.teardown_timeout_s, self.say
            )
        except Exception as exc:  # say what is left and how to remove it, whatever went wrong
            problems = [str(exc)]
        names.torn_down = not problems
        self._save_resources()
        if problems:
            for problem in problems:
                self.console.print(f"[red]not removed: {escape(problem)}[/]", soft_wrap=True)
            self.say(
                f"`tbench aws destroy --run-id {names.run_id} --region {names.region}` retries"
            )
        else:
            self.say(f"torn down: nothing of run {names.run_id} is left")
        return problems


def _expected(result: TargetResult) -> dict[str, int]:
    """Invocations per function the load implies: a $connect and a $disconnect per session,
    a sendMessage per message published."""
    metrics = result.metrics
    sessions = int((metrics.get("users") or 0) + (metrics.get("reconnects") or 0))
    return {
        CONNECT_FUNCTION: sessions,
        DISCONNECT_FUNCTION: sessions,
        SEND_FUNCTION: int(metrics.get("published") or 0),
    }
