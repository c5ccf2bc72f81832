"""Lambda's CPU model, measured: the share of a core a busy loop gets at each memory size.

Each size runs a busy loop in a real execution environment (a worker process of the
emulator's LambdaService, in its cgroup) for a few seconds of wall time; the handler reports
the CPU time its process got meanwhile. Expected: memory / 1,769 of a core (AWS's ratio).

    .venv/bin/python -m benchmarks.lambda_cpu_share [--memory 128,256,512,1024,1769] [--seconds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os

from servers.lambda_ws.cpu_model import CpuModel, vcpus_for
from servers.lambda_ws.environments import (
    EnvironmentSetup,
    FunctionConfig,
    LambdaService,
    ServiceLimits,
)
from tbench.lambda_tune import parse_memory_sizes

SPIN = ("tests.servers.lambda_ws.tiny_handlers", "spin")


async def share(memory_mb: int, seconds: float, cpu_model: bool) -> float:
    """CPU seconds over wall seconds of a busy loop in an environment of `memory_mb`."""
    function = FunctionConfig("SpinFunction", *SPIN, memory_mb=memory_mb, timeout_s=seconds + 10)
    service = LambdaService(
        {function.name: function},
        ServiceLimits(max_workers=1),
        EnvironmentSetup(cpu=CpuModel(cpu_model)),
    )
    await service.start()
    try:
        call = await service.invoke(function.name, {"seconds": seconds})
    finally:
        await service.close()
    if not call.ok or not isinstance(call.result, dict):
        raise RuntimeError(f"{memory_mb} MB: {call.error or call.result}")
    return float(call.result["cpu_s"]) / float(call.result["wall_s"])


def main() -> None:
    """Print the measured and the expected share per memory size."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--memory", default="128,256,512,1024,1769", help="sizes in MB")
    parser.add_argument("--seconds", type=float, default=2.0, help="busy-loop wall time")
    parser.add_argument("--no-cpu-model", dest="cpu_model", action="store_false")
    args = parser.parse_args()
    probe = CpuModel(args.cpu_model)
    state = probe.state()
    probe.close()
    print(f"CPU model: {state.mechanism or state.reason}")
    print(f"{'memory':>8} {'share':>8} {'expected':>9} {'ratio':>6}")
    for memory_mb in parse_memory_sizes(args.memory):
        measured = asyncio.run(share(memory_mb, args.seconds, args.cpu_model))
        expected = vcpus_for(memory_mb)
        print(f"{memory_mb:>5} MB {measured:>8.4f} {expected:>9.4f} {measured / expected:>6.2f}")
    print(f"load average: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
