"""Hostile input for the HTTP storages: tokens in API URLs, an https -> http redirect on the same
host, servers that trickle or never answer (GitHub, GitLab, Bitbucket, S3, GCS). Real clients
against real misbehaving servers on loopback (tests/hostile_servers.py); no Docker.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from cli_helpers import register_failure, run_bounded, seed_flow
from hostile_servers import DualServer, SilentServer, TrickleServer, headers_of, self_signed_certificate
from flowimg.errors import FlowimgError
from flowimg.storage.github import GitHub

TOKEN = "ghp_hostile0123456789abcdef"

HOSTED = {
    "GitHub": lambda url: {"repo": "org/repo", "path": "flow.py", "base_url": url},
    "GitLab": lambda url: {"repo": "org/repo", "path": "flow.py", "host": url},
    "Bitbucket": lambda url: {"project": "PROJ", "repo": "repo", "path": "flow.py", "host": url},
}
SECRETS = {"GitHub": "GITHUB_ACCESS_TOKEN", "GitLab": "GITLAB_ACCESS_TOKEN", "Bitbucket": "BITBUCKET_ACCESS_TOKEN"}


def flow_file(folder: Path, kind: str, kwargs: dict) -> Path:
    script = folder / "flow.py"
    script.write_text(seed_flow(imports=f"from flowimg.storage import {kind}",
                                storage=f"flow.storage = {kind}(**{kwargs!r})\n"))
    return script


def files_holding(folder: Path, text: str) -> list:
    found = []
    for root, _, names in os.walk(folder):
        for name in names:
            with open(os.path.join(root, name), "rb") as fh:
                if text.encode() in fh.read():
                    found.append(name)
    return found


@pytest.mark.parametrize("kind", sorted(HOSTED))
@pytest.mark.parametrize("userinfo", [f"x-access-token:{TOKEN}@", f"{TOKEN}@", f":{TOKEN}@"])
def test_token_in_the_service_url_is_refused_and_never_shown_or_stored(kind, userinfo, tmp_path, flowimg_home):
    kwargs = HOSTED[kind](f"https://{userinfo}git.example.com")
    result = run_bounded(tmp_path, "register", "-p", str(flow_file(tmp_path, kind, kwargs)), "--project", "P")
    line = register_failure(result)
    assert "must not hold credentials" in line and SECRETS[kind] in line
    assert TOKEN not in result.stdout + result.stderr
    assert files_holding(flowimg_home, TOKEN) == []


@pytest.mark.parametrize("url", ["file:///etc", "ftp://git.example.com", "git.example.com", "https://", "-x"])
def test_service_url_must_be_http(url):
    with pytest.raises(FlowimgError, match="must be an https:// URL"):
        GitHub(repo="org/repo", path="flow.py", base_url=url)


def test_https_to_http_redirect_on_the_same_host_drops_the_token(tmp_path, monkeypatch):
    cert = self_signed_certificate(str(tmp_path))
    monkeypatch.setenv("SSL_CERT_FILE", cert["cert"])
    monkeypatch.setenv("GITHUB_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("FLOWIMG_NETWORK_TIMEOUT", "30")
    with DualServer(cert["cert"], cert["key"]) as server:
        storage = GitHub(repo="org/repo", path="flow.py", base_url=server.url)
        with pytest.raises(FlowimgError, match="not found"):
            storage.pin()
    assert [headers_of(h).get("authorization") for h in server.tls_heads] == [f"token {TOKEN}"]
    assert server.plain_heads and all("authorization" not in headers_of(h) for h in server.plain_heads)


@pytest.mark.parametrize("kind", sorted(HOSTED))
def test_a_trickling_service_ends_at_the_deadline(kind, tmp_path):
    with TrickleServer(interval=0.3) as trickle:
        script = flow_file(tmp_path, kind, HOSTED[kind](trickle.url))
        result = run_bounded(tmp_path, "register", "-p", str(script), "--project", "P",
                             env={"FLOWIMG_NETWORK_TIMEOUT": "2", SECRETS[kind]: TOKEN}, seconds=20)
        assert trickle.heads, "the storage never asked the server"
    line = register_failure(result)
    assert f"127.0.0.1:{trickle.port} did not finish within 2 s" in line and "FLOWIMG_NETWORK_TIMEOUT" in line
    assert TOKEN not in result.stdout + result.stderr


def test_a_silent_s3_endpoint_ends_at_the_deadline(tmp_path, aws_env):
    with SilentServer() as silent:
        kwargs = {"bucket": "flowimg-bucket", "key": "flows/flow.py", "stored_as_script": True,
                  "client_options": {"endpoint_url": silent.url, "region_name": "us-east-1"}}
        script = flow_file(tmp_path, "S3", kwargs)
        result = run_bounded(tmp_path, "register", "-p", str(script), "--project", "P",
                             env={"FLOWIMG_NETWORK_TIMEOUT": "5"}, seconds=30)
        assert silent.connections, "boto3 never connected"
    line = register_failure(result)
    assert f"S3: upload s3://flowimg-bucket/flows/flow.py at {silent.url} did not finish within 5 s" in line
    assert "FLOWIMG_NETWORK_TIMEOUT" in line


def test_a_silent_gcs_endpoint_ends_at_the_deadline(tmp_path, monkeypatch):
    for name in ("GCP_CREDENTIALS", "GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    with SilentServer() as silent:
        kwargs = {"bucket": "flowimg-bucket", "key": "flows/flow.py", "stored_as_script": True}
        script = flow_file(tmp_path, "GCS", kwargs)
        result = run_bounded(tmp_path, "register", "-p", str(script), "--project", "P",
                             env={"FLOWIMG_NETWORK_TIMEOUT": "5", "STORAGE_EMULATOR_HOST": silent.url},
                             seconds=30)
        assert silent.connections, "google-cloud-storage never connected"
    line = register_failure(result)
    assert f"GCS: upload gs://flowimg-bucket/flows/flow.py at {silent.url} did not finish within 5 s" in line
    assert "FLOWIMG_NETWORK_TIMEOUT" in line
