"""One Lambda execution environment: a worker process running one invocation at a time.

`python -m servers.lambda_ws.runtime MODULE FUNCTION`. The init phase imports the handler
module (its top-level code runs once, as on AWS); then each request on stdin is one
invocation, answered on stdout. Messages are a 4-byte big-endian length and a JSON object.
Standard library only, so the environment pays for nothing the handler does not import.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import resource
import struct
import sys
import time
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO, Literal, NotRequired, TypedDict

if TYPE_CHECKING:
    # For type checking only, as in handlers.py: this file stays runnable on its own.
    from servers.lambda_ws.event_types import LambdaEvent

HEADER = struct.Struct("!I")
# Copies of contract.log_level's variable and default (a test keeps them equal): this module
# stays standard library only.
LOG_LEVEL_ENV = "TBENCH_LOG_LEVEL"
DEFAULT_LOG_LEVEL = "WARNING"
# A record as Lambda's Python runtime writes it to CloudWatch, less the request id.
LOG_FORMAT = "[%(levelname)s]\t%(asctime)s\t%(name)s\t%(message)s"


class LambdaError(TypedDict):
    """An error in the shape Lambda reports it."""

    errorMessage: str
    errorType: NotRequired[str]
    stackTrace: NotRequired[list[str]]


class InvokeRequest(TypedDict):
    """Emulator -> environment: one invocation."""

    request_id: str
    function_arn: str
    deadline_ms: float  # epoch ms
    event: LambdaEvent  # API Gateway's event (events.py), passed to the handler as sent


class WorkerReply(TypedDict):
    """Environment -> emulator: `ready` after the init phase, then one `result` a request."""

    type: Literal["ready", "result"]
    error: LambdaError | None  # the init's (ready) or the invocation's (result)
    import_ms: NotRequired[float]  # ready
    # result: the handler's return value, unchecked (a HandlerResponse from handlers.py, but
    # Lambda passes on whatever JSON a function returns; gateway.py reads it defensively).
    result: NotRequired[object]
    duration_ms: NotRequired[float]  # result
    max_memory_used_mb: NotRequired[int]  # result


def write_message(stream: BinaryIO, message: WorkerReply) -> None:
    """Send one length-prefixed JSON message."""
    data = json.dumps(message, separators=(",", ":")).encode()
    stream.write(HEADER.pack(len(data)) + data)
    stream.flush()


def read_message(stream: BinaryIO) -> InvokeRequest | None:
    """Receive one length-prefixed JSON message; None at end of stream."""
    header = stream.read(HEADER.size)
    if len(header) < HEADER.size:
        return None
    (length,) = HEADER.unpack(header)
    message: InvokeRequest = json.loads(stream.read(length))
    return message


class LambdaContext:
    """The context object handlers receive (the attributes AWS's Python runtime provides)."""

    def __init__(self, request: InvokeRequest) -> None:
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.invoked_function_arn: str = request["function_arn"]
        self.aws_request_id: str = request["request_id"]
        self._deadline_ms: float = request["deadline_ms"]

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the function times out."""
        return max(0, int(self._deadline_ms - time.time() * 1000))


def _error(exc: BaseException) -> LambdaError:
    """An error in the shape Lambda reports it."""
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": traceback.format_exception(exc),
    }


def _max_memory_used_mb() -> int:
    """Peak resident memory of this environment, in MB (ru_maxrss is KiB on Linux)."""
    return max(1, round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def serve(module_name: str, function_name: str, requests: BinaryIO, replies: BinaryIO) -> int:
    """Init, then invoke until the emulator closes the request stream."""
    started = time.perf_counter()
    handler: Callable[[LambdaEvent, LambdaContext], object] | None = None
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
        init_error = None
    except Exception as exc:
        init_error = _error(exc)
    import_ms = (time.perf_counter() - started) * 1000
    write_message(replies, {"type": "ready", "import_ms": import_ms, "error": init_error})
    if handler is None:
        return 1
    while (request := read_message(requests)) is not None:
        context = LambdaContext(request)
        began = time.perf_counter()
        try:
            result, error = handler(request["event"], context), None
            json.dumps(result)  # a result Lambda could not serialize is the function's error
        except Exception as exc:
            result, error = None, _error(exc)
        duration_ms = (time.perf_counter() - began) * 1000
        write_message(
            replies,
            {
                "type": "result",
                "result": result,
                "error": error,
                "duration_ms": duration_ms,
                "max_memory_used_mb": _max_memory_used_mb(),
            },
        )
    return 0


def main(argv: list[str]) -> int:
    """Entry point: keep stdout for the protocol, send the handler's output to stderr."""
    module_name, function_name = argv[1], argv[2]
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # print() in a handler lands in the log
    # As on AWS, the root logger has a handler before the init phase (libraries: WARNING). The
    # handler module logs at the run's level, which the emulator checked before starting us.
    logging.basicConfig(format=LOG_FORMAT)
    logging.getLogger(module_name).setLevel(os.environ.get(LOG_LEVEL_ENV) or DEFAULT_LOG_LEVEL)
    return serve(module_name, function_name, sys.stdin.buffer, replies)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
