"""`flowimg deploy --kubernetes`: the whole Job text, valid against the Kubernetes schemas."""
from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from flowimg.backend import open_backend
from flowimg.backend.base import FlowVersion
from flowimg.deploy.kubernetes import JobOptions, render_job
from flowimg.storage import Docker

DIGEST = "sha256:" + "cd" * 32
K8S_VERSION = "1.33"

VERSION = FlowVersion(
    id="f-9", project="demo", name="Seed Flow", version=2, structure={"tasks": ["a"]}, structure_hash="h",
    storage={}, labels=[], parameters={}, metadata_hash="m", registered_at="2026-11-27T00:00:00Z",
    source="flows/seed.py",
)

GOLDEN = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: seed-flow-v2
  namespace: flows
  labels:
    app.kubernetes.io/name: seed-flow
    app.kubernetes.io/managed-by: flowimg
    flowimg.io/version: '2'
  annotations:
    flowimg.io/flow: Seed Flow
    flowimg.io/project: demo
    flowimg.io/flow-id: f-9
    flowimg.io/flowimg-version: 0.1.0
spec:
  backoffLimit: 0
  template:
    metadata:
      labels:
        app.kubernetes.io/name: seed-flow
        app.kubernetes.io/managed-by: flowimg
        flowimg.io/version: '2'
      annotations:
        flowimg.io/flow: Seed Flow
        flowimg.io/project: demo
        flowimg.io/flow-id: f-9
        flowimg.io/flowimg-version: 0.1.0
    spec:
      restartPolicy: Never
      containers:
      - name: flow
        image: localhost:5000/seed@sha256:cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd
        args:
        - Seed Flow
        - --expect-structure-json
        - '{"tasks": ["a"]}'
        - --params-json
        - '{}'
        - --register-hint
        - flowimg register -p flows/seed.py --project demo
        env:
        - name: GIT_TOKEN
          valueFrom:
            secretKeyRef:
              name: git-token
              key: GIT_TOKEN
        resources:
          requests:
            cpu: 500m
            memory: 256Mi
          limits:
            cpu: 500m
            memory: 256Mi
      serviceAccountName: runner
"""


def _validate(text: str) -> None:
    kubernetes_validate.validate(yaml.safe_load(text), K8S_VERSION, strict=True)


def test_job_is_exactly_the_golden_text_and_valid():
    text = render_job(VERSION, f"localhost:5000/seed@{DIGEST}", ["GIT_TOKEN"], "0.1.0",
                      JobOptions("flows", "runner", "500m", "256Mi"))
    assert text == GOLDEN
    _validate(text)


def test_a_broken_manifest_is_caught_by_the_schema():
    broken = yaml.safe_load(GOLDEN)
    broken["spec"]["backoffLimit"] = "none"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_cli_writes_a_valid_minimal_job(cli):
    with open_backend() as db:
        db.register("demo", "example", structure={"tasks": []}, structure_hash="h",
                    storage=Docker(registry_url="localhost:5000", image_name="seed", image_digest=DIGEST).to_dict(),
                    labels=[], parameters={}, metadata_hash="m")
    text = cli("deploy", "example", "--project", "demo", "--kubernetes").stdout
    _validate(text)
    job = yaml.safe_load(text)
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == f"localhost:5000/seed@{DIGEST}"
    assert job["metadata"]["namespace"] == "default"
