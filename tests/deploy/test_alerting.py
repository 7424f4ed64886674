"""Alerting files: rules on the incident metrics, routing that reaches a receiver, no stray `$`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from streams.dashboards import dashboards
from streams.dashboards.alerting import (
    CONTACT_ENV, CONTACT_POINTS, FAMILIES, OTHER, MissingSecret, policy_tree, receivers_in,
    resolve_contacts,
)
from streams.metrics import MEASUREMENTS
from streams.settings import Settings
from tests.deploy.test_dashboards import parse_select
from tests.deploy.test_deploy_files import settings_env_names

ALERTING = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "provisioning" / "alerting"
ENV_REF = re.compile(r"\$\{(\w+)\}")


def load(name: str) -> dict:
    return yaml.safe_load((ALERTING / name).read_text())


def unescape(text: str) -> str:
    """What Grafana reads after provisioning interpolation, with env references left as they are."""
    return text.replace("$$", "$")


def test_alerting_files_exist_and_parse():
    for name in ("rules.yaml", "contact-points.yaml", "policies.yaml", "templates.yaml"):
        doc = load(name)
        assert doc["apiVersion"] == 1


def test_rules_read_the_incident_open_field_grouped_by_its_tags():
    incident = MEASUREMENTS["incident"]
    groups = load("rules.yaml")["groups"]
    rules = [r for g in groups for r in g["rules"]]
    assert len(rules) == len(FAMILIES) + 1
    for rule in rules:
        query = next(d for d in rule["data"] if d["refId"] == "A")
        measurement, fields, tags = parse_select(unescape(query["model"]["query"]))
        assert (measurement, fields) == ("incident", {"open"})
        assert tags == set(incident.tags), "a rule must keep kind/entity/site/severity as labels"
        refs = {d["refId"] for d in rule["data"]}
        assert rule["condition"] in refs
        assert query["datasourceUid"] == "opswatch-influxdb"
        assert rule["labels"]["team"]


def test_rule_annotations_carry_the_incident_the_action_and_a_real_dashboard():
    uids = {d["uid"] for d in dashboards()}
    for group in load("rules.yaml")["groups"]:
        for rule in group["rules"]:
            ann = rule["annotations"]
            assert ann["__dashboardUid__"] in uids
            assert "{{ .Labels.entity }}" in ann["summary"]
            assert len(ann["recommended_action"]) > 20


def test_every_incident_kind_the_worker_raises_belongs_to_exactly_one_family():
    from streams import coldchain, fleet, inventory, suppliers

    for kind in (coldchain.KIND, fleet.KIND, inventory.KIND, suppliers.KIND):
        matches = [f.key for f in FAMILIES if re.search(f.kind_regex, kind)]
        assert len(matches) == 1, f"{kind} matches {matches}"
    assert not any(re.search(f.kind_regex, "something_new") for f in FAMILIES)
    assert OTHER.kind_regex == ""


def test_policies_route_only_to_contact_points_that_exist_and_split_by_severity_and_team():
    names = {cp["name"] for cp in load("contact-points.yaml")["contactPoints"]}
    tree = load("policies.yaml")["policies"][0]
    assert receivers_in(tree) <= names
    matchers = {tuple(m) for r in tree["routes"] for m in r["object_matchers"]}
    assert ("severity", "=", "critical") in matchers
    assert {("team", "=", t) for t in ("cold-chain", "fleet", "inventory")} <= matchers
    assert tree == {"orgId": 1, **policy_tree()}


def test_contact_points_use_the_message_template_and_every_template_is_defined():
    defined = set(re.findall(r'define "([\w.]+)"', load("templates.yaml")["templates"][0]["template"]))
    used = set()
    for cp in load("contact-points.yaml")["contactPoints"]:
        for r in cp["receivers"]:
            used |= set(re.findall(r'template "([\w.]+)"', str(r["settings"])))
    assert used and used <= defined
    text = load("templates.yaml")["templates"][0]["template"]
    assert ".Annotations.recommended_action" in text and ".DashboardURL" in text


def test_every_dollar_in_provisioning_is_an_escape_or_a_known_env_reference():
    allowed = set(CONTACT_ENV) | settings_env_names(Settings)
    for path in (ALERTING.parent).rglob("*.yaml"):
        text = path.read_text()
        refs = set(ENV_REF.findall(text))
        assert refs <= allowed, f"{path.name} reads unknown variables {refs - allowed}"
        stray = re.sub(r"\$\$|\$\{\w+\}", "", text)
        assert "$" not in stray, f"{path.name}: a bare $ would be expanded by Grafana: {stray[stray.index('$') - 40:][:80]!r}"


def test_phone_channels_are_all_there():
    types = {i.type for group in CONTACT_POINTS.values() for i in group}
    assert {"webhook", "pushover", "telegram", "pagerduty"} <= types
    critical = {i.type for i in CONTACT_POINTS["opswatch-critical"]}
    assert critical == {"webhook", "pushover", "telegram", "pagerduty"}


def test_push_fills_secrets_from_the_environment_and_skips_unset_optional_channels():
    env = {"ONCALL_NTFY_URL": "https://ntfy.example/acme", "ONCALL_PAGERDUTY_ROUTING_KEY": "pd-key"}
    resolved = resolve_contacts(env)
    by_uid = {i["uid"]: i for i in resolved.integrations}
    assert by_uid["opswatch-critical-pagerduty"]["settings"]["integrationKey"] == "pd-key"
    assert by_uid["opswatch-fleet-ntfy"]["settings"]["url"].startswith("https://ntfy.example/acme-fleet?")
    assert "opswatch-critical-pushover" in resolved.skipped
    assert resolved.skipped["opswatch-critical-telegram"] == ["ONCALL_TELEGRAM_BOT_TOKEN", "ONCALL_TELEGRAM_CHAT_ID"]
    assert not any("${" in str(i) for i in resolved.integrations)


def test_push_refuses_without_the_required_phone_channel():
    with pytest.raises(MissingSecret, match="ONCALL_NTFY_URL"):
        resolve_contacts({})


def test_committed_provisioning_files_match_the_code(tmp_path):
    from streams.dashboards import write_all

    committed_root = ALERTING.parents[1]
    for path in write_all(tmp_path):
        rel = path.relative_to(tmp_path)
        assert (committed_root / rel).read_text() == path.read_text(), (
            f"deploy/grafana/{rel} is stale: run python -m streams.dashboards")
