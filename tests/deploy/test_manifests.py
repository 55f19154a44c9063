"""The rendered Kubernetes manifests: valid offline, and carrying the operational guarantees of spec §5.5."""

from __future__ import annotations

import copy
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from context_service.config import Settings
from deploy import check

OVERLAYS = [overlay.name for overlay in check.overlays()]
CLIENT_ERRORS = ("INVALID_ARGUMENT", "NOT_FOUND", "ALREADY_EXISTS", "FAILED_PRECONDITION")
Document = dict[str, Any]


@cache
def rendered(overlay: str) -> tuple[Document, ...]:
    """The documents of one overlay, rendered once per test session."""
    return tuple(check.render(check.DEPLOY / "overlays" / overlay))


def only(overlay: str, kind: str) -> Document:
    """A deep copy of the single document of `kind` in an overlay."""
    matches = [doc for doc in rendered(overlay) if doc["kind"] == kind]
    assert len(matches) == 1, f"{overlay}: expected one {kind}, found {len(matches)}"
    document: Document = copy.deepcopy(matches[0])
    return document


def container(overlay: str) -> Document:
    """The service's container in the overlay's Rollout."""
    found: Document = only(overlay, "Rollout")["spec"]["template"]["spec"]["containers"][0]
    return found


def env_names(overlay: str) -> set[str]:
    """Every environment variable the pod sets, directly or through the env ConfigMap."""
    names = {item["name"] for item in container(overlay)["env"]}
    for doc in rendered(overlay):
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"].startswith("context-service-env"):
            names |= set(doc["data"])
    return names


def setting_aliases() -> set[str]:
    """The variable names src/context_service/config.py reads, from the Settings model and its sections."""
    aliases: set[str] = set()
    pending: list[Any] = [Settings]
    while pending:
        for field in pending.pop().model_fields.values():
            if field.alias:
                aliases.add(field.alias)
            elif isinstance(field.annotation, type):
                pending.append(field.annotation)
    return aliases


def test_the_overlays_are_dev_and_prod() -> None:
    # Arrange / Act
    names = OVERLAYS

    # Assert
    assert names == ["dev", "prod"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_rendered_document_of_an_overlay_validates_strictly(overlay: str) -> None:
    # Arrange
    documents = [copy.deepcopy(doc) for doc in rendered(overlay)]

    # Act
    errors = {check.name_of(doc): check.validate(doc) for doc in documents}

    # Assert
    assert {name: found for name, found in errors.items() if found} == {}


@pytest.mark.parametrize("component", [c.name for c in check.components()])
def test_every_component_on_top_of_prod_validates_strictly(component: str) -> None:
    # Arrange
    documents = check.render_with_component(
        check.DEPLOY / "overlays" / "prod", check.DEPLOY / "components" / component
    )

    # Act
    errors = {check.name_of(doc): check.validate(doc) for doc in documents}

    # Assert
    assert {name: found for name, found in errors.items() if found} == {}


def test_a_rollout_with_a_wrongly_typed_field_fails_validation() -> None:
    # Arrange
    rollout = only("prod", "Rollout")
    rollout["spec"]["strategy"]["canary"]["steps"][0] = {"setWeight": "five"}

    # Act
    errors = check.validate(rollout)

    # Assert
    assert errors == ["spec.strategy.canary.steps.0.setWeight: 'five' is not of type 'integer'"]


def test_a_rollout_with_an_unknown_field_fails_validation() -> None:
    # Arrange
    rollout = only("prod", "Rollout")
    rollout["spec"]["strategy"]["canary"]["stepz"] = []

    # Act
    errors = check.validate(rollout)

    # Assert
    assert errors == ["spec.strategy.canary: Additional properties are not allowed ('stepz' was unexpected)"]


def test_a_rollout_pod_template_is_checked_against_the_kubernetes_pod_spec() -> None:
    # Arrange
    rollout = only("prod", "Rollout")
    rollout["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["grpc"]["port"] = "grpc"

    # Act
    errors = check.validate(rollout)

    # Assert
    assert errors == [
        "spec.template.spec.containers.0.readinessProbe.grpc.port: 'grpc' is not of type 'integer'"
    ]


def test_an_analysis_template_without_metrics_fails_validation() -> None:
    # Arrange
    template = only("prod", "AnalysisTemplate")
    del template["spec"]["metrics"]

    # Act
    errors = check.validate(template)

    # Assert
    assert errors == ["spec: 'metrics' is a required property"]


def test_a_deployment_without_containers_fails_validation() -> None:
    # Arrange
    labels = {"app": "x"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {}},
        },
    }

    # Act
    errors = check.validate(deployment)

    # Assert
    assert errors == ["spec.template.spec: 'containers' is a required property"]


def test_a_kind_without_a_schema_fails_instead_of_being_skipped() -> None:
    # Arrange
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "x"}}

    # Act
    errors = check.validate(widget)

    # Assert
    assert len(errors) == 1
    assert errors[0].startswith("no schema to validate against")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_canary_steps_through_5_25_50_and_100_percent_pausing_after_each_partial_weight(
    overlay: str,
) -> None:
    # Arrange
    steps = only(overlay, "Rollout")["spec"]["strategy"]["canary"]["steps"]

    # Act
    shape = [
        ("weight", s["setWeight"]) if "setWeight" in s else ("pause", "duration" in s["pause"]) for s in steps
    ]

    # Assert
    assert shape == [
        ("weight", 5), ("pause", True), ("weight", 25), ("pause", True), ("weight", 50), ("pause", True),
        ("weight", 100),
    ]  # fmt: skip


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_analysis_runs_in_the_background_from_the_first_step_on_the_canary_pods(overlay: str) -> None:
    # Arrange
    analysis = only(overlay, "Rollout")["spec"]["strategy"]["canary"]["analysis"]
    template_name = only(overlay, "AnalysisTemplate")["metadata"]["name"]

    # Act
    args = {arg["name"]: arg for arg in analysis["args"]}

    # Assert
    assert analysis["templates"] == [{"templateName": template_name}]
    assert analysis.get("startingStep", 0) == 0
    assert args["canary-hash"]["valueFrom"] == {"podTemplateHashValue": "Latest"}


def test_the_analysis_fails_the_canary_on_server_errors_above_one_percent() -> None:
    # Arrange
    metrics = {m["name"]: m for m in only("prod", "AnalysisTemplate")["spec"]["metrics"]}

    # Act
    error_rate = metrics["error-rate"]
    query = error_rate["provider"]["prometheus"]["query"]

    # Assert
    assert error_rate["failureCondition"] == "result[0] > 0.01"
    assert error_rate["failureLimit"] >= 0
    assert query.count("context_grpc_requests_total{") == 2
    assert query.count('rollouts_pod_template_hash="{{args.canary-hash}}"') == 2
    assert all(code in query for code in CLIENT_ERRORS)
    assert error_rate["provider"]["prometheus"]["address"] == "{{args.prometheus-address}}"


def test_the_analysis_fails_the_canary_on_a_p99_latency_above_half_a_second() -> None:
    # Arrange
    metrics = {m["name"]: m for m in only("prod", "AnalysisTemplate")["spec"]["metrics"]}

    # Act
    latency = metrics["p99-latency"]
    query = " ".join(latency["provider"]["prometheus"]["query"].split())

    # Assert
    assert latency["failureCondition"] == "result[0] > 0.5"
    assert query.startswith(
        "histogram_quantile(0.99, sum by (le) (rate(context_grpc_request_duration_seconds_bucket{"
    )
    assert 'rollouts_pod_template_hash="{{args.canary-hash}}"' in query
    assert "}[2m])))" in query


def test_the_prometheus_address_is_an_analysis_argument_with_a_default() -> None:
    # Arrange
    args = {arg["name"]: arg for arg in only("prod", "AnalysisTemplate")["spec"]["args"]}

    # Act
    address = args["prometheus-address"].get("value", "")

    # Assert
    assert address.startswith("http://")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_liveness_readiness_and_startup_are_grpc_probes_on_port_50054(overlay: str) -> None:
    # Arrange
    probes = container(overlay)

    # Act
    grpc = {kind: probes[kind].get("grpc") for kind in ("livenessProbe", "readinessProbe", "startupProbe")}

    # Assert
    assert all(probe is not None and probe["port"] == 50054 for probe in grpc.values())
    assert grpc["readinessProbe"].get("service", "") == ""


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_pod_runs_non_root_read_only_without_privileges_or_capabilities(overlay: str) -> None:
    # Arrange
    pod = only(overlay, "Rollout")["spec"]["template"]["spec"]

    # Act
    security = pod["containers"][0]["securityContext"]

    # Assert
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert {"name": "tmp", "mountPath": "/tmp"} in pod["containers"][0]["volumeMounts"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_termination_grace_outlasts_the_shutdown_grace_and_the_pre_stop_pause(overlay: str) -> None:
    # Arrange
    pod = only(overlay, "Rollout")["spec"]["template"]["spec"]
    env = {item["name"]: item.get("value") for item in pod["containers"][0]["env"]}

    # Act
    pre_stop = int(pod["containers"][0]["lifecycle"]["preStop"]["exec"]["command"][-1])
    needed = float(env["SHUTDOWN_GRACE_SECONDS"]) + pre_stop

    # Assert
    assert pod["terminationGracePeriodSeconds"] > needed


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_at_least_two_replicas_run_spread_over_nodes_with_a_disruption_budget(overlay: str) -> None:
    # Arrange
    rollout, hpa, pdb = (
        only(overlay, "Rollout"),
        only(overlay, "HorizontalPodAutoscaler"),
        only(overlay, "PodDisruptionBudget"),
    )

    # Act
    spread_keys = {c["topologyKey"] for c in rollout["spec"]["template"]["spec"]["topologySpreadConstraints"]}

    # Assert
    assert rollout["spec"]["replicas"] >= 2
    assert hpa["spec"]["minReplicas"] >= 2
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "context-service",
    }  # fmt: skip
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "kubernetes.io/hostname" in spread_keys


def test_prod_runs_neo4j_with_more_replicas_than_dev() -> None:
    # Arrange
    hpa = {overlay: only(overlay, "HorizontalPodAutoscaler")["spec"] for overlay in ("dev", "prod")}

    # Act
    backends = {
        overlay: next(
            doc["data"]["GRAPH_BACKEND"]
            for doc in rendered(overlay)
            if doc["kind"] == "ConfigMap" and "GRAPH_BACKEND" in doc.get("data", {})
        )
        for overlay in ("dev", "prod")
    }

    # Assert
    assert backends == {"dev": "falkordb", "prod": "neo4j"}
    assert hpa["prod"]["minReplicas"] > hpa["dev"]["minReplicas"]
    assert hpa["prod"]["maxReplicas"] > hpa["dev"]["maxReplicas"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_resources_have_requests_and_a_memory_limit_below_a_gibibyte(overlay: str) -> None:
    # Arrange
    resources = container(overlay)["resources"]

    # Act
    limit = resources["limits"]["memory"]

    # Assert
    assert set(resources["requests"]) == {"cpu", "memory"}
    assert limit.endswith("Mi")
    assert int(limit.removesuffix("Mi")) < 1024


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_scope_policy_config_map_holds_config_prompt_scopes_yaml_at_the_configured_path(
    overlay: str,
) -> None:
    # Arrange
    source = (check.ROOT / "config" / "prompt_scopes.yaml").read_text()
    policy = next(
        d for d in rendered(overlay) if d["metadata"]["name"].startswith("context-service-scope-policy")
    )
    pod = only(overlay, "Rollout")["spec"]["template"]["spec"]

    # Act
    volume = next(
        v["name"] for v in pod["volumes"] if v.get("configMap", {}).get("name") == policy["metadata"]["name"]
    )
    mount = next(m["mountPath"] for m in pod["containers"][0]["volumeMounts"] if m["name"] == volume)
    path = next(e["value"] for e in pod["containers"][0]["env"] if e["name"] == "PROMPT_SCOPES_PATH")

    # Assert
    assert policy["data"] == {"prompt_scopes.yaml": source}
    assert Path(path) == Path(mount) / "prompt_scopes.yaml"


def test_the_scope_policy_copy_under_deploy_matches_the_source() -> None:
    # Arrange / Act
    drift = check.scope_policy_drift()

    # Assert
    assert drift == []


def test_a_scope_policy_copy_that_differs_from_the_source_is_reported(tmp_path: Path) -> None:
    # Arrange
    source, vendored = tmp_path / "source.yaml", tmp_path / "copy.yaml"
    source.write_text("phases: {}\n")
    vendored.write_text("phases: {BUILD: {}}\n")

    # Act
    drift = check.scope_policy_drift(source, vendored)

    # Assert
    assert drift == [f"{vendored} differs from {source}: copy it again (cp {source} {vendored})"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_value_is_rendered_only_references_to_mounted_secrets(overlay: str) -> None:
    # Arrange
    documents = rendered(overlay)
    pod = only(overlay, "Rollout")["spec"]["template"]["spec"]
    secret_words = {"PASSWORD", "TOKEN", "TOKENS", "SECRET", "CREDS"}

    # Act
    kinds = {doc["kind"] for doc in documents}
    config_keys = {key for doc in documents if doc["kind"] == "ConfigMap" for key in doc["data"]}
    env = {item["name"]: item.get("value", "") for item in pod["containers"][0]["env"]}
    secretish = {name: value for name, value in env.items() if secret_words & set(name.split("_"))}
    secret_mounts = {v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v}

    # Assert
    assert "Secret" not in kinds
    assert not [key for key in config_keys if secret_words & set(key.upper().split("_"))]
    assert secretish
    assert all(value.startswith("/var/run/secrets/context-service/") for value in secretish.values())
    assert secret_mounts >= {"context-service-grpc-auth", "context-service-valkey", "context-service-nats"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_environment_variable_is_one_the_settings_read(overlay: str) -> None:
    # Arrange
    known = setting_aliases()

    # Act
    unknown = env_names(overlay) - known

    # Assert
    assert unknown == set()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_network_policy_admits_grpc_and_metrics_and_allows_dns_and_the_stores(overlay: str) -> None:
    # Arrange
    policy = only(overlay, "NetworkPolicy")["spec"]

    # Act
    ingress = {port["port"] for rule in policy["ingress"] for port in rule["ports"]}
    egress = {port["port"] for rule in policy["egress"] for port in rule["ports"]}

    # Assert
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    assert ingress == {50054, 9090}
    assert egress == {53, 7687, 6379, 4222}


def test_the_dockerfile_passes_hadolint() -> None:
    # Arrange / Act
    findings = check.hadolint()

    # Assert
    assert findings == []
