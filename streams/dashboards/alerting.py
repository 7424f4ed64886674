"""Grafana alerting as code: incident rules, phone contact points, routing by team and severity.

Where this sits: the worker writes ``incident`` points (``open`` = 1 while open, tags kind, entity,
site, severity); one Grafana rule per incident family fires for every open series, and the policy
tree routes it by ``team`` (set by the rule) and ``severity`` (carried from the incident tag) to a
contact point on the on-call phones.

Secrets never live here: contact-point settings hold ``${VAR}`` references. Grafana's file
provisioning interpolates them from its own environment; ``opswatch grafana push`` resolves them
from the environment of the process that pushes. Integrations marked optional (Pushover, Telegram,
PagerDuty) are pushed only when their variables are set, and are left out of the provisioning files
so an unset key cannot stop Grafana from starting.

Templates use ``.Labels`` and ``.Annotations`` rather than ``$labels``: Grafana expands ``$`` in
provisioning files as environment variables.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from streams.dashboards import cold_chain, fleet, inventory, overview
from streams.dashboards.base import FieldExpr, Select, Target
from streams.dashboards.overview import INCIDENT_KEY

ORG_ID = 1
RULE_GROUP = "opswatch-incidents"
RULE_GROUP_INTERVAL_S = 60
TEMPLATE_NAME = "opswatch"
ENV_REF = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


@dataclass(frozen=True)
class IncidentFamily:
    """Incidents whose ``kind`` matches ``kind_regex``, owned by one team, shown on one dashboard."""

    key: str
    title: str
    kind_regex: str
    team: str
    dashboard_uid: str
    summary: str
    action: str

    @property
    def rule_uid(self) -> str:
        return f"opswatch-incident-{self.key}".replace("_", "-")


FAMILIES: tuple[IncidentFamily, ...] = (
    IncidentFamily(
        "cold_chain", "Cold-chain incident", "^cold_chain", "cold-chain", cold_chain.UID,
        "{{ .Labels.kind }}: fridge {{ .Labels.entity }} at {{ .Labels.site }} ({{ .Labels.severity }})",
        "Check the door seal and compressor now. If the temperature stays above the safe limit, "
        "move the goods to another cold room (see proposed transfers) and log the excursion."),
    IncidentFamily(
        "vehicle", "Fleet incident", "^vehicle", "fleet", fleet.UID,
        "{{ .Labels.kind }}: vehicle {{ .Labels.entity }} near {{ .Labels.site }} ({{ .Labels.severity }})",
        "Call the driver. Check position, speed and engine temperature on the Fleet dashboard; "
        "re-route the remaining stops if the vehicle cannot continue."),
    IncidentFamily(
        "stock", "Stock or sales incident", "^(stock|pos_sale|sales)", "inventory", inventory.UID,
        "{{ .Labels.kind }}: {{ .Labels.entity }} at {{ .Labels.site }} ({{ .Labels.severity }})",
        "Check stock on hand and days of cover; approve the proposed transfer or place a reorder."),
    IncidentFamily(
        "shipment", "Supplier or shipment incident", "^(shipment|supplier)", "inventory", inventory.UID,
        "{{ .Labels.kind }}: shipment {{ .Labels.entity }} to {{ .Labels.site }} ({{ .Labels.severity }})",
        "Ask the supplier for a new arrival time and warn the receiving site; "
        "move stock from another site if it runs out before then."),
)
#: Anything the families above do not claim still pages someone.
OTHER = IncidentFamily(
    "other", "Other incident", "", "operations", overview.UID,
    "{{ .Labels.kind }}: {{ .Labels.entity }} at {{ .Labels.site }} ({{ .Labels.severity }})",
    "Open the operations overview, read the incident and follow its recommended action.")


def incident_query(family: IncidentFamily) -> Select:
    where, where_not = {}, {}
    if family is OTHER:
        where_not = {"kind": "|".join(f"({f.kind_regex})" for f in FAMILIES)}
    else:
        where = {"kind": family.kind_regex}
    return Select("incident", [FieldExpr("last", "open")], where_tags=where, where_not_tags=where_not,
                  group_by=INCIDENT_KEY)


def alert_rule(family: IncidentFamily, folder_uid: str, datasource_uid: str) -> dict[str, Any]:
    """A Grafana-managed rule in the provisioning API's ProvisionedAlertRule shape."""
    query = Target(incident_query(family), ref_id="A", datasource_uid=datasource_uid).build().to_json()
    query.update({"intervalMs": 60_000, "maxDataPoints": 43_200})
    expr_ds = {"type": "__expr__", "uid": "__expr__"}
    return {
        "uid": family.rule_uid,
        "orgID": ORG_ID,
        "folderUID": folder_uid,
        "ruleGroup": RULE_GROUP,
        "title": family.title,
        "condition": "C",
        "data": [
            # A day back: an incident that stays open writes no new point until it resolves.
            {"refId": "A", "queryType": "", "relativeTimeRange": {"from": 86_400, "to": 0},
             "datasourceUid": datasource_uid, "model": query},
            {"refId": "B", "queryType": "", "relativeTimeRange": {"from": 0, "to": 0},
             "datasourceUid": "__expr__",
             "model": {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last",
                       "settings": {"mode": "dropNN"}, "datasource": expr_ds}},
            {"refId": "C", "queryType": "", "relativeTimeRange": {"from": 0, "to": 0},
             "datasourceUid": "__expr__",
             "model": {"refId": "C", "type": "threshold", "expression": "B", "datasource": expr_ds,
                       "conditions": [{"evaluator": {"type": "gt", "params": [0.5]}}]}},
        ],
        "noDataState": "OK",
        "execErrState": "Error",
        "for": "0s",
        "isPaused": False,
        "labels": {"team": family.team, "family": family.key},
        "annotations": {
            "summary": family.summary,
            "description": ("Incident {{ .Labels.kind }} on {{ .Labels.entity }} at {{ .Labels.site }}, "
                            "severity {{ .Labels.severity }}."),
            "recommended_action": family.action,
            "__dashboardUid__": family.dashboard_uid,
        },
    }


def alert_rules(folder_uid: str, datasource_uid: str) -> list[dict[str, Any]]:
    return [alert_rule(f, folder_uid, datasource_uid) for f in (*FAMILIES, OTHER)]


#: The notification template: the incident, the recommended action and the dashboard link.
MESSAGE_TEMPLATE = """\
{{ define "opswatch.title" -}}
[{{ .Status | toUpper }}{{ if eq .Status "firing" }} {{ len .Alerts.Firing }}{{ end }}] {{ .CommonLabels.family }} {{ .CommonLabels.site }}
{{- end }}

{{ define "opswatch.alert" -}}
{{ .Annotations.summary }}
{{ .Annotations.description }}
Action: {{ .Annotations.recommended_action }}
{{ if .DashboardURL }}Dashboard: {{ .DashboardURL }}{{ end }}
{{ if .SilenceURL }}Silence: {{ .SilenceURL }}{{ end }}
{{- end }}

{{ define "opswatch.message" -}}
{{ if gt (len .Alerts.Firing) 0 }}OPEN
{{ range .Alerts.Firing }}{{ template "opswatch.alert" . }}

{{ end }}{{ end -}}
{{ if gt (len .Alerts.Resolved) 0 }}RESOLVED
{{ range .Alerts.Resolved }}{{ .Annotations.summary }}
{{ end }}{{ end -}}
{{- end }}
"""


def templates() -> dict[str, str]:
    return {TEMPLATE_NAME: MESSAGE_TEMPLATE}


TITLE = '{{ template "opswatch.title" . }}'
MESSAGE = '{{ template "opswatch.message" . }}'

#: Settings Grafana stores encrypted and reads back as "[REDACTED]" or not at all.
SECURE_SETTINGS: dict[str, frozenset[str]] = {
    "webhook": frozenset({"password", "authorization_credentials"}),
    "pushover": frozenset({"userKey", "apiToken"}),
    "telegram": frozenset({"bottoken"}),
    "pagerduty": frozenset({"integrationKey"}),
}


@dataclass(frozen=True)
class Integration:
    """One integration of a contact point; ``optional`` ones need all their variables set."""

    uid: str
    name: str
    type: str
    settings: dict[str, Any]
    optional: bool = False
    disable_resolve_message: bool = False

    def env_vars(self) -> set[str]:
        return set(ENV_REF.findall(repr(self.settings)))

    def as_api(self) -> dict[str, Any]:
        return {"uid": self.uid, "name": self.name, "type": self.type, "settings": dict(self.settings),
                "disableResolveMessage": self.disable_resolve_message}


def ntfy(contact: str, topic: str, priority: int) -> Integration:
    # ntfy turns Grafana's webhook JSON into a phone notification with its own templating
    # (tpl=1, t=title, m=message); the braces are URL-encoded so no `$` or `{{` reaches Grafana.
    url = ("${ONCALL_NTFY_URL}-" + topic + f"?tpl=1&p={priority}"
           "&t=%7B%7B.title%7D%7D&m=%7B%7B.message%7D%7D")
    return Integration(f"{contact}-ntfy", contact, "webhook",
                       {"url": url, "httpMethod": "POST", "title": TITLE, "message": MESSAGE})


def pushover(contact: str, priority: int) -> Integration:
    return Integration(f"{contact}-pushover", contact, "pushover", {
        "userKey": "${ONCALL_PUSHOVER_USER_KEY}", "apiToken": "${ONCALL_PUSHOVER_APP_TOKEN}",
        "priority": priority, "okPriority": 0, "title": TITLE, "message": MESSAGE}, optional=True)


def telegram(contact: str) -> Integration:
    return Integration(f"{contact}-telegram", contact, "telegram", {
        "bottoken": "${ONCALL_TELEGRAM_BOT_TOKEN}", "chatid": "${ONCALL_TELEGRAM_CHAT_ID}",
        "message": MESSAGE}, optional=True)


def pagerduty(contact: str) -> Integration:
    return Integration(f"{contact}-pagerduty", contact, "pagerduty", {
        "integrationKey": "${ONCALL_PAGERDUTY_ROUTING_KEY}", "severity": "critical",
        "class": "opswatch", "summary": TITLE}, optional=True)


#: Contact points by name. Critical incidents ring every phone channel that is configured.
CONTACT_POINTS: dict[str, tuple[Integration, ...]] = {
    "opswatch-oncall": (ntfy("opswatch-oncall", "oncall", 4), telegram("opswatch-oncall")),
    "opswatch-critical": (ntfy("opswatch-critical", "oncall", 5), pushover("opswatch-critical", 1),
                          telegram("opswatch-critical"), pagerduty("opswatch-critical")),
    "opswatch-cold-chain": (ntfy("opswatch-cold-chain", "cold-chain", 4),),
    "opswatch-fleet": (ntfy("opswatch-fleet", "fleet", 4),),
    "opswatch-inventory": (ntfy("opswatch-inventory", "inventory", 3),),
    "opswatch-quiet": (ntfy("opswatch-quiet", "oncall", 2),),
}

#: Environment variables the contact points read, with what each should hold.
CONTACT_ENV: dict[str, str] = {
    "ONCALL_NTFY_URL": "ntfy server and secret topic prefix, e.g. https://ntfy.sh/acme-7f3k9q",
    "ONCALL_PUSHOVER_USER_KEY": "Pushover user or group key (optional)",
    "ONCALL_PUSHOVER_APP_TOKEN": "Pushover application token (optional)",
    "ONCALL_TELEGRAM_BOT_TOKEN": "Telegram bot token (optional)",
    "ONCALL_TELEGRAM_CHAT_ID": "Telegram chat id (optional)",
    "ONCALL_PAGERDUTY_ROUTING_KEY": "PagerDuty Events v2 routing key (optional)",
}


def integrations() -> list[Integration]:
    return [i for group in CONTACT_POINTS.values() for i in group]


def _route(receiver: str, matchers: list[list[str]], **extra: Any) -> dict[str, Any]:
    return {"receiver": receiver, "object_matchers": matchers, **extra}


def policy_tree() -> dict[str, Any]:
    """Severity first (critical rings everyone, info stays quiet), then the owning team."""
    return {
        "receiver": "opswatch-oncall",
        "group_by": ["alertname", "team", "site"],
        "group_wait": "30s",
        "group_interval": "5m",
        "repeat_interval": "4h",
        "routes": [
            _route("opswatch-critical", [["severity", "=", "critical"]], group_wait="10s",
                   repeat_interval="1h", **{"continue": True}),
            _route("opswatch-quiet", [["severity", "=~", "info|low"]], repeat_interval="24h"),
            _route("opswatch-cold-chain", [["team", "=", "cold-chain"]]),
            _route("opswatch-fleet", [["team", "=", "fleet"]]),
            _route("opswatch-inventory", [["team", "=", "inventory"]]),
        ],
    }


def receivers_in(tree: dict[str, Any]) -> set[str]:
    out = {tree["receiver"]} if tree.get("receiver") else set()
    for child in tree.get("routes", []):
        out |= receivers_in(child)
    return out


# -- provisioning files ------------------------------------------------------------------------

def provisioning_files(folder_title: str, folder_uid: str, datasource_uid: str) -> dict[str, dict]:
    """The alerting provisioning files for ``deploy/grafana/provisioning/alerting``, by file name."""
    rules = []
    for rule in alert_rules(folder_uid, datasource_uid):
        rules.append({k: rule[k] for k in ("uid", "title", "condition", "data", "noDataState",
                                            "execErrState", "for", "annotations", "labels",
                                            "isPaused")})
    contact_points = []
    for name, group in CONTACT_POINTS.items():
        receivers = [{"uid": i.uid, "type": i.type, "settings": i.settings,
                      "disableResolveMessage": i.disable_resolve_message}
                     for i in group if not i.optional]
        contact_points.append({"orgId": ORG_ID, "name": name, "receivers": receivers})
    return {
        "rules.yaml": {"apiVersion": 1, "groups": [{
            "orgId": ORG_ID, "name": RULE_GROUP, "folder": folder_title,
            "interval": f"{RULE_GROUP_INTERVAL_S}s", "rules": rules}]},
        "contact-points.yaml": {"apiVersion": 1, "contactPoints": contact_points},
        "policies.yaml": {"apiVersion": 1, "policies": [{"orgId": ORG_ID, **policy_tree()}]},
        "templates.yaml": {"apiVersion": 1, "templates": [
            {"orgId": ORG_ID, "name": name, "template": text} for name, text in templates().items()]},
    }


@dataclass
class ResolvedContacts:
    """Integrations with their ``${VAR}`` references filled in, and what was left out and why."""

    integrations: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)  # uid -> missing variables


class MissingSecret(ValueError):
    """A required contact-point variable is not set in the environment of the push."""


def resolve_contacts(env: dict[str, str]) -> ResolvedContacts:
    out = ResolvedContacts()
    missing_required: dict[str, list[str]] = {}
    for integ in integrations():
        missing = sorted(v for v in integ.env_vars() if not env.get(v))
        if missing:
            (out.skipped if integ.optional else missing_required)[integ.uid] = missing
            continue
        api = integ.as_api()
        api["settings"] = _fill(api["settings"], env)
        out.integrations.append(api)
    if missing_required:
        names = sorted({v for vs in missing_required.values() for v in vs})
        raise MissingSecret("contact points need " + ", ".join(
            f"{n} ({CONTACT_ENV.get(n, 'see deploy/README.md')})" for n in names)
            + f"; got unset for {sorted(missing_required)}")
    return out


def _fill(value: Any, env: dict[str, str]) -> Any:
    if isinstance(value, str):
        return ENV_REF.sub(lambda m: env[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _fill(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, env) for v in value]
    return value
