"""An ``opswatch worker`` in a subprocess on this machine: the demo, the benchmarks and the
end-to-end tests all start, watch, kill and stop workers through this one class.

The worker is configured only as users configure it, through ``OPSWATCH_`` environment variables.
The defaults here suit a single local broker: a short rebalance wait (Tansu makes a new consumer
group's first join wait for the whole rebalance timeout) and session timeout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from connectors.broker import free_port, wait_for_port

#: what every local worker gets unless the caller says otherwise
LOCAL_DEFAULTS = {"OPSWATCH_WORKER__REBALANCE_TIMEOUT_S": "3", "OPSWATCH_WORKER__SESSION_TIMEOUT_S": "10"}


class LocalWorker:
    """One worker subprocess.

    Parameters
    ----------
    bootstrap
        The broker's ``host:port``.
    prefix
        Topic prefix; also the worker's app id (its consumer group) unless ``settings`` names one.
    data_dir
        Where its checkpoints live (keep it across restarts to test restarts).
    log_path
        Its combined stdout and stderr, appended to, so restarts add to one log.
    settings
        Further ``OPSWATCH_`` variables, which win over everything else.
    clean_env
        Drop the caller's own ``OPSWATCH_`` variables first (tests that must not inherit a token).

    Examples
    --------
    >>> w = LocalWorker("127.0.0.1:9092", "demo", Path("/tmp/w"), Path("/tmp/w.log"), web_port=6066)
    >>> w.env["OPSWATCH_WORKER__WEB_PORT"], w.env["OPSWATCH_WORKER__APP_ID"]
    ('6066', 'demo')
    """

    def __init__(self, bootstrap: str, prefix: str, data_dir: Path, log_path: Path, *,
                 settings: dict[str, str] | None = None, loglevel: str = "info", web_port: int | None = None,
                 clean_env: bool = False):
        self.web_port = web_port or free_port()
        self.log_path = Path(log_path)
        self.loglevel = loglevel
        base = {k: v for k, v in os.environ.items() if not (clean_env and k.startswith("OPSWATCH_"))}
        self.env = {**base, **LOCAL_DEFAULTS,
                    "OPSWATCH_KAFKA__BOOTSTRAP_SERVERS": bootstrap, "OPSWATCH_KAFKA__TOPIC_PREFIX": prefix,
                    "OPSWATCH_WORKER__APP_ID": prefix, "OPSWATCH_WORKER__WEB_PORT": str(self.web_port),
                    "OPSWATCH_WORKER__DATA_DIR": str(data_dir), **(settings or {})}
        self.proc: subprocess.Popen | None = None

    @property
    def argv(self) -> list[str]:
        return [sys.executable, "-m", "streams.cli", "worker", "--loglevel", self.loglevel]

    def start(self, timeout: float = 60.0) -> LocalWorker:
        """Start it and wait until its web server answers (it has restored its checkpoint by then)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        try:
            wait_for_port("127.0.0.1", self.web_port, timeout)
        except Exception:
            self.stop()
            raise
        return self

    def stats(self, timeout: float = 5.0) -> dict:
        """``GET /opswatch/stats/``: counts of processed, dead-lettered, written, paged..."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.web_port}/opswatch/stats/", timeout=timeout) as r:
            return json.loads(r.read())

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL, as the kernel's OOM killer or a lost node would: no shutdown code runs."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)  # its own session: anything it started goes too
            self.proc.wait(30)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        return self.proc.returncode

    def __enter__(self) -> LocalWorker:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
