"""Local emulator of the API Gateway WebSocket data plane with Lambda behind it.

`python -m servers.lambda_ws.emulator servers.lambda_ws.handlers --host H --port P [options]`

Starts a local DynamoDB (dynalite, a child), creates the connections table from template.yaml,
maps the template's routes to the handler module's functions, and serves `WS /{stage}`,
`/{stage}/@connections/{id}`, `GET /healthz` and `GET /_stats` (and with `--admin`, as every
launcher, `POST /_admin/drop`) on uvicorn with the settings every target shares, except where
API Gateway differs (see `uvicorn_settings`). The functions' own @connections calls go to a
lean server on another loopback port (management_api.py) that answers them the same way.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import boto3
import uvicorn

from contract.addresses import host_port
from contract.log_level import LogLevelError, log_to_stderr
from servers.lambda_ws.cpu_model import NO_CPU_MODEL, CpuModel, MemorySizeError, check_memory_mb
from servers.lambda_ws.dynamodb_local import LocalDynamoDB
from servers.lambda_ws.environments import (
    EnvironmentSetup,
    FunctionConfig,
    LambdaService,
    ServiceLimits,
)
from servers.lambda_ws.frames import ApiGatewayWebSocketProtocol
from servers.lambda_ws.gateway import Gateway, GatewayConfig
from servers.lambda_ws.template import TEMPLATE_PATH, create_table, load_template, route_functions
from servers.launch import UVICORN_SETTINGS, add_admin_option, tune_gc
from servers.settings import Settings, SettingsError

DEFAULT_TABLE = "tbench-connections"
# by name: run with -m, __name__ is "__main__"
logger = logging.getLogger("servers.lambda_ws.emulator")
MANAGEMENT_HOST = "127.0.0.1"  # the functions' @connections endpoint: only workers use it
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The emulator's command line."""
    parser = argparse.ArgumentParser(
        prog="python -m servers.lambda_ws.emulator", description=__doc__
    )
    parser.add_argument("handlers", help="the handler module, e.g. servers.lambda_ws.handlers")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback)")
    parser.add_argument("--port", type=int, required=True, help="TCP port to bind")
    parser.add_argument("--stage", default="local", help="stage: clients connect to /{stage}")
    parser.add_argument("--api-id", default="tbenchlocal", help="apiId in the events")
    parser.add_argument("--region", default="us-east-1", help="AWS region the handlers see")
    parser.add_argument("--template", type=Path, default=TEMPLATE_PATH, help="SAM template")
    parser.add_argument("--table-name", default=DEFAULT_TABLE, help="connections table name")
    parser.add_argument(
        "--dynamodb-endpoint",
        # the AWS SDKs' own variable, so a compose service or a shell can point it elsewhere
        default=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or None,
        help="use this DynamoDB instead of starting dynalite (default: $AWS_ENDPOINT_URL_DYNAMODB)",
    )
    parser.add_argument("--report-log", type=Path, help="append Lambda REPORT lines here")
    parser.add_argument("--memory-mb", type=int, help="function memory (template's otherwise)")
    parser.add_argument(
        NO_CPU_MODEL,
        dest="cpu_model",
        action="store_false",
        help="give environments the whole machine's CPU instead of memory/1,769 vCPU (AWS's)",
    )
    parser.add_argument("--concurrency-limit", type=int, default=1_000, help="Lambda concurrency")
    parser.add_argument("--max-workers", type=int, default=4, help="real worker processes")
    parser.add_argument(
        "--env-idle-s", type=float, default=600.0, help="reclaim environments idle this long"
    )
    parser.add_argument("--idle-timeout-s", type=float, default=600.0, help="client idle limit")
    parser.add_argument(
        "--max-connection-s", type=float, default=7200.0, help="client connection limit"
    )
    parser.add_argument(
        "--new-connections-per-s", type=float, default=500.0, help="new-connection rate limit"
    )
    parser.add_argument(
        "--max-connections",
        type=int,
        metavar="N",
        help="client connections served at once; more are closed 1013 (as every target: 10,000)",
    )
    add_admin_option(parser)
    args = parser.parse_args(argv)
    if args.concurrency_limit < 1 or args.max_workers < 1:
        parser.error("--concurrency-limit and --max-workers must be >= 1")
    if args.memory_mb is not None:
        try:
            check_memory_mb(args.memory_mb)
        except MemorySizeError as exc:
            parser.error(f"--memory-mb: {exc}")
    try:
        # The TBENCH_* settings every target reads (request timeout, connection cap).
        settings = Settings.from_env()
    except SettingsError as exc:
        parser.error(str(exc))
    if args.max_connections is None:
        args.max_connections = settings.max_connections
    if args.max_connections < 1:
        parser.error("--max-connections must be >= 1")
    if args.admin is None:
        args.admin = settings.admin
    return args


def uvicorn_settings() -> dict[str, Any]:
    """The shared settings, less what API Gateway does differently.

    API Gateway neither pings clients (they idle out after 10 min instead) nor negotiates
    permessage-deflate, and it limits frames to 32 KB: hence the frame-aware protocol.
    """
    return {
        **UVICORN_SETTINGS,
        "ws": ApiGatewayWebSocketProtocol,
        "ws_ping_interval": None,
        "ws_ping_timeout": None,
        "ws_per_message_deflate": False,
    }


def local_endpoint(host: str, port: int, stage: str) -> str:
    """The @connections base URL the handlers reach this emulator at."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    bracketed = f"[{host}]" if ":" in host else host
    return f"http://{bracketed}:{port}/{stage}"


class EmulatorServer(uvicorn.Server):
    """uvicorn's server; $disconnect is not invoked for the connections shutdown closes."""

    def __init__(self, config: uvicorn.Config, gateway: Gateway) -> None:
        super().__init__(config)
        self.gateway = gateway

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Mark the gateway closing, then shut down as usual."""
        self.gateway.closing = True
        await super().shutdown(sockets)


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: Sequence[str] | None = None) -> None:
    """Start DynamoDB, create the table, serve until SIGTERM / SIGINT, stop DynamoDB."""
    try:
        log_to_stderr()  # the execution environments (runtime.py) inherit the level too
    except LogLevelError as exc:
        sys.exit(f"servers.lambda_ws.emulator: {exc}")
    args = parse_args(argv)
    template = load_template(args.template)
    dynamodb = None if args.dynamodb_endpoint else LocalDynamoDB().start()
    management_socket = socket.create_server((MANAGEMENT_HOST, 0), backlog=1024)
    try:
        dynamodb_url = args.dynamodb_endpoint or (dynamodb.endpoint_url if dynamodb else "")
        os.environ.pop("AWS_PROFILE", None)
        os.environ.update(
            {
                **DUMMY_CREDENTIALS,
                "AWS_REGION": args.region,
                "AWS_DEFAULT_REGION": args.region,
                "AWS_EC2_METADATA_DISABLED": "true",
                "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_url,
                # The functions post to the lean @connections server, not the public route.
                "AWS_ENDPOINT_URL_APIGATEWAYMANAGEMENTAPI": local_endpoint(
                    MANAGEMENT_HOST, management_socket.getsockname()[1], args.stage
                ),
                "CONNECTIONS_TABLE": args.table_name,
            }
        )
        create_table(boto3.client("dynamodb"), args.table_name, template)
        routes = route_functions(template)
        functions = {
            route.function_id: FunctionConfig(
                name=route.function_id,
                module=args.handlers,
                handler=route.handler,
                memory_mb=args.memory_mb or route.memory_mb,
                timeout_s=route.timeout_s,
            )
            for route in routes.values()
        }
        limits = ServiceLimits(args.concurrency_limit, args.max_workers, args.env_idle_s)
        cpu = CpuModel(enabled=args.cpu_model)
        if cpu.enabled and not cpu.modelled:
            logger.warning(
                "lambda CPU model off: %s; durations are unmodelled "
                "(the whole machine's CPU, not memory/1,769 vCPU)",
                cpu.reason,
            )
        setup = EnvironmentSetup(env=os.environ, cpu=cpu, region=args.region)
        lambdas = LambdaService(functions, limits, setup, args.report_log)
        config = GatewayConfig(
            stage=args.stage,
            api_id=args.api_id,
            idle_timeout_s=args.idle_timeout_s,
            max_connection_s=args.max_connection_s,
            new_connections_per_s=args.new_connections_per_s,
            max_connections=args.max_connections,
        )
        gateway = Gateway(config, lambdas, {key: r.function_id for key, r in routes.items()})
        warnings.filterwarnings("ignore", message="The `websockets` implementation is deprecated")
        server_config = uvicorn.Config(
            gateway.app(admin=args.admin, management_socket=management_socket),
            host=args.host,
            port=args.port,
            **uvicorn_settings(),
        )
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, _exit_cleanly)
        # INFO, as uvicorn's own "running on" line for the other targets
        logger.info(
            "lambda emulator on ws://%s/%s (DynamoDB %s, %d workers, CPU model %s)",
            host_port(args.host, args.port),
            args.stage,
            dynamodb_url,
            args.max_workers,
            cpu.state().mechanism if cpu.modelled else "off",
        )
        tune_gc()  # the gateway's event loop collects like every other target's server
        EmulatorServer(server_config, gateway).run()
    finally:
        management_socket.close()
        if dynamodb is not None:
            dynamodb.stop()


if __name__ == "__main__":
    main()
