"""`make deploy-check`: render every overlay and validate each document offline; hadolint the Dockerfile.

Kubernetes kinds are validated by kubernetes-validate against the pinned Kubernetes version in strict mode
(unknown fields rejected). The Argo Rollouts kinds are validated against the CRD schemas vendored under
deploy/schemas/, made strict the same way, with a Rollout's pod template also checked against the
Kubernetes PodTemplateSpec of the pinned version. A document whose kind has no schema is an error, never
skipped. Every component under deploy/components/ is rendered on top of the prod overlay and validated too.

    .venv/bin/python -m deploy.check
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml
from referencing import Registry, Resource

K8S_VERSION = "1.31.0"
ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SCHEMAS = DEPLOY / "schemas"
DEFINITIONS = "https://kubernetes.io/api/_definitions.json"
# The vendored schemas name ObjectMeta by the npm package's own id; resolve it to Kubernetes' definition.
VENDORED_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta#"
CUSTOM_KINDS = {
    ("argoproj.io/v1alpha1", "Rollout"): "rollout-argoproj-v1alpha1.json",
    ("argoproj.io/v1alpha1", "AnalysisTemplate"): "analysistemplate-argoproj-v1alpha1.json",
}
SCOPE_POLICY = (ROOT / "config" / "prompt_scopes.yaml", DEPLOY / "base" / "prompt_scopes.yaml")

Document = dict[str, Any]


def tool(name: str) -> str:
    """A tool installed beside this interpreter (the project's .venv/bin), else from PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} not found beside {sys.executable} or on PATH (run `make setup`)")
    return found


def overlays() -> list[Path]:
    """Every overlay folder (one with a kustomization.yaml) under deploy/overlays/."""
    return sorted(p for p in (DEPLOY / "overlays").iterdir() if (p / "kustomization.yaml").is_file())


def components() -> list[Path]:
    """Every component folder under deploy/components/."""
    folder = DEPLOY / "components"
    return (
        sorted(p for p in folder.iterdir() if (p / "kustomization.yaml").is_file()) if folder.is_dir() else []
    )


def render(kustomization: Path) -> list[Document]:
    """The documents `kubectl kustomize` renders from one kustomization folder."""
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(kustomization)], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"kubectl kustomize {kustomization} failed: {result.stderr.strip()}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def render_with_component(overlay: Path, component: Path) -> list[Document]:
    """An overlay with one component added, rendered through a throw-away kustomization."""
    with tempfile.TemporaryDirectory() as scratch:
        kustomization = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            # kustomize accepts only relative paths to other kustomizations.
            "resources": [os.path.relpath(overlay, scratch)],
            "components": [os.path.relpath(component, scratch)],
        }
        (Path(scratch) / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
        return render(Path(scratch))


def _strict(schema: Any) -> Any:
    """Reject unknown fields wherever the schema lists its fields, as strict server-side validation does."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if strict.get("$ref") == VENDORED_OBJECT_META:
        strict["$ref"] = f"{DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    if strict.get("properties") and "additionalProperties" not in strict:
        strict["additionalProperties"] = False
    return strict


@cache
def _definitions() -> Resource[Any]:
    """The Kubernetes definitions of the pinned version, in kubernetes-validate's strict flavour."""
    folder = resources.files(kubernetes_validate) / "kubernetes-json-schema" / f"v{K8S_VERSION}-local-strict"
    return Resource.from_contents(json.loads((folder / "_definitions.json").read_text()))


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    """A Draft 2020-12 validator that resolves references into the pinned Kubernetes definitions."""
    registry: Registry[Any] = _definitions() @ Registry()
    return jsonschema.Draft202012Validator(schema, registry=registry)


@cache
def _custom_validator(api_version: str, kind: str) -> jsonschema.protocols.Validator:
    """A strict validator for one vendored custom kind."""
    return _validator(_strict(json.loads((SCHEMAS / CUSTOM_KINDS[(api_version, kind)]).read_text())))


@cache
def _pod_template_validator() -> jsonschema.protocols.Validator:
    """Kubernetes' own PodTemplateSpec of the pinned version (strict)."""
    return _validator({"$ref": f"{DEFINITIONS}#/$defs/io.k8s.api.core.v1.PodTemplateSpec"})


def _errors(validator: jsonschema.protocols.Validator, instance: Any, prefix: str = "") -> list[str]:
    """Every violation, as `dotted.path: message`, in document order."""
    found = sorted(validator.iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{prefix}{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in found]


def validate(document: Document) -> list[str]:
    """Every schema violation of one rendered document (empty when it is valid)."""
    key = (document.get("apiVersion", ""), document.get("kind", ""))
    if key in CUSTOM_KINDS:
        errors = _errors(_custom_validator(*key), document)
        template = document.get("spec", {}).get("template")
        if document["kind"] == "Rollout" and isinstance(template, dict):
            # The CRD's copy of the pod template is as old as the vendored release; the pinned Kubernetes
            # version's own PodTemplateSpec checks it too, so neither an old nor a new field slips through.
            errors += _errors(_pod_template_validator(), template, prefix="spec.template.")
        return sorted(set(errors))
    try:
        kubernetes_validate.validate(document, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [f"{'.'.join(map(str, exc.path)) or '<root>'}: {exc.message}"]
    except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
        return [f"no schema to validate against: {exc.message}"]
    return []


def name_of(document: Document) -> str:
    """kind/name of a document, for reports."""
    return f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"


def renderings() -> Iterator[tuple[str, list[Document]]]:
    """(label, documents) for every overlay, then every component on top of prod."""
    for overlay in overlays():
        yield f"overlays/{overlay.name}", render(overlay)
    for component in components():
        yield (
            f"overlays/prod + components/{component.name}",
            render_with_component(DEPLOY / "overlays" / "prod", component),
        )


def scope_policy_drift(source: Path = SCOPE_POLICY[0], vendored: Path = SCOPE_POLICY[1]) -> list[str]:
    """An error when the ConfigMap's copy of the scope policy differs from config/prompt_scopes.yaml."""
    if source.read_bytes() == vendored.read_bytes():
        return []
    return [f"{vendored} differs from {source}: copy it again (cp {source} {vendored})"]


def hadolint() -> list[str]:
    """hadolint's findings on the Dockerfile, one a line."""
    result = subprocess.run(
        [tool("hadolint"), str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    return [] if result.returncode == 0 else (result.stdout + result.stderr).strip().splitlines()


def main() -> int:
    """Run every check, print one line per document and every problem; non-zero exit on any problem."""
    problems = [f"scope policy: {line}" for line in scope_policy_drift()]
    for label, documents in renderings():
        for document in copy.deepcopy(documents):
            errors = validate(document)
            print(f"{'FAIL' if errors else 'ok  '} {label}: {name_of(document)}")
            problems += [f"{label}: {name_of(document)}: {error}" for error in errors]
    findings = hadolint()
    print(f"{'FAIL' if findings else 'ok  '} hadolint Dockerfile")
    problems += [f"hadolint: {line}" for line in findings]
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    print(f"deploy-check: {'FAILED' if problems else 'passed'} (Kubernetes {K8S_VERSION}, strict)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
