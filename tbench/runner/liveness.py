"""Is the target still answering? A thread probes `/healthz` while Locust runs.

A crashed server is seen at once (its process exits); a hung one (deadlocked, stopped, its
event loop blocked) only by no longer answering, which this measures. Each answer's `retained`
(messages the server holds in history) is kept with its time: RSS per connection takes
history's memory off with it (tbench/runner/memory.py).
"""

from __future__ import annotations

import contextlib
import threading
import time

import httpx

from conformance.endpoints import health_url

PROBE_INTERVAL_S = 1.0
PROBE_TIMEOUT_S = 5.0


class LivenessWatch:
    """Probes a target's `/healthz` every second; `silent_for()` says since when it has not."""

    def __init__(self, base_url: str) -> None:
        self.url = health_url(base_url)
        self._last_answer = time.monotonic()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="liveness", daemon=True)
        # (epoch s, messages retained) per answer that told it; none from a target without
        # history (the Lambda emulator) or whose history is elsewhere (Redis)
        self.retained: list[tuple[float, int]] = []

    def start(self) -> LivenessWatch:
        """Start probing (the target answered just now: it was started or verified healthy)."""
        self._last_answer = time.monotonic()
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop probing."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(PROBE_TIMEOUT_S + 1.0)

    def silent_for(self) -> float:
        """Seconds since the target last answered a probe."""
        return time.monotonic() - self._last_answer

    def _run(self) -> None:
        with httpx.Client(timeout=PROBE_TIMEOUT_S) as client:
            while not self._stopping.wait(PROBE_INTERVAL_S):
                try:
                    answer = client.get(self.url)  # any answer, even an error status, is alive
                except httpx.HTTPError:
                    continue
                self._last_answer = time.monotonic()
                self._note_retained(answer)

    def _note_retained(self, answer: httpx.Response) -> None:
        with contextlib.suppress(ValueError):  # not JSON: an error page still says "alive"
            body = answer.json()
            retained = body.get("retained") if isinstance(body, dict) else None
            if isinstance(retained, int) and not isinstance(retained, bool):
                self.retained.append((time.time(), retained))
