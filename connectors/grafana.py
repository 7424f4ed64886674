"""Push opswatch's Grafana objects to a running Grafana: plan the difference, then apply it.

Where this sits: ``streams.dashboards`` builds what Grafana should hold (data source, folder,
dashboards, notification template, contact points, policy tree, alert rules); this module reads
what Grafana holds through its HTTP API (with grafana-client), compares, and writes only what
differs. A second push after a successful one reads everything and writes nothing.

Comparisons ignore what Grafana adds or hides: ids and versions, provenance, and secrets, which it
reads back as ``[REDACTED]`` or not at all (so a changed token alone is not detected; rotate it
with the Grafana UI or delete the object and push again). Objects provisioned from files
(``provenance: file``) cannot be changed over the API; the plan reports them as conflicts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from grafana_client import GrafanaApi
from grafana_client.client import GrafanaClientError

from streams.dashboards import DesiredState
from streams.dashboards.alerting import RULE_GROUP, SECURE_SETTINGS

log = logging.getLogger(__name__)

CREATE, UPDATE, UNCHANGED, SKIPPED, CONFLICT = "create", "update", "unchanged", "skipped", "conflict"
REDACTED = "[REDACTED]"
PUSH_MESSAGE = "opswatch grafana push"


class GrafanaPushError(RuntimeError):
    """A push step failed; the message names the object, the request and what Grafana said."""


@dataclass
class Change:
    kind: str
    key: str
    action: str
    detail: str = ""
    apply: Callable[[], Any] | None = field(default=None, repr=False, compare=False)

    def __str__(self) -> str:
        sign = {CREATE: "+", UPDATE: "~", UNCHANGED: "=", SKIPPED: "-", CONFLICT: "!"}[self.action]
        text = f"{sign} {self.kind:<14} {self.key}  ({self.action})"
        return text + (f": {self.detail}" if self.detail else "")


@dataclass
class Plan:
    changes: list[Change]

    @property
    def writes(self) -> list[Change]:
        return [c for c in self.changes if c.action in (CREATE, UPDATE)]

    @property
    def conflicts(self) -> list[Change]:
        return [c for c in self.changes if c.action == CONFLICT]

    def summary(self) -> str:
        counts = {a: sum(c.action == a for c in self.changes)
                  for a in (CREATE, UPDATE, UNCHANGED, SKIPPED, CONFLICT)}
        return ", ".join(f"{n} to {a}" if a in (CREATE, UPDATE) else f"{n} {a}"
                         for a, n in counts.items() if n) or "nothing to do"

    def render(self) -> str:
        return "\n".join([*map(str, self.changes), "", f"plan: {self.summary()}"])


def connect(url: str, token: str = "", org_id: int = 1, timeout_s: float = 10.0) -> GrafanaApi:
    """A grafana-client API for ``url``; a token if given, else user:password from the URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"OPSWATCH_GRAFANA__URL: expected an http:// or https:// URL; got {url!r}")
    if token:
        auth: Any = token
    elif parts.username and parts.password:
        auth = (parts.username, parts.password)
    else:
        raise ValueError("OPSWATCH_GRAFANA__TOKEN: expected a Grafana service-account token "
                         "(or user:password in OPSWATCH_GRAFANA__URL); got nothing")
    prefix = parts.path.strip("/")
    return GrafanaApi(auth=auth, host=parts.hostname, port=parts.port, protocol=parts.scheme,
                      url_path_prefix=f"{prefix}/" if prefix else "", organization_id=org_id,
                      timeout=timeout_s)


def _missing(exc: GrafanaClientError) -> bool:
    return exc.status_code == 404


def _get(call: Callable[[], Any]) -> Any | None:
    """Grafana's answer, or None where it says 404."""
    try:
        return call()
    except GrafanaClientError as exc:
        if _missing(exc):
            return None
        raise


def _subset_differs(want: Any, have: Any, path: str = "") -> list[str]:
    """Keys of ``want`` whose value ``have`` lacks or holds differently (extra keys in have are fine)."""
    if isinstance(want, dict):
        if not isinstance(have, dict):
            return [path or "."]
        out = []
        for k, v in want.items():
            out += _subset_differs(v, have.get(k), f"{path}.{k}" if path else k)
        return out
    if isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            return [path or "."]
        out = []
        for i, (w, h) in enumerate(zip(want, have)):
            out += _subset_differs(w, h, f"{path}[{i}]")
        return out
    return [] if want == have else [path or "."]


def _describe(diffs: list[str]) -> str:
    return "changed " + ", ".join(diffs[:4]) + (f" and {len(diffs) - 4} more" if len(diffs) > 4 else "")


def _clean_route(route: dict[str, Any]) -> dict[str, Any]:
    """A policy route without what Grafana adds on read (provenance, empty lists, defaults)."""
    out = {k: v for k, v in route.items() if k != "provenance" and v not in (None, [], {}, "", False)}
    if "routes" in out:
        out["routes"] = [_clean_route(r) for r in out["routes"]]
    return out


class GrafanaPusher:
    """Plan and apply ``desired`` on the Grafana behind ``api``."""

    def __init__(self, api: GrafanaApi, desired: DesiredState) -> None:
        self.api = api
        self.desired = desired

    # -- plan -------------------------------------------------------------------------------

    def plan(self) -> Plan:
        changes = [self._datasource()]
        changes += [self._folder(f) for f in self.desired.folders]
        changes += [self._dashboard(d) for d in self.desired.dashboards]
        changes += [self._template(n, t) for n, t in self.desired.templates.items()]
        changes += self._contact_points()
        changes.append(self._policy_tree())
        changes += [self._alert_rule(r) for r in self.desired.alert_rules]
        changes.append(self._rule_group())
        return Plan(changes)

    def _datasource(self) -> Change:
        want = self.desired.datasource
        uid = want["uid"]
        have = _get(lambda: self.api.datasource.get_datasource_by_uid(uid))
        if have is None:
            return Change("datasource", uid, CREATE, f"{want['type']} {want['url']}",
                          lambda: self.api.datasource.create_datasource(want))
        plain = {k: v for k, v in want.items() if k != "secureJsonData"}
        diffs = _subset_differs(plain, have)
        secure = have.get("secureJsonFields") or {}
        diffs += [f"secureJsonData.{k}" for k in want.get("secureJsonData", {}) if not secure.get(k)]
        if have.get("readOnly") and diffs:
            return Change("datasource", uid, CONFLICT, "provisioned from files; edit deploy/grafana")
        if not diffs:
            return Change("datasource", uid, UNCHANGED)
        return Change("datasource", uid, UPDATE, _describe(diffs),
                      lambda: self.api.datasource.update_datasource_by_uid(uid, want))

    def _folder(self, want: dict[str, str]) -> Change:
        uid, title = want["uid"], want["title"]
        have = _get(lambda: self.api.folder.get_folder(uid))
        if have is None:
            return Change("folder", uid, CREATE, title,
                          lambda: self.api.folder.create_folder(title, uid=uid))
        if have.get("title") == title:
            return Change("folder", uid, UNCHANGED)
        return Change("folder", uid, UPDATE, f"title {have.get('title')!r} -> {title!r}",
                      lambda: self.api.folder.update_folder(uid, title=title, version=have.get("version"),
                                                            overwrite=True))

    def _dashboard(self, want: dict[str, Any]) -> Change:
        board, folder = want["dashboard"], want["folderUid"]
        uid = board["uid"]
        body = {"dashboard": {**board, "id": None}, "folderUid": folder, "overwrite": True,
                "message": PUSH_MESSAGE}
        have = _get(lambda: self.api.dashboard.get_dashboard(uid))
        if have is None:
            return Change("dashboard", uid, CREATE, board["title"],
                          lambda: self.api.dashboard.update_dashboard(body))
        # Extra keys Grafana adds on save are fine; every key we send must read back the same.
        diffs = [f"dashboard.{d}" for d in _subset_differs(board, have.get("dashboard") or {})]
        if (have.get("meta") or {}).get("folderUid") != folder:
            diffs.append("folder")
        if not diffs:
            return Change("dashboard", uid, UNCHANGED)
        if (have.get("meta") or {}).get("provisioned"):
            return Change("dashboard", uid, CONFLICT, "provisioned from files; edit deploy/grafana")
        return Change("dashboard", uid, UPDATE, _describe(diffs),
                      lambda: self.api.dashboard.update_dashboard(body))

    def _template(self, name: str, text: str) -> Change:
        have = _get(lambda: self.api.alertingprovisioning.get_template(name))
        body = {"template": text}
        if have is None:
            return Change("template", name, CREATE, "",
                          lambda: self.api.alertingprovisioning.create_or_update_template(name, body))
        if (have.get("template") or "").strip() == text.strip():
            return Change("template", name, UNCHANGED)
        if have.get("provenance") == "file":
            return Change("template", name, CONFLICT, "provisioned from files; edit deploy/grafana")
        if have.get("version"):
            body["version"] = have["version"]  # optimistic concurrency on Grafana 11+
        return Change("template", name, UPDATE, "changed template",
                      lambda: self.api.alertingprovisioning.create_or_update_template(name, body))

    def _contact_points(self) -> list[Change]:
        have_all = {c.get("uid"): c for c in self.api.alertingprovisioning.get_contactpoints() or []}
        out = []
        for want in self.desired.contact_points:
            uid = want["uid"]
            key = f"{want['name']}/{want['type']}"
            have = have_all.get(uid)
            if have is None:
                out.append(Change("contact-point", key, CREATE, uid,
                                  lambda w=want: self.api.alertingprovisioning.create_contactpoint(w)))
                continue
            secure = SECURE_SETTINGS.get(want["type"], frozenset())
            have_settings = have.get("settings") or {}
            settings = {k: v for k, v in want["settings"].items()
                        if not (k in secure and have_settings.get(k, REDACTED) == REDACTED)}
            diffs = _subset_differs({**want, "settings": settings}, have)
            if not diffs:
                out.append(Change("contact-point", key, UNCHANGED))
            elif have.get("provenance") == "file":
                out.append(Change("contact-point", key, CONFLICT, "provisioned from files"))
            else:
                out.append(Change("contact-point", key, UPDATE, _describe(diffs),
                                  lambda w=want: self.api.alertingprovisioning.update_contactpoint(w["uid"], w)))
        for uid, missing in sorted(self.desired.skipped_contact_points.items()):
            out.append(Change("contact-point", uid, SKIPPED, "unset: " + ", ".join(missing)))
        return out

    def _policy_tree(self) -> Change:
        want = self.desired.policy_tree
        have = _get(lambda: self.api.alertingprovisioning.get_notification_policy_tree()) or {}
        if _clean_route(have) == _clean_route(want):
            return Change("policy-tree", "root", UNCHANGED)
        if have.get("provenance") == "file":
            return Change("policy-tree", "root", CONFLICT, "provisioned from files")
        return Change("policy-tree", "root", UPDATE, f"routes to {want['receiver']} and "
                      f"{len(want.get('routes', []))} child routes",
                      lambda: self.api.alertingprovisioning.set_notification_policy_tree(want))

    def _alert_rule(self, want: dict[str, Any]) -> Change:
        uid = want["uid"]
        have = _get(lambda: self.api.alertingprovisioning.get_alertrule(uid))
        if have is None:
            return Change("alert-rule", uid, CREATE, want["title"],
                          lambda: self.api.alertingprovisioning.create_alertrule(want))
        diffs = _subset_differs(want, have)
        if not diffs:
            return Change("alert-rule", uid, UNCHANGED)
        if have.get("provenance") == "file":
            return Change("alert-rule", uid, CONFLICT, "provisioned from files")
        return Change("alert-rule", uid, UPDATE, _describe(diffs),
                      lambda: self.api.alertingprovisioning.update_alertrule(uid, want))

    def _rule_group(self) -> Change:
        folder = self.desired.alert_rules[0]["folderUID"] if self.desired.alert_rules else None
        interval = self.desired.rule_group_interval_s
        key = f"{folder}/{RULE_GROUP}"
        if folder is None:
            return Change("rule-group", key, UNCHANGED)
        have = _get(lambda: self.api.alertingprovisioning.get_rule_group(folder, RULE_GROUP))
        if have is not None and have.get("interval") == interval:
            return Change("rule-group", key, UNCHANGED)

        def set_interval() -> Any:
            # Read again: the rules may have been created by this push a moment ago.
            group = self.api.alertingprovisioning.get_rule_group(folder, RULE_GROUP)
            if group.get("interval") == interval:
                return group
            return self.api.alertingprovisioning.update_rule_group(
                folder, RULE_GROUP, {"title": RULE_GROUP, "folderUid": folder, "interval": interval,
                                     "rules": group.get("rules", [])})

        detail = f"evaluate every {interval}s"
        return Change("rule-group", key, CREATE if have is None else UPDATE, detail, set_interval)

    # -- apply ------------------------------------------------------------------------------

    def apply(self, plan: Plan) -> Plan:
        started = time.monotonic()
        if plan.conflicts:
            raise GrafanaPushError("cannot push over objects provisioned from files: " + ", ".join(
                f"{c.kind} {c.key}" for c in plan.conflicts))
        for change in plan.writes:
            try:
                change.apply()
            except GrafanaClientError as exc:
                raise GrafanaPushError(f"{change.action} {change.kind} {change.key!r} failed: "
                                       f"Grafana said {exc.status_code}: {exc.message}") from exc
        log.info("grafana push: %s in %.2fs", plan.summary(), time.monotonic() - started)
        return plan
