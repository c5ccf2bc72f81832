"""What `tbench aws run` records beside a run: the AWS resources it made, what CloudWatch Logs
gave of the functions' REPORT lines, and API Gateway's CloudWatch metrics for the stage.

Files in the lambda target's directory (`<run>/<target>/`), next to the REPORT log the
emulator writes there (`contract.lambda_report.REPORT_LOG_FILE`), which an AWS run fills
from CloudWatch Logs instead.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

# In the run directory: what the run created, named before anything is created.
RESOURCES_FILE = "aws-resources.json"
# In the target's directory.
LOG_COLLECTION_FILE = "aws-log-collection.json"
APIGW_METRICS_FILE = "apigateway-metrics.json"
RUN_ID_TAG = "tbench:run-id"  # every resource a run makes carries it
APIGW_METRIC_NAMES = (
    "ConnectCount",
    "MessageCount",
    "IntegrationLatency",
    "ExecutionError",
    "ClientError",
)


class AwsResources(BaseModel):
    """Everything a run may create, by name: the stack (and what it holds), the code bucket,
    the functions' log groups. Written before the first is created, updated as names appear."""

    run_id: str
    region: str
    account_id: str
    stack_name: str
    bucket: str
    log_groups: list[str] = Field(default_factory=list)  # /aws/lambda/<function>
    functions: dict[str, str] = Field(default_factory=dict)  # logical id -> function name
    kept: bool = False  # --keep: left in place on purpose
    torn_down: bool = False


class FunctionLogs(BaseModel):
    """One function's REPORT lines as CloudWatch Logs gave them."""

    function: str  # the template's logical id, e.g. "SendMessageFunction"
    log_group: str
    reports: int
    expected: int | None = None  # invocations the load implies (None: not known)
    group_found: bool = True


class LogCollection(BaseModel):
    """What the collector read from CloudWatch Logs for the run's window, and what it missed."""

    source: str = "aws-cloudwatch-logs"
    window_start_ms: int
    window_end_ms: int
    polls: int
    settled: bool  # the count stopped growing (False: the timeout passed first)
    functions: list[FunctionLogs]
    missing: list[str] = Field(default_factory=list)  # in words, one per gap


class MetricSeries(BaseModel):
    """One API Gateway metric over the run's window (statistic per period)."""

    name: str
    statistic: str
    unit: str | None = None
    timestamps: list[str] = Field(default_factory=list)  # ISO 8601
    values: list[float] = Field(default_factory=list)

    @property
    def total(self) -> float:
        """The values summed (a count's total; for averages, rather read the values)."""
        return sum(self.values)


class ApiGatewayMetrics(BaseModel):
    """API Gateway's CloudWatch metrics of one WebSocket API stage over the run's window."""

    api_id: str
    stage: str
    period_s: int
    start: str  # ISO 8601
    end: str
    series: list[MetricSeries]


def masked_account_id(account_id: str) -> str:
    """An account id as a report shows it: only its last four digits."""
    return f"********{account_id[-4:]}" if len(account_id) > 4 else "****"
