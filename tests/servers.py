"""Real servers for the tests, started on 127.0.0.1 with free ports and stopped afterwards.

Where a server's binary is missing, tests that need it skip with the install hint; under CI
(``CI=true``) they fail instead, because the README's test command installs every one of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from connectors.broker import free_port, wait_for_port


def need_binary(name: str, apt: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path is None:
        msg = f"{name} is not installed: sudo apt-get install {apt}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


class Server:
    def __init__(self, argv: list[str], port: int, log: Path, ready_url: str | None = None):
        self.port = port
        self.log = log
        self._fh = open(log, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_for_port("127.0.0.1", port, timeout=30)
            if ready_url:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        urllib.request.urlopen(ready_url, timeout=1)
                        break
                    except OSError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)
        except Exception:
            self.stop()
            raise RuntimeError(f"{argv[0]} did not start; log: {log.read_text()[-2000:]}") from None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._fh.close()


def start_victoria(tmp: Path, port: int | None = None) -> Server:
    binary = need_binary("victoria-metrics", "victoria-metrics")
    port = port or free_port()
    return Server([binary, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={tmp / 'vm'}",
                   "-retentionPeriod=100y", "-search.latencyOffset=0s", "-dedup.minScrapeInterval=1ms"],
                  port, tmp / f"vm-{time.time_ns()}.log", ready_url=f"http://127.0.0.1:{port}/health")


def start_mosquitto(tmp: Path) -> Server:
    binary = need_binary("mosquitto", "mosquitto")
    port = free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    return Server([binary, "-c", str(conf)], port, tmp / "mosquitto.log")


def victoria_export(port: int, match: str) -> list[dict]:
    """Every sample of the series matching ``match``, as VictoriaMetrics' JSON-lines export."""
    import json
    import urllib.parse

    urllib.request.urlopen(f"http://127.0.0.1:{port}/internal/force_flush", timeout=10).read()
    import time as _time

    # simulated time runs ahead of the wall clock, so read into the future too
    q = urllib.parse.urlencode({"match[]": match, "start": "0", "end": str(int(_time.time()) + 30 * 86400)})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/export?{q}", timeout=30) as r:
        return [json.loads(line) for line in r.read().decode().splitlines() if line.strip()]


def victoria_names(port: int) -> set[str]:
    """Every metric name the store holds (``<measurement>_<field>`` for InfluxDB line protocol)."""
    import json
    import time as _time
    import urllib.parse

    urllib.request.urlopen(f"http://127.0.0.1:{port}/internal/force_flush", timeout=10).read()
    q = urllib.parse.urlencode({"start": "0", "end": str(int(_time.time()) + 30 * 86400)})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/label/__name__/values?{q}", timeout=30) as r:
        return set(json.loads(r.read())["data"])


class WebhookReceiver:
    """A local HTTP endpoint that records every notification Alertmanager sends it."""

    def __init__(self):
        import json
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def notifications(self, incident_id: str | None = None) -> list[tuple[str, str]]:
        """(status, incident_id) per alert per notification, in arrival order."""
        out = []
        for n in list(self.received):
            for a in n["alerts"]:
                iid = a["labels"].get("incident_id")
                if incident_id is None or iid == incident_id:
                    out.append((a["status"], iid))
        return out

    def stop(self) -> None:
        self.server.shutdown()


def start_alertmanager(tmp: Path, webhook_url: str) -> Server:
    binary = need_binary("prometheus-alertmanager", "prometheus-alertmanager")
    port = free_port()
    conf = tmp / "alertmanager.yml"
    conf.write_text(f"""
route:
  receiver: oncall
  group_by: ['incident_id']
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 24h
receivers:
  - name: oncall
    webhook_configs:
      - url: {webhook_url}
        send_resolved: true
""")
    return Server([binary, f"--config.file={conf}", f"--storage.path={tmp / 'am-data'}",
                   f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
                   "--log.level=warn"], port, tmp / "alertmanager.log",
                  ready_url=f"http://127.0.0.1:{port}/-/ready")
