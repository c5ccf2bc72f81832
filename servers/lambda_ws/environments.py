"""Lambda execution environments as worker processes: cold starts, reuse, throttling, reclaim.

Each environment is a real process (servers.lambda_ws.runtime) that imports the handler
module once (a cold start, its init duration measured) and then serves one invocation at a
time. Invocations beyond the concurrency limit are throttled, as Lambda throttles them.
This machine cannot run as many processes as the limit allows, so at most `max_workers`
exist; an invocation that finds none free waits (an idle environment of another function is
retired to make room). That wait is a local artefact: it is measured and reported in the
stats and on an `EMULATOR` line beside each `REPORT` line, never folded into Duration.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
import time
import uuid
from collections import deque
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from contract.lambda_report import EmulatorRecord, LambdaReport, billed_duration_ms
from servers.lambda_ws.cpu_model import CpuLimit, CpuModel
from servers.lambda_ws.event_types import LambdaEvent
from servers.lambda_ws.runtime import HEADER, InvokeRequest, LambdaError, WorkerReply

RUNTIME_MODULE = "servers.lambda_ws.runtime"
INIT_TIMEOUT_S = 10.0  # Lambda's limit on the init phase
ACCOUNT_ID = "123456789012"

Status = Literal["ok", "error", "timeout", "throttled"]


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    """One Lambda function: the handler it runs and its configuration."""

    name: str  # e.g. "SendMessageFunction"
    module: str  # the handler module, e.g. "servers.lambda_ws.handlers"
    handler: str  # the function in it, e.g. "send_message"
    memory_mb: int = 256
    timeout_s: float = 10.0


@dataclass(frozen=True, slots=True)
class ServiceLimits:
    """How many invocations may run, how many processes may exist, how long idle ones live."""

    concurrency_limit: int = 1_000  # Lambda's default per-account concurrency
    max_workers: int = 4  # real processes this machine can afford
    idle_reclaim_s: float = 600.0  # an environment unused this long is shut down


@dataclass(frozen=True, slots=True)
class Invocation:
    """What an invocation returned, and how it went."""

    request_id: str
    status: Status
    result: object = None  # the function's return value, unchecked (runtime.WorkerReply)
    error: LambdaError | None = None

    @property
    def ok(self) -> bool:
        """The function ran and returned."""
        return self.status == "ok"


@dataclass
class LambdaStats:
    """Counters the runner reads from the emulator's /_stats."""

    invocations: int = 0
    cold_starts: int = 0
    throttles: int = 0
    errors: int = 0
    timeouts: int = 0
    duration_ms_total: float = 0.0
    billed_ms_total: int = 0
    init_ms_total: float = 0.0
    queued_invocations: int = 0  # local artefact: waited for a worker process
    queue_wait_ms_total: float = 0.0
    queue_wait_ms_max: float = 0.0
    invoke_overhead_ms_total: float = 0.0  # emulator round trip minus handler duration
    environments_started: int = 0
    environments_reclaimed: int = 0  # idle past idle_reclaim_s
    environments_evicted: int = 0  # local artefact: retired to make room for another function
    environments_live: int = 0
    concurrent_executions: int = 0
    concurrent_executions_max: int = 0

    def to_json(self) -> dict[str, Any]:
        """The counters as a JSON object."""
        return asdict(self)


class EnvironmentDied(RuntimeError):
    """The worker process exited or broke the protocol."""


class Environment:
    """One worker process hosting one function."""

    _ids = itertools.count(1)

    def __init__(
        self, function: FunctionConfig, env: Mapping[str, str], cpu: CpuModel | None = None
    ) -> None:
        self.function = function
        self.cpu = cpu
        self.cpu_limit: CpuLimit | None = None
        self.id = f"{function.name}-{next(self._ids)}"
        self.env = dict(env)
        self.process: asyncio.subprocess.Process | None = None
        self.init_ms = 0.0
        self.import_ms = 0.0
        self.invocations = 0
        self.last_used = time.monotonic()

    async def start(self) -> None:
        """Spawn the worker and wait for its init phase; raise if it fails."""
        began = time.perf_counter()
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            RUNTIME_MODULE,
            self.function.module,
            self.function.handler,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env={**self.env, **self._lambda_env()},
        )
        ready = await asyncio.wait_for(self._read(), INIT_TIMEOUT_S)
        self.init_ms = (time.perf_counter() - began) * 1000
        self.import_ms = float(ready.get("import_ms", 0.0))
        if (error := ready["error"]) is not None:
            raise EnvironmentDied(f"init failed: {error['errorMessage']}")
        if self.cpu is not None:
            # After init: on AWS the init phase runs faster than the handler (unthrottled).
            self.cpu_limit = self.cpu.limit(self.process.pid, self.function.memory_mb, self.id)

    def _lambda_env(self) -> dict[str, str]:
        """The variables Lambda sets in every execution environment."""
        name = self.function.name
        return {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.function.memory_mb),
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": self.id,
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
            "PYTHONUNBUFFERED": "1",
        }

    async def invoke(self, request: InvokeRequest) -> WorkerReply:
        """Send one invocation and wait for its reply."""
        assert self.process is not None
        assert self.process.stdin is not None
        data = json.dumps(request, separators=(",", ":")).encode()
        try:
            self.process.stdin.write(HEADER.pack(len(data)) + data)
            await self.process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise EnvironmentDied(f"worker gone: {exc}") from None
        return await self._read()

    async def _read(self) -> WorkerReply:
        assert self.process is not None
        assert self.process.stdout is not None
        try:
            header = await self.process.stdout.readexactly(HEADER.size)
            (length,) = HEADER.unpack(header)
            message: WorkerReply = json.loads(await self.process.stdout.readexactly(length))
        except asyncio.IncompleteReadError:
            raise EnvironmentDied("worker exited") from None
        return message

    async def stop(self) -> None:
        """Shut the worker down (end of input, then a kill if it lingers)."""
        process = self.process
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 1.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self.cpu is not None:
            self.cpu.release(self.cpu_limit)  # the process has exited: its group can go
            self.cpu_limit = None


@dataclass(frozen=True, slots=True)
class Call:
    """One invocation in its environment: whose it is, and what it waited for."""

    request_id: str
    function: FunctionConfig
    env: Environment
    cold: bool  # the environment was started for this call (its init is on the REPORT line)
    queue_wait_ms: float  # local artefact: waited for a worker process

    @property
    def init_ms(self) -> float | None:
        """The environment's init duration if this call started it (REPORT's Init Duration)."""
        return self.env.init_ms if self.cold else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ending:
    """How an invocation ended, with the worker's figures when it replied."""

    status: Status
    duration_ms: float = 0.0
    max_memory_mb: int | None = None  # None: no reply (init failed, worker died, timed out)
    overhead_ms: float = 0.0
    billed: bool = True  # False: the init failed, nothing ran to count


@dataclass(frozen=True, slots=True, kw_only=True)
class EnvironmentSetup:
    """What every execution environment gets: variables, CPU model, the region of its ARN."""

    env: Mapping[str, str] = field(default_factory=dict)
    cpu: CpuModel | None = None
    region: str = "us-east-1"


def _records(call: Call, ending: Ending, billed_ms: int) -> list[LambdaReport | EmulatorRecord]:
    """The call's REPORT line, and its EMULATOR line when the worker replied."""
    memory_mb = call.function.memory_mb
    if ending.max_memory_mb is None:  # no reply: no figures of the worker's own, no INIT billed
        billed_ms = billed_duration_ms(ending.duration_ms)
        return [
            LambdaReport(
                call.request_id,
                ending.duration_ms,
                billed_ms,
                memory_mb,
                max_memory_used_mb=1,
                init_duration_ms=call.init_ms,
                status=ending.status,
            )
        ]
    report = LambdaReport(
        call.request_id,
        ending.duration_ms,
        billed_ms,
        memory_mb,
        ending.max_memory_mb,
        call.init_ms,
    )
    emulator = EmulatorRecord(
        call.request_id, call.function.name, call.env.id, call.queue_wait_ms, ending.overhead_ms
    )
    return [report, emulator]


def _ms_since(began: float) -> float:
    return (time.perf_counter() - began) * 1000


class LambdaService:
    """Invokes functions in pooled environments under a concurrency limit, logging REPORTs."""

    def __init__(
        self,
        functions: Mapping[str, FunctionConfig],
        limits: ServiceLimits,
        setup: EnvironmentSetup,
        report_log: Path | None = None,
    ) -> None:
        self.functions = dict(functions)
        self.cpu = setup.cpu or CpuModel(enabled=False)
        self.limits = limits
        self.env = dict(setup.env)
        self.report_log = report_log
        self.region = setup.region
        self.stats = LambdaStats()
        self._idle: dict[str, list[Environment]] = {name: [] for name in self.functions}
        self._busy: set[Environment] = set()
        self._slots_used = 0  # environments live or being started
        self._waiters: deque[tuple[str, asyncio.Future[Environment | None]]] = deque()
        self._reaper: asyncio.Task[None] | None = None
        self._log = report_log.open("a", buffering=1, encoding="utf-8") if report_log else None

    async def start(self) -> None:
        """Begin reclaiming idle environments."""
        self._reaper = asyncio.create_task(self._reclaim_idle())

    async def close(self) -> None:
        """Stop every environment."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        everyone = [env for envs in self._idle.values() for env in envs] + list(self._busy)
        await asyncio.gather(*(env.stop() for env in everyone), return_exceptions=True)
        self.cpu.close()
        if self._log is not None:
            self._log.close()

    async def invoke(self, function_name: str, event: LambdaEvent) -> Invocation:
        """Invoke a function synchronously, as API Gateway's AWS_PROXY integration does."""
        function = self.functions[function_name]
        request_id = str(uuid.uuid4())
        if self.stats.concurrent_executions >= self.limits.concurrency_limit:
            self.stats.throttles += 1  # Lambda answers 429 TooManyRequestsException
            return Invocation(request_id, "throttled")
        self.stats.concurrent_executions += 1
        self.stats.concurrent_executions_max = max(
            self.stats.concurrent_executions_max, self.stats.concurrent_executions
        )
        try:
            return await self._invoke(function, request_id, event)
        finally:
            self.stats.concurrent_executions -= 1

    async def _invoke(
        self, function: FunctionConfig, request_id: str, event: LambdaEvent
    ) -> Invocation:
        self.stats.invocations += 1
        asked = time.perf_counter()
        warm = await self._acquire(function.name)
        queue_wait_ms = _ms_since(asked)
        env = warm or Environment(function, self.env, self.cpu)
        call = Call(request_id, function, env, cold=warm is None, queue_wait_ms=queue_wait_ms)
        if call.cold:
            failed = await self._cold_start(call)
            if failed is not None:
                return failed
        self._busy.add(call.env)
        self._count_queue_wait(call.queue_wait_ms)
        request: InvokeRequest = {
            "request_id": request_id,
            "function_arn": self._arn(function),
            "deadline_ms": time.time() * 1000 + function.timeout_s * 1000,
            "event": event,
        }
        sent = time.perf_counter()
        try:
            reply = await asyncio.wait_for(call.env.invoke(request), function.timeout_s)
        except (TimeoutError, EnvironmentDied) as exc:
            return await self._lost(call, exc, _ms_since(sent))
        return self._returned(call, reply, _ms_since(sent))

    async def _cold_start(self, call: Call) -> Invocation | None:
        """Start the call's new environment: None once it is up, else the error it ends with."""
        try:
            await call.env.start()
        except (EnvironmentDied, TimeoutError, OSError) as exc:
            await call.env.stop()
            self._release_slot()
            self._account(call, Ending(status="error", billed=False))
            return Invocation(call.request_id, "error", error={"errorMessage": str(exc)})
        self.stats.cold_starts += 1
        self.stats.environments_started += 1
        self.stats.init_ms_total += call.env.init_ms
        return None

    def _count_queue_wait(self, queue_wait_ms: float) -> None:
        if queue_wait_ms > 0.5:
            self.stats.queued_invocations += 1
        self.stats.queue_wait_ms_total += queue_wait_ms
        self.stats.queue_wait_ms_max = max(self.stats.queue_wait_ms_max, queue_wait_ms)

    async def _lost(self, call: Call, exc: Exception, elapsed_ms: float) -> Invocation:
        """The worker timed out or died: stop it, free its slot, end the call without a reply."""
        self._busy.discard(call.env)
        await call.env.stop()
        self._release_slot()
        status: Status = "timeout" if isinstance(exc, TimeoutError) else "error"
        self._account(call, Ending(status=status, duration_ms=elapsed_ms))
        return Invocation(call.request_id, status, error={"errorMessage": str(exc) or status})

    def _returned(self, call: Call, reply: WorkerReply, round_trip_ms: float) -> Invocation:
        """The worker replied: its environment goes back to the pool warm."""
        env = call.env
        env.invocations += 1
        env.last_used = time.monotonic()
        self._busy.discard(env)
        self._idle[env.function.name].append(env)
        self._dispatch()
        duration_ms = float(reply["duration_ms"])
        error = reply.get("error") or None
        ending = Ending(
            status="error" if error else "ok",
            duration_ms=duration_ms,
            max_memory_mb=int(reply["max_memory_used_mb"]),
            overhead_ms=max(0.0, round_trip_ms - duration_ms),
        )
        self._account(call, ending)
        if error:
            return Invocation(call.request_id, "error", error=error)
        return Invocation(call.request_id, "ok", result=reply.get("result"))

    def _account(self, call: Call, ending: Ending) -> None:
        """Count one finished invocation and write its REPORT (and EMULATOR) lines."""
        # As AWS prints it since 2025-08-01: a cold start's Billed Duration includes its INIT.
        billed = billed_duration_ms(ending.duration_ms + (call.init_ms or 0.0))
        if ending.status == "timeout":
            self.stats.timeouts += 1
        elif ending.status == "error":
            self.stats.errors += 1
        if ending.billed:
            self.stats.duration_ms_total += ending.duration_ms
            self.stats.billed_ms_total += billed
            self.stats.invoke_overhead_ms_total += ending.overhead_ms
        self._log_lines(*_records(call, ending, billed))

    def _log_lines(self, *records: LambdaReport | EmulatorRecord) -> None:
        if self._log is not None:
            self._log.write("".join(record.line() + "\n" for record in records))

    def _arn(self, function: FunctionConfig) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{function.name}"

    # --- environment slots: warm reuse first, then a new process, then wait --------------

    async def _acquire(self, function_name: str) -> Environment | None:
        """A warm environment of this function, or None: a slot is reserved, start one."""
        if not self._waiters:
            granted, env = self._try_grant(function_name)
            if granted:
                return env
        future: asyncio.Future[Environment | None] = asyncio.get_running_loop().create_future()
        self._waiters.append((function_name, future))
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._give_back(future.result())
            else:
                with contextlib.suppress(ValueError):
                    self._waiters.remove((function_name, future))
            raise

    def _try_grant(self, function_name: str) -> tuple[bool, Environment | None]:
        """Hand out a warm environment, or reserve a slot for a new one, if possible now."""
        idle = self._idle[function_name]
        if idle:
            return True, idle.pop()  # the most recently used: the rest can idle out
        if self._slots_used < self.limits.max_workers:
            self._slots_used += 1
            return True, None
        victim = self._least_recently_used_idle()
        if victim is not None:
            self._idle[victim.function.name].remove(victim)
            self.stats.environments_evicted += 1
            asyncio.get_running_loop().create_task(victim.stop())
            return True, None  # the victim's slot passes straight to the caller
        return False, None

    def _least_recently_used_idle(self) -> Environment | None:
        candidates = [env for envs in self._idle.values() for env in envs]
        return min(candidates, key=lambda env: env.last_used, default=None)

    def _dispatch(self) -> None:
        """Serve waiting invocations in arrival order while environments or slots allow."""
        while self._waiters:
            function_name, future = self._waiters[0]
            if future.done():
                self._waiters.popleft()
                continue
            granted, env = self._try_grant(function_name)
            if not granted:
                return
            self._waiters.popleft()
            future.set_result(env)

    def _give_back(self, env: Environment | None) -> None:
        """Return what a cancelled waiter was granted."""
        if env is None:
            self._slots_used -= 1
        else:
            self._idle[env.function.name].append(env)
        self._dispatch()

    def _release_slot(self) -> None:
        """A process is gone (stopped, crashed or timed out): its slot is free."""
        self._slots_used -= 1
        self._dispatch()

    def snapshot(self) -> dict[str, Any]:
        """The counters now, with the number of live environments."""
        self.stats.environments_live = self._slots_used
        return {**self.stats.to_json(), "cpu_model": self.cpu.state().to_json()}

    async def _reclaim_idle(self) -> None:
        """Shut down environments idle for longer than `idle_reclaim_s`."""
        tick = min(1.0, max(0.05, self.limits.idle_reclaim_s / 4))
        while True:
            await asyncio.sleep(tick)
            cutoff = time.monotonic() - self.limits.idle_reclaim_s
            for envs in self._idle.values():
                for env in [env for env in envs if env.last_used < cutoff]:
                    envs.remove(env)
                    self.stats.environments_reclaimed += 1
                    await env.stop()
                    self._release_slot()
