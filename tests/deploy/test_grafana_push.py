"""`opswatch grafana push` against a small fake Grafana HTTP API on 127.0.0.1.

The fake implements, with in-memory state, the endpoints the push uses, as Grafana documents
them (HTTP API: folders, dashboards, data sources; alerting provisioning API: alert rules,
rule groups, contact points, policies, templates): paths, methods, required body fields, 404 for
what does not exist, secrets read back as "[REDACTED]" or as secureJsonFields. Only this HTTP
API is faked; grafana-client, the planner and the CLI run for real.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from connectors.grafana import CONFLICT, CREATE, SKIPPED, UNCHANGED, UPDATE, GrafanaPushError, GrafanaPusher, connect
from streams.dashboards import dashboards, desired_state
from streams.dashboards.alerting import FAMILIES, integrations
from streams.grafana_cli import grafana_app
from streams.settings import load_settings

TOKEN = "test-service-account-token"
SECURE = {"webhook": {"password", "authorization_credentials"}, "pushover": {"userKey", "apiToken"},
          "telegram": {"bottoken"}, "pagerduty": {"integrationKey"}}
CONTACT_TYPES = {"alertmanager", "dingding", "discord", "email", "googlechat", "kafka", "line", "opsgenie",
                 "pagerduty", "pushover", "sensugo", "slack", "teams", "telegram", "threema", "victorops",
                 "webhook", "wecom"}
REQUIRED_SETTINGS = {"webhook": {"url"}, "pushover": {"userKey", "apiToken"},
                     "telegram": {"bottoken", "chatid"}, "pagerduty": {"integrationKey"}}
RULE_REQUIRED = {"condition", "data", "execErrState", "folderUID", "for", "noDataState", "orgID",
                 "ruleGroup", "title"}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


class FakeGrafana:
    """In-memory Grafana: state per object kind and a log of every request."""

    def __init__(self, default_group_interval: int = 60) -> None:
        self.requests: list[tuple[str, str, dict | None]] = []
        self.datasources: dict[str, dict] = {}
        self.folders: dict[str, dict] = {}
        self.dashboards: dict[str, dict] = {}
        self.templates: dict[str, dict] = {}
        self.contact_points: dict[str, dict] = {
            "": {"uid": "", "name": "email receiver", "type": "email",
                 "settings": {"addresses": "<example@email.com>"}, "disableResolveMessage": False}}
        self.policy = {"receiver": "email receiver", "group_by": ["grafana_folder", "alertname"]}
        self.rules: dict[str, dict] = {}
        self.groups: dict[tuple[str, str], int] = {}
        self.default_group_interval = default_group_interval
        self._ids = iter(range(1, 10_000))
        self.routes = [
            ("GET", r"/api/datasources/uid/(?P<uid>[^/]+)", self.get_datasource),
            ("POST", r"/api/datasources", self.post_datasource),
            ("PUT", r"/api/datasources/uid/(?P<uid>[^/]+)", self.put_datasource),
            ("GET", r"/api/folders/(?P<uid>[^/]+)", self.get_folder),
            ("POST", r"/api/folders", self.post_folder),
            ("PUT", r"/api/folders/(?P<uid>[^/]+)", self.put_folder),
            ("GET", r"/api/dashboards/uid/(?P<uid>[^/]+)", self.get_dashboard),
            ("POST", r"/api/dashboards/db", self.post_dashboard),
            ("GET", r"/api/v1/provisioning/templates/(?P<name>[^/]+)", self.get_template),
            ("PUT", r"/api/v1/provisioning/templates/(?P<name>[^/]+)", self.put_template),
            ("GET", r"/api/v1/provisioning/contact-points", self.get_contact_points),
            ("POST", r"/api/v1/provisioning/contact-points", self.post_contact_point),
            ("PUT", r"/api/v1/provisioning/contact-points/(?P<uid>[^/]+)", self.put_contact_point),
            ("GET", r"/api/v1/provisioning/policies", self.get_policies),
            ("PUT", r"/api/v1/provisioning/policies", self.put_policies),
            ("GET", r"/api/v1/provisioning/alert-rules/(?P<uid>[^/]+)", self.get_rule),
            ("POST", r"/api/v1/provisioning/alert-rules", self.post_rule),
            ("PUT", r"/api/v1/provisioning/alert-rules/(?P<uid>[^/]+)", self.put_rule),
            ("GET", r"/api/v1/provisioning/folder/(?P<f>[^/]+)/rule-groups/(?P<g>[^/]+)", self.get_group),
            ("PUT", r"/api/v1/provisioning/folder/(?P<f>[^/]+)/rule-groups/(?P<g>[^/]+)", self.put_group),
        ]

    # -- plumbing ---------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers, body: dict | None) -> tuple[int, object]:
        self.requests.append((method, path, body))
        if headers.get("Authorization") != f"Bearer {TOKEN}":
            return 401, {"message": "Unauthorized"}
        if headers.get("X-Grafana-Org-Id") != "1":
            return 400, {"message": "X-Grafana-Org-Id missing"}
        for m, pattern, fn in self.routes:
            match = re.fullmatch(pattern, path.split("?")[0])
            if m == method and match:
                try:
                    return fn(body, **match.groupdict())
                except ApiError as exc:
                    return exc.status, {"message": exc.message}
        return 404, {"message": f"no route {method} {path}"}

    @property
    def writes(self) -> list[tuple[str, str, dict | None]]:
        return [r for r in self.requests if r[0] != "GET"]

    @staticmethod
    def require(body: dict | None, keys: set[str], what: str) -> dict:
        if not isinstance(body, dict):
            raise ApiError(400, f"{what}: body must be a JSON object")
        missing = sorted(k for k in keys if body.get(k) in (None, ""))
        if missing:
            raise ApiError(400, f"{what}: missing required {missing}")
        return body

    # -- data sources -----------------------------------------------------------------------

    def _ds_view(self, ds: dict) -> dict:
        view = {k: v for k, v in ds.items() if k != "secureJsonData"}
        view["secureJsonFields"] = {k: True for k in ds.get("secureJsonData", {})}
        return copy.deepcopy(view)

    def get_datasource(self, body, uid):
        if uid not in self.datasources:
            raise ApiError(404, "Data source not found")
        return 200, self._ds_view(self.datasources[uid])

    def post_datasource(self, body):
        self.require(body, {"name", "type", "access"}, "datasource")
        if body.get("uid") in self.datasources or any(d["name"] == body["name"] for d in self.datasources.values()):
            raise ApiError(409, "data source with the same name or uid already exists")
        ds = {**copy.deepcopy(body), "id": next(self._ids), "orgId": 1, "readOnly": False}
        self.datasources[ds["uid"]] = ds
        return 200, {"datasource": self._ds_view(ds), "id": ds["id"], "message": "Datasource added",
                     "name": ds["name"]}

    def put_datasource(self, body, uid):
        self.require(body, {"name", "type", "access"}, "datasource")
        if uid not in self.datasources:
            raise ApiError(404, "Data source not found")
        old = self.datasources[uid]
        secure = {**old.get("secureJsonData", {}), **body.get("secureJsonData", {})}
        self.datasources[uid] = {**copy.deepcopy(body), "id": old["id"], "orgId": 1, "readOnly": False,
                                 "secureJsonData": secure}
        return 200, {"datasource": self._ds_view(self.datasources[uid]), "message": "Datasource updated"}

    # -- folders and dashboards ---------------------------------------------------------------

    def get_folder(self, body, uid):
        if uid not in self.folders:
            raise ApiError(404, "folder not found")
        return 200, copy.deepcopy(self.folders[uid])

    def post_folder(self, body):
        self.require(body, {"title"}, "folder")
        uid = body.get("uid") or f"f{next(self._ids)}"
        if uid in self.folders:
            raise ApiError(409, "a folder with the same uid already exists")
        self.folders[uid] = {"id": next(self._ids), "uid": uid, "title": body["title"], "version": 1}
        return 200, copy.deepcopy(self.folders[uid])

    def put_folder(self, body, uid):
        self.require(body, {"title"}, "folder")
        if uid not in self.folders:
            raise ApiError(404, "folder not found")
        folder = self.folders[uid]
        if not body.get("overwrite") and body.get("version") != folder["version"]:
            raise ApiError(409, "the folder has been changed by someone else")
        folder.update(title=body["title"], version=folder["version"] + 1)
        return 200, copy.deepcopy(folder)

    def get_dashboard(self, body, uid):
        if uid not in self.dashboards:
            raise ApiError(404, "Dashboard not found")
        stored = self.dashboards[uid]
        return 200, {"dashboard": copy.deepcopy(stored["dashboard"]),
                     "meta": {"folderUid": stored["folderUid"], "provisioned": False, "version": stored["dashboard"]["version"]}}

    def post_dashboard(self, body):
        self.require(body, {"dashboard"}, "dashboard")
        board = body["dashboard"]
        self.require(board, {"title", "uid"}, "dashboard.dashboard")
        if board.get("id") is not None:
            raise ApiError(400, "dashboard id must be null when saving by uid")
        folder = body.get("folderUid")
        if folder and folder not in self.folders:
            raise ApiError(400, "folder not found")
        old = self.dashboards.get(board["uid"])
        if old and not body.get("overwrite"):
            raise ApiError(412, "A dashboard with the same uid already exists")
        version = old["dashboard"]["version"] + 1 if old else 1
        ident = old["dashboard"]["id"] if old else next(self._ids)
        self.dashboards[board["uid"]] = {"dashboard": {**copy.deepcopy(board), "id": ident, "version": version},
                                         "folderUid": folder}
        return 200, {"id": ident, "uid": board["uid"], "status": "success", "version": version,
                     "url": f"/d/{board['uid']}"}

    # -- alerting -----------------------------------------------------------------------------

    def get_template(self, body, name):
        if name not in self.templates:
            raise ApiError(404, "template not found")
        return 200, copy.deepcopy(self.templates[name])

    def put_template(self, body, name):
        self.require(body, {"template"}, "template")
        text = body["template"]
        if text.count("{{") != text.count("}}") or "{{ define" not in text:
            raise ApiError(400, "invalid template")
        old = self.templates.get(name)
        if old and body.get("version") not in (None, "", old["version"]):
            raise ApiError(409, "version conflict")
        self.templates[name] = {"name": name, "template": text, "provenance": "api",
                                "version": f"v{next(self._ids)}"}
        return 202, copy.deepcopy(self.templates[name])

    def _cp_view(self, cp: dict) -> dict:
        view = copy.deepcopy(cp)
        for key in SECURE.get(cp["type"], ()):
            if key in view["settings"]:
                view["settings"][key] = "[REDACTED]"
        return view

    def get_contact_points(self, body):
        return 200, [self._cp_view(cp) for cp in self.contact_points.values()]

    def _check_contact_point(self, body):
        self.require(body, {"type", "settings"}, "contact point")
        if body["type"] not in CONTACT_TYPES:
            raise ApiError(400, f"unknown contact point type {body['type']!r}")
        missing = REQUIRED_SETTINGS.get(body["type"], set()) - {k for k, v in body["settings"].items() if v}
        if missing:
            raise ApiError(400, f"{body['type']}: missing settings {sorted(missing)}")
        if "${" in json.dumps(body["settings"]):
            raise ApiError(400, "unresolved ${VAR} reached the API")

    def post_contact_point(self, body):
        self._check_contact_point(body)
        uid = body.get("uid") or f"cp{next(self._ids)}"
        if uid in self.contact_points:
            raise ApiError(400, "contact point with this uid already exists")
        self.contact_points[uid] = {**copy.deepcopy(body), "uid": uid, "provenance": "api"}
        return 202, self._cp_view(self.contact_points[uid])

    def put_contact_point(self, body, uid):
        self._check_contact_point(body)
        if uid not in self.contact_points:
            raise ApiError(404, "contact point not found")
        self.contact_points[uid] = {**copy.deepcopy(body), "uid": uid, "provenance": "api"}
        return 202, {"message": "contactpoint updated"}

    def get_policies(self, body):
        return 200, copy.deepcopy(self.policy)

    def put_policies(self, body):
        self.require(body, {"receiver"}, "policy tree")
        names = {cp["name"] for cp in self.contact_points.values()}

        def check(route):
            if route.get("receiver") and route["receiver"] not in names:
                raise ApiError(400, f"receiver {route['receiver']!r} does not exist")
            for m in route.get("object_matchers", []):
                if len(m) != 3 or m[1] not in ("=", "!=", "=~", "!~"):
                    raise ApiError(400, f"bad matcher {m}")
            for child in route.get("routes", []):
                check(child)

        check(body)
        self.policy = {**copy.deepcopy(body), "provenance": "api"}
        return 202, {"message": "policies updated"}

    def _check_rule(self, body):
        self.require(body, RULE_REQUIRED, "alert rule")
        if body["folderUID"] not in self.folders:
            raise ApiError(400, f"folder {body['folderUID']} does not exist")
        refs = {q["refId"] for q in body["data"]}
        if body["condition"] not in refs:
            raise ApiError(400, "condition refers to no query")
        for q in body["data"]:
            if q["datasourceUid"] != "__expr__" and q["datasourceUid"] not in self.datasources:
                raise ApiError(400, f"data source {q['datasourceUid']} does not exist")

    def get_rule(self, body, uid):
        if uid not in self.rules:
            raise ApiError(404, "rule not found")
        return 200, copy.deepcopy(self.rules[uid])

    def post_rule(self, body):
        self._check_rule(body)
        uid = body.get("uid") or f"r{next(self._ids)}"
        if uid in self.rules:
            raise ApiError(409, "rule uid already exists")
        self.rules[uid] = {**copy.deepcopy(body), "uid": uid, "id": next(self._ids), "provenance": "api",
                           "updated": "2026-01-01T00:00:00Z"}
        self.groups.setdefault((body["folderUID"], body["ruleGroup"]), self.default_group_interval)
        return 201, copy.deepcopy(self.rules[uid])

    def put_rule(self, body, uid):
        self._check_rule(body)
        if uid not in self.rules:
            raise ApiError(404, "rule not found")
        self.rules[uid] = {**copy.deepcopy(body), "uid": uid, "id": self.rules[uid]["id"], "provenance": "api",
                           "updated": "2026-01-02T00:00:00Z"}
        return 200, copy.deepcopy(self.rules[uid])

    def get_group(self, body, f, g):
        if (f, g) not in self.groups:
            raise ApiError(404, "rule group not found")
        rules = [r for r in self.rules.values() if r["folderUID"] == f and r["ruleGroup"] == g]
        return 200, {"title": g, "folderUid": f, "interval": self.groups[(f, g)], "rules": copy.deepcopy(rules)}

    def put_group(self, body, f, g):
        self.require(body, {"interval", "rules"}, "rule group")
        if body["interval"] % 10:
            raise ApiError(400, "interval must be a multiple of the base interval (10s)")
        self.groups[(f, g)] = body["interval"]
        return 200, {"title": g, "folderUid": f, "interval": body["interval"], "rules": body["rules"]}


@pytest.fixture
def grafana():
    fake = FakeGrafana(default_group_interval=10)

    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            status, payload = fake.handle(self.command, self.path, self.headers, body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def env(grafana, monkeypatch):
    values = {
        "OPSWATCH_GRAFANA__URL": grafana.url, "OPSWATCH_GRAFANA__TOKEN": TOKEN,
        "OPSWATCH_INFLUX__URL": "http://influxdb:8086", "OPSWATCH_INFLUX__TOKEN": "influx-token",
        "ONCALL_NTFY_URL": "https://ntfy.example/acme-7f3k", "ONCALL_PUSHOVER_USER_KEY": "pushover-user",
        "ONCALL_PUSHOVER_APP_TOKEN": "pushover-app",
    }
    for name in ("ONCALL_TELEGRAM_BOT_TOKEN", "ONCALL_TELEGRAM_CHAT_ID", "ONCALL_PAGERDUTY_ROUTING_KEY"):
        monkeypatch.delenv(name, raising=False)
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def pusher(env) -> GrafanaPusher:
    settings = load_settings()
    return GrafanaPusher(connect(settings.grafana.url, TOKEN, settings.grafana.org_id),
                         desired_state(settings, env))


def run_cli(*args: str):
    return CliRunner().invoke(grafana_app, ["push", *args], catch_exceptions=False)


def test_dry_run_lists_every_object_and_writes_nothing(grafana, env):
    result = run_cli("--dry-run")
    assert result.exit_code == 0, result.output
    out = result.output
    assert "+ datasource     opswatch-influxdb" in out and "+ folder         opswatch" in out
    for board in dashboards():
        assert f"+ dashboard      {board['uid']}" in out
    assert "+ template       opswatch" in out
    configured = [i for i in integrations() if not i.optional or i.type == "pushover"]
    for integ in configured:
        assert f"+ contact-point  {integ.name}/{integ.type}" in out
    assert "- contact-point  opswatch-critical-telegram" in out and "ONCALL_TELEGRAM_BOT_TOKEN" in out
    assert "~ policy-tree    root" in out
    for family in FAMILIES:
        assert f"+ alert-rule     {family.rule_uid}" in out
    assert "dry run: nothing written" in out
    for secret in ("influx-token", "pushover-user", "pushover-app", TOKEN):
        assert secret not in out
    assert grafana.requests and grafana.writes == []


def test_push_creates_everything_with_documented_requests_then_a_second_push_writes_nothing(grafana, env):
    first = run_cli()
    assert first.exit_code == 0, first.output
    assert "pushed:" in first.output
    writes = [(m, re.sub(r"/(opswatch[\w-]*)", "/{uid}", p)) for m, p, _ in grafana.writes]
    assert set(writes) == {
        ("POST", "/api/datasources"), ("POST", "/api/folders"), ("POST", "/api/dashboards/db"),
        ("PUT", "/api/v1/provisioning/templates/{uid}"), ("POST", "/api/v1/provisioning/contact-points"),
        ("PUT", "/api/v1/provisioning/policies"), ("POST", "/api/v1/provisioning/alert-rules"),
        ("PUT", "/api/v1/provisioning/folder/{uid}/rule-groups/{uid}"),
    }
    # Order matters to Grafana: folder before dashboards and rules, receivers before the policy.
    paths = [p for _, p, _ in grafana.writes]
    first_index = lambda prefix: next(i for i, p in enumerate(paths) if p.startswith(prefix))  # noqa: E731
    assert first_index("/api/folders") < first_index("/api/dashboards/db")
    assert first_index("/api/v1/provisioning/contact-points") < first_index("/api/v1/provisioning/policies")
    assert first_index("/api/datasources") < first_index("/api/v1/provisioning/alert-rules")
    for method, path, body in grafana.writes:
        if path == "/api/dashboards/db":
            assert body["overwrite"] is True and body["folderUid"] == "opswatch" and body["dashboard"]["id"] is None
    assert set(grafana.dashboards) == {d["uid"] for d in dashboards()}
    assert grafana.datasources["opswatch-influxdb"]["secureJsonData"] == {"httpHeaderValue1": "Token influx-token"}
    assert grafana.datasources["opswatch-influxdb"]["jsonData"]["version"] == "InfluxQL"
    pushover = grafana.contact_points["opswatch-critical-pushover"]["settings"]
    assert pushover["userKey"] == "pushover-user"  # resolved from the environment, not committed
    assert "opswatch-critical-telegram" not in grafana.contact_points
    assert grafana.policy["routes"][0]["receiver"] == "opswatch-critical"
    assert grafana.groups[("opswatch", "opswatch-incidents")] == 60

    before = len(grafana.requests)
    second = run_cli()
    assert second.exit_code == 0, second.output
    assert "Grafana is up to date" in second.output
    assert "+ " not in second.output and "~ " not in second.output
    new = grafana.requests[before:]
    assert new and all(method == "GET" for method, _, _ in new), [r[:2] for r in new if r[0] != "GET"]


def test_a_changed_object_is_the_only_one_updated(grafana, env):
    p = pusher(env)
    p.apply(p.plan())
    grafana.dashboards["opswatch-fleet"]["dashboard"]["title"] = "Fleet (edited by hand)"
    del grafana.rules[FAMILIES[0].rule_uid]
    grafana.contact_points["opswatch-fleet-ntfy"]["settings"]["httpMethod"] = "PUT"
    grafana.requests.clear()

    plan = pusher(env).plan()
    acted = {(c.kind, c.key): c.action for c in plan.changes if c.action != UNCHANGED}
    assert acted == {("dashboard", "opswatch-fleet"): UPDATE,
                     ("alert-rule", FAMILIES[0].rule_uid): CREATE,
                     ("contact-point", "opswatch-fleet/webhook"): UPDATE,
                     ("contact-point", "opswatch-critical-telegram"): SKIPPED,
                     ("contact-point", "opswatch-critical-pagerduty"): SKIPPED,
                     ("contact-point", "opswatch-oncall-telegram"): SKIPPED}
    pusher(env).apply(plan)
    assert [(m, p) for m, p, _ in grafana.writes] == [
        ("POST", "/api/dashboards/db"),
        ("PUT", "/api/v1/provisioning/contact-points/opswatch-fleet-ntfy"),
        ("POST", "/api/v1/provisioning/alert-rules"),
    ]
    assert grafana.dashboards["opswatch-fleet"]["dashboard"]["title"] == "Fleet"
    assert not pusher(env).plan().writes


def test_redacted_secrets_do_not_count_as_changes_but_a_lost_token_does(grafana, env):
    p = pusher(env)
    p.apply(p.plan())
    assert grafana._cp_view(grafana.contact_points["opswatch-critical-pushover"])["settings"]["userKey"] == "[REDACTED]"
    assert not pusher(env).plan().writes
    grafana.datasources["opswatch-influxdb"].pop("secureJsonData")
    plan = pusher(env).plan()
    assert [(c.kind, c.action, c.detail) for c in plan.writes] == [
        ("datasource", UPDATE, "changed secureJsonData.httpHeaderValue1")]


def test_objects_provisioned_from_files_are_conflicts_not_overwritten(grafana, env):
    p = pusher(env)
    p.apply(p.plan())
    rule = grafana.rules[FAMILIES[1].rule_uid]
    rule.update(provenance="file", title="edited in a file")
    plan = pusher(env).plan()
    assert [(c.kind, c.key) for c in plan.conflicts] == [("alert-rule", FAMILIES[1].rule_uid)]
    assert CONFLICT in plan.render()
    with pytest.raises(GrafanaPushError, match="provisioned from files"):
        pusher(env).apply(plan)


def test_push_refuses_clearly_without_a_token_or_the_phone_channel(grafana, env, monkeypatch):
    monkeypatch.delenv("ONCALL_NTFY_URL")
    result = CliRunner().invoke(grafana_app, ["push", "--dry-run"])
    assert result.exit_code == 2
    assert "ONCALL_NTFY_URL" in result.output
    monkeypatch.setenv("ONCALL_NTFY_URL", "https://ntfy.example/acme")
    monkeypatch.setenv("OPSWATCH_GRAFANA__TOKEN", "")
    result = CliRunner().invoke(grafana_app, ["push", "--dry-run"])
    assert result.exit_code == 2 and "OPSWATCH_GRAFANA__TOKEN" in result.output
    assert grafana.requests == []


def test_unreachable_or_unauthorised_grafana_is_an_error_naming_the_url(grafana, env, monkeypatch):
    monkeypatch.setenv("OPSWATCH_GRAFANA__TOKEN", "wrong-token")
    result = CliRunner().invoke(grafana_app, ["push"])
    assert result.exit_code == 1 and f"reading Grafana at {grafana.url} failed: Unauthorized" in result.output
    monkeypatch.setenv("OPSWATCH_GRAFANA__URL", "http://127.0.0.1:9")
    result = CliRunner().invoke(grafana_app, ["push", "--dry-run"])
    assert result.exit_code == 1 and "reading Grafana at http://127.0.0.1:9 failed" in result.output


def test_wrong_token_is_reported_not_retried(grafana, env, monkeypatch):
    from grafana_client.client import GrafanaUnauthorizedError

    settings = load_settings()
    api = connect(settings.grafana.url, "wrong-token")
    with pytest.raises(GrafanaUnauthorizedError):
        GrafanaPusher(api, desired_state(settings, env)).plan()
    assert len(grafana.requests) == 1


def test_connect_keeps_a_sub_path_and_checks_the_url():
    api = connect("https://example.com/grafana", "t", 3)
    assert api.client.url == "https://example.com/grafana/api"
    assert api.client.s.headers["X-Grafana-Org-Id"] == "3"
    with pytest.raises(ValueError, match="OPSWATCH_GRAFANA__URL"):
        connect("grafana:3000", "t")
