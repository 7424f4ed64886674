"""deploy/: compose and Kubernetes files parse, set only settings the code reads, commit no secret.

Docker and a cluster are not available to the tests, so these check the files' structure: the
services and their wiring, the worker scaling rule (replicas <= partitions) and the variables.
"""

from __future__ import annotations

import inspect
import json
import re
import typing
from pathlib import Path

import yaml
from pydantic import BaseModel

import streams.settings
from streams.dashboards.alerting import CONTACT_ENV
from streams.settings import ENV_PREFIX, Settings, load_settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"


def settings_env_names(model: type[BaseModel], prefix: str = ENV_PREFIX) -> set[str]:
    """Every environment variable the settings model reads, nested with ``__``."""
    names: set[str] = set()
    for name, info in model.model_fields.items():
        var = prefix + name.upper()
        inner = [a for a in (info.annotation, *typing.get_args(info.annotation))
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        if inner:
            names |= settings_env_names(inner[0], var + "__")
        else:
            names.add(var)
    if model is Settings and "OPSWATCH_SECRETS_DIR" in inspect.getsource(streams.settings):
        names.add("OPSWATCH_SECRETS_DIR")  # read by the module itself to find the secrets directory
    return names


VALID = settings_env_names(Settings)


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def k8s_docs() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        docs += [d for d in yaml.safe_load_all(path.read_text()) if d and "metadata" in d]
    return docs


def one(kind: str, name: str | None = None) -> dict:
    found = [d for d in k8s_docs() if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}; got {len(found)}"
    return found[0]


def env_of(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return {k: str(v) for k, v in env.items()}


def test_settings_names_are_derived_from_the_model():
    assert {"OPSWATCH_KAFKA__BOOTSTRAP_SERVERS", "OPSWATCH_KAFKA__SASL_PASSWORD",
            "OPSWATCH_INFLUX__TOKEN", "OPSWATCH_GRAFANA__DATASOURCE_UID",
            "OPSWATCH_WORKER__NAME"} <= VALID
    assert "OPSWATCH_KAFKA" not in VALID


# -- docker compose -------------------------------------------------------------------------

def test_compose_has_kraft_kafka_influxdb2_grafana_workers_and_a_simulator_profile():
    services = compose()["services"]
    kafka = env_of(services["kafka"])
    assert "broker" in kafka["KAFKA_PROCESS_ROLES"] and "controller" in kafka["KAFKA_PROCESS_ROLES"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert not any("zookeeper" in s for s in services)
    assert services["influxdb"]["image"].startswith("influxdb:2")
    assert any("init-dbrp.sh" in v for v in services["influxdb"]["volumes"])
    grafana = services["grafana"]
    assert "./grafana/provisioning:/etc/grafana/provisioning:ro" in grafana["volumes"]
    assert any(v.startswith("./grafana/dashboards:") for v in grafana["volumes"])
    workers = [s for s in services.values() if s.get("command") == ["opswatch", "worker"]]
    assert len(workers) >= 2
    assert len({env_of(w)["OPSWATCH_WORKER__NAME"] for w in workers}) == len(workers)
    sim = services["simulator"]
    assert sim["profiles"] == ["simulator"] and sim["command"][:2] == ["opswatch", "simulate"]


def test_compose_mounts_exist_and_the_provider_path_matches_the_mount():
    services = compose()["services"]
    for service in services.values():
        for vol in service.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("./"):
                assert (DEPLOY / src).exists(), f"compose mounts missing {src}"
    provider = yaml.safe_load((DEPLOY / "grafana/provisioning/dashboards/opswatch.yaml").read_text())
    mount = next(v for v in services["grafana"]["volumes"] if v.startswith("./grafana/dashboards:"))
    assert mount.split(":")[1] == provider["providers"][0]["options"]["path"]


def test_compose_sets_only_opswatch_variables_that_settings_read():
    for name, service in compose()["services"].items():
        bad = {k for k in env_of(service) if k.startswith(ENV_PREFIX)} - VALID
        assert not bad, f"compose service {name} sets {sorted(bad)}, which streams.settings.Settings does not read"


def test_compose_worker_environment_is_valid_settings(monkeypatch):
    env = env_of(compose()["services"]["worker-1"])
    for k, v in env.items():
        monkeypatch.setenv(k, re.sub(r"\$\{[^}]+\}", "token-from-env", v))
    s = load_settings()
    assert s.kafka.servers() == ["kafka:9092"] and s.influx.url == "http://influxdb:8086"
    assert s.worker.name == "worker-1"


def test_grafana_container_has_every_variable_its_provisioning_files_read():
    grafana = env_of(compose()["services"]["grafana"])
    refs = set()
    for path in (DEPLOY / "grafana" / "provisioning").rglob("*.yaml"):
        refs |= set(re.findall(r"\$\{(\w+)\}", path.read_text()))
    assert refs <= set(grafana), f"grafana service lacks {refs - set(grafana)}"


# -- kubernetes -----------------------------------------------------------------------------

def config() -> dict[str, str]:
    return one("ConfigMap", "opswatch-config")["data"]


def test_k8s_files_parse_and_kustomization_lists_real_files():
    assert k8s_docs()
    kust = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for res in kust["resources"]:
        assert (K8S / res).is_file()
    assert "secrets.example.yaml" not in kust["resources"]


def test_workers_scale_out_by_partitions():
    partitions = int(config()["OPSWATCH_KAFKA__PARTITIONS"])
    worker = one("StatefulSet", "opswatch-worker")
    assert 1 <= worker["spec"]["replicas"] <= partitions
    hpa = one("HorizontalPodAutoscaler", "opswatch-worker")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "opswatch-worker"
    assert hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= partitions
    container = worker["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["opswatch", "worker"]
    name_env = next(e for e in container["env"] if e["name"] == "OPSWATCH_WORKER__NAME")
    assert name_env["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def all_env_names() -> set[str]:
    names = set(config())
    for doc in k8s_docs():
        if doc["kind"] == "Secret":
            names |= set(doc.get("stringData", {})) | set(doc.get("data", {}))
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []):
            names |= {e["name"] for e in c.get("env", [])}
    return {n for n in names if n.isupper()}


def test_k8s_sets_only_opswatch_variables_that_settings_read():
    names = all_env_names()
    bad = {n for n in names if n.startswith(ENV_PREFIX)} - VALID
    assert not bad, f"k8s sets {sorted(bad)}, which streams.settings.Settings does not read"
    others = {n for n in names if not n.startswith(ENV_PREFIX)}
    assert others <= set(CONTACT_ENV), f"unexpected variables {others - set(CONTACT_ENV)}"


def test_k8s_configmap_is_valid_settings(monkeypatch):
    for k, v in config().items():
        monkeypatch.setenv(k, v)
    s = load_settings()
    assert s.kafka.security_protocol in ("SASL_SSL", "SSL")
    assert s.kafka.sasl_mechanism and s.kafka.sasl_username


def test_kafka_tls_and_sasl_secrets_come_from_secrets_and_the_ca_is_mounted():
    cfg = config()
    for secret in ("OPSWATCH_KAFKA__SASL_PASSWORD", "OPSWATCH_INFLUX__TOKEN", "OPSWATCH_GRAFANA__TOKEN"):
        assert secret not in cfg, f"{secret} belongs in a Secret, not the ConfigMap"
    secrets = {d["metadata"]["name"]: d for d in k8s_docs() if d["kind"] == "Secret"}
    worker = one("StatefulSet", "opswatch-worker")["spec"]["template"]["spec"]
    container = worker["containers"][0]
    for e in container["env"]:
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["key"] in secrets[ref["name"]]["stringData"]
    assert any(e["name"] == "OPSWATCH_KAFKA__SASL_PASSWORD" for e in container["env"])
    ca_dir = str(Path(cfg["OPSWATCH_KAFKA__SSL_CAFILE"]).parent)
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == ca_dir)
    volume = next(v for v in worker["volumes"] if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] in secrets
    assert Path(cfg["OPSWATCH_KAFKA__SSL_CAFILE"]).name in secrets[volume["secret"]["secretName"]]["stringData"]


def test_every_configmap_and_secret_a_pod_references_is_defined():
    names = {(d["kind"], d["metadata"]["name"]) for d in k8s_docs()}
    for doc in k8s_docs():
        spec = doc.get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []):
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    assert ("ConfigMap", src["configMapRef"]["name"]) in names
                if "secretRef" in src:
                    assert ("Secret", src["secretRef"]["name"]) in names


# -- secrets --------------------------------------------------------------------------------

SECRET_KEY = re.compile(r"(?i)(token|password|passwd|secret|api[_-]?key|routing[_-]?key|user[_-]?key|"
                        r"bottoken|integrationkey|credentials|httpheadervalue)")
#: Keys that name a secret rather than hold one (Kubernetes references).
REFERENCE_KEYS = {"secretName", "secretKeyRef", "secretRef", "name", "key"}
ENV_VALUE = re.compile(r"^(Token |Bearer )?(\$\{[^}]+\}|\$__env\{[^}]+\}|\$\([A-Z0-9_]+\))$")
TOKEN_SHAPES = re.compile(r"(glsa_[A-Za-z0-9_]{20,}|xox[abp]-[A-Za-z0-9-]{10,}|\b[0-9]{8,10}:[A-Za-z0-9_-]{35}\b"
                          r"|-----BEGIN [A-Z ]*PRIVATE KEY-----|\b[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/=]))")


def walk(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from walk(v, f"{path}[{i}]")
    else:
        yield path, value


def literal_secrets(doc) -> list[str]:
    """Paths whose key says secret and whose value is a literal instead of an env reference."""
    leaks = []
    for where, value in walk(doc):
        key = re.sub(r"\[\d+\]$", "", where.rsplit(".", 1)[-1])
        if key in REFERENCE_KEYS or not SECRET_KEY.search(key):
            continue
        if isinstance(value, str) and value and not ENV_VALUE.match(value):
            leaks.append(where)
    return leaks


def structured_files():
    for path in sorted(DEPLOY.rglob("*")):
        if path.suffix in (".yaml", ".yml"):
            for doc in yaml.safe_load_all(path.read_text()):
                yield path, doc
        elif path.suffix == ".json":
            yield path, json.loads(path.read_text())


def test_no_secret_value_is_committed_under_deploy():
    for path, doc in structured_files():
        leaks = literal_secrets(doc)
        assert not leaks, f"{path.relative_to(DEPLOY)} holds literal secrets at {leaks}"
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            text = path.read_text()
            hit = TOKEN_SHAPES.search(text)
            assert not hit, f"{path.relative_to(DEPLOY)} contains something shaped like a token: {hit.group(0)[:8]}..."
            for line in text.splitlines():
                m = re.match(r"^\s*([A-Z_]*(TOKEN|PASSWORD|KEY)[A-Z_]*)=(.+)$", line)
                assert not m, f"{path.name}: {m.group(1)} has a value; secrets go in the environment"


def test_the_secret_scan_catches_literal_tokens():
    doc = {"secureJsonData": {"httpHeaderValue1": "Token s3cr3t"},
           "settings": {"bottoken": "123:abc", "chatid": "42", "url": "${ONCALL_NTFY_URL}"},
           "volumes": [{"secret": {"secretName": "opswatch-kafka-ca"}}],
           "env": {"OPSWATCH_INFLUX__TOKEN": "${INFLUXDB_TOKEN:?set it}"}}
    assert literal_secrets(doc) == ["secureJsonData.httpHeaderValue1", "settings.bottoken"]
    assert TOKEN_SHAPES.search("glsa_" + "x" * 32) and not TOKEN_SHAPES.search("opswatch-incident-cold-chain")


def test_every_opswatch_variable_named_anywhere_under_deploy_is_a_setting():
    for path in DEPLOY.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            named = set(re.findall(r"OPSWATCH_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
            assert named <= VALID, f"{path.relative_to(DEPLOY)} names {sorted(named - VALID)}"
