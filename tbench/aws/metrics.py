"""API Gateway's CloudWatch metrics of the run's stage: connections, messages, latency, errors.

WebSocket APIs publish them in the `AWS/ApiGateway` namespace by `ApiId` and `Stage`; counts
are read as sums per minute, IntegrationLatency as an average. CloudWatch has them a minute or
two after the fact, so a run read at once may find the last minute incomplete.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from contract.aws import APIGW_METRIC_NAMES, ApiGatewayMetrics, MetricSeries

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_cloudwatch.type_defs import MetricDataQueryTypeDef

NAMESPACE = "AWS/ApiGateway"
PERIOD_S = 60
AVERAGED = {"IntegrationLatency"}  # milliseconds: an average, not a sum


def _query(index: int, name: str, api_id: str, stage: str) -> MetricDataQueryTypeDef:
    return {
        "Id": f"m{index}",
        "Label": name,
        "MetricStat": {
            "Metric": {
                "Namespace": NAMESPACE,
                "MetricName": name,
                "Dimensions": [
                    {"Name": "ApiId", "Value": api_id},
                    {"Name": "Stage", "Value": stage},
                ],
            },
            "Period": PERIOD_S,
            "Stat": "Average" if name in AVERAGED else "Sum",
        },
        "ReturnData": True,
    }


def read_metrics(
    cloudwatch: CloudWatchClient, api_id: str, stage: str, start: dt.datetime, end: dt.datetime
) -> ApiGatewayMetrics:
    """The stage's metrics from `start` to `end` (widened to whole minutes); ClientError if
    CloudWatch refuses."""
    start = start.replace(second=0, microsecond=0)
    end = end.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    queries = [_query(i, name, api_id, stage) for i, name in enumerate(APIGW_METRIC_NAMES)]
    series = {
        name: MetricSeries(name=name, statistic="Average" if name in AVERAGED else "Sum")
        for name in APIGW_METRIC_NAMES
    }
    pages = cloudwatch.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, StartTime=start, EndTime=end, ScanBy="TimestampAscending"
    )
    for page in pages:
        for result in page.get("MetricDataResults", []):
            target = series[result.get("Label", "")]
            target.timestamps += [t.isoformat() for t in result.get("Timestamps", [])]
            target.values += list(result.get("Values", []))
    return ApiGatewayMetrics(
        api_id=api_id,
        stage=stage,
        period_s=PERIOD_S,
        start=start.isoformat(),
        end=end.isoformat(),
        series=list(series.values()),
    )
