"""`flowimg deploy --kubernetes --apply` through the official Kubernetes client.

There is no cluster here: kube_api_server.FakeApiServer, on 127.0.0.1, stands in for a real API server.
It answers the batch/v1 requests the client sends for these calls (POST/GET/PUT on jobs and cronjobs)
with the same Status objects (401, 403, 404, 409 AlreadyExists/Conflict, 422) kube-apiserver returns.
"""
from __future__ import annotations

from datetime import timedelta

import kubernetes_validate
import pytest
import yaml

from flowimg.backend import open_backend
from flowimg.deploy.apply import apply_manifest, kubeconfig
from flowimg.deploy.kubernetes import render_job
from flowimg.schedules import IntervalSchedule
from flowimg.storage import Docker

from cli_helpers import one_line_error
from kube_api_server import FakeApiServer, serve, write_kubeconfig
from test_deploy_kubernetes import VERSION

DIGEST = "sha256:" + "ef" * 32
TOKEN = "kube-token-5ecret-value"
CRONJOBS = "/apis/batch/v1/namespaces/default/cronjobs"


@pytest.fixture
def api(tmp_path):
    fake = FakeApiServer(token=TOKEN, forbidden_namespaces=("locked",))
    server, url = serve(fake)
    fake.kubeconfig = write_kubeconfig(tmp_path / "kube" / "config", url, TOKEN)  # type: ignore[attr-defined]
    fake.url = url  # type: ignore[attr-defined]
    yield fake
    server.shutdown()
    server.server_close()


def _register(schedule=None) -> None:
    structure = {"tasks": []}
    if schedule is not None:
        structure["schedule"] = schedule.to_dict()
    storage = Docker(registry_url="localhost:5000", image_name="seed", image_digest=DIGEST)
    with open_backend() as db:
        db.register("demo", "example", structure=structure, structure_hash="h", storage=storage.to_dict(),
                    labels=[], parameters={}, metadata_hash="m")


def _deploy(cli, api, *extra, ok=True):
    result = cli("deploy", "example", "--project", "demo", "--kubernetes", "--apply", *extra, ok=ok,
                 env={"KUBECONFIG": str(api.kubeconfig)})
    assert TOKEN not in result.stdout + result.stderr
    return result


def test_a_scheduled_flow_is_created_then_replaced_as_a_cronjob(cli, api):
    _register(IntervalSchedule(interval=timedelta(minutes=10)))
    first = _deploy(cli, api)
    assert f"Created CronJob default/example-v1 on {api.url}" in first.stderr
    stored = api.objects[("default", "cronjobs", "example-v1")]
    assert stored["spec"]["schedule"] == "*/10 * * * *" and stored["spec"]["timeZone"] == "Etc/UTC"
    assert yaml.safe_load(first.stdout)["spec"] == stored["spec"]
    assert stored["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(DIGEST)

    second = _deploy(cli, api)
    assert f"Replaced CronJob default/example-v1 on {api.url}" in second.stderr
    assert [(r.method, r.path) for r in api.requests] == [
        ("POST", CRONJOBS), ("POST", CRONJOBS), ("GET", f"{CRONJOBS}/example-v1"), ("PUT", f"{CRONJOBS}/example-v1")]
    assert {r.authorization for r in api.requests} == {f"Bearer {TOKEN}"}
    assert {r.content_type for r in api.requests if r.body} == {"application/json"}
    replaced = api.objects[("default", "cronjobs", "example-v1")]
    assert replaced["metadata"]["generation"] == 2
    assert replaced["metadata"]["uid"] == stored["metadata"]["uid"]


def test_secrets_reach_the_server_as_secret_references_only(api):
    manifest = render_job(VERSION, f"localhost:5000/seed@{DIGEST}", ["GIT_TOKEN"], "0.1.0")
    line = apply_manifest(manifest, {"KUBECONFIG": str(api.kubeconfig)})
    assert line == f"Created Job default/seed-flow-v2 on {api.url}"
    stored = api.objects[("default", "jobs", "seed-flow-v2")]
    env = stored["spec"]["template"]["spec"]["containers"][0]["env"]
    assert env == [{"name": "GIT_TOKEN", "valueFrom": {"secretKeyRef": {"name": "git-token", "key": "GIT_TOKEN"}}}]
    kubernetes_validate.validate(stored, "1.33", strict=True)


def test_a_job_is_replaced_keeping_its_generated_selector(cli, api):
    _register()
    assert "Created Job default/example-v1" in _deploy(cli, api).stderr
    created = api.objects[("default", "jobs", "example-v1")]
    assert "Replaced Job default/example-v1" in _deploy(cli, api).stderr
    replaced = api.objects[("default", "jobs", "example-v1")]
    assert replaced["spec"]["selector"] == created["spec"]["selector"]
    assert replaced["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    assert replaced["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "flowimg"


def test_a_changed_job_template_is_refused_with_the_way_out(cli, api):
    _register()
    _deploy(cli, api)
    error = one_line_error(_deploy(cli, api, "--cpu", "1", ok=False))
    assert "spec.template: Invalid value" in error and "field is immutable" in error
    assert "kubectl delete job example-v1 -n default" in error
    assert "resources" not in api.objects[("default", "jobs", "example-v1")]["spec"]["template"]["spec"]["containers"][0]


def test_a_wrong_token_is_one_line_and_never_printed(cli, api, tmp_path):
    _register()
    write_kubeconfig(api.kubeconfig, api.url, "stale-token-value")
    error = one_line_error(_deploy(cli, api, ok=False))
    assert "rejected the kubeconfig's credentials (Unauthorized)" in error and "renew" in error
    assert "stale-token-value" not in error
    assert api.requests[0].authorization == "Bearer stale-token-value"
    assert not api.objects


def test_rbac_refusal_is_one_line_naming_the_namespace(cli, api):
    _register()
    error = one_line_error(_deploy(cli, api, "--namespace", "locked", ok=False))
    assert 'cannot create resource "jobs" in API group "batch" in the namespace "locked"' in error
    assert "grant" in error and "--namespace" in error


def test_nothing_is_written_when_the_apply_fails(cli, api, tmp_path):
    _register()
    out = tmp_path / "job.yaml"
    one_line_error(_deploy(cli, api, "--namespace", "locked", "-o", str(out), ok=False))
    assert not out.exists()


def test_no_kubeconfig_is_one_line(cli, tmp_path):
    _register()
    result = cli("deploy", "example", "--project", "demo", "--kubernetes", "--apply", ok=False,
                 env={"KUBECONFIG": "", "HOME": str(tmp_path / "home")})
    error = one_line_error(result)
    assert "no kubeconfig found" in error and "KUBECONFIG" in error
    assert result.stdout == ""


def test_kubeconfig_lookup_follows_kubectl(tmp_path):
    home = tmp_path / "home"
    assert kubeconfig({"HOME": str(home)}) is None
    default = write_kubeconfig(home / ".kube" / "config", "http://127.0.0.1:1", "t")
    assert kubeconfig({"HOME": str(home)}) == str(default)
    listed = f"{tmp_path / 'missing'}:{default}"
    assert kubeconfig({"KUBECONFIG": listed, "HOME": "/nowhere"}) == listed
    assert kubeconfig({"KUBECONFIG": str(tmp_path / "missing"), "HOME": str(home)}) is None


def test_an_unreachable_server_is_one_line(cli, api):
    _register()
    write_kubeconfig(api.kubeconfig, "http://127.0.0.1:9", TOKEN)
    error = one_line_error(_deploy(cli, api, ok=False))
    assert "cannot reach the Kubernetes API server at http://127.0.0.1:9" in error


def test_a_missing_client_is_one_line_naming_the_extra(cli, api, tmp_path):
    """Shadows the installed package with one that fails to import, as an environment without it does."""
    _register()
    shadow = tmp_path / "shadow" / "kubernetes"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError(\"No module named 'kubernetes'\")\n")
    result = cli("deploy", "example", "--project", "demo", "--kubernetes", "--apply", ok=False,
                 env={"KUBECONFIG": str(api.kubeconfig), "PYTHONPATH": str(shadow.parent)})
    assert "pip install 'flowimg[kubernetes]'" in one_line_error(result)
    assert not api.requests
