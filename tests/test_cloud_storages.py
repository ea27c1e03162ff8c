"""S3 and GCS storage against real servers on loopback (moto_server, gcp-storage-emulator).

Follows the seed's "Script based cloud storage" snippets at the Python-API level: `register`
below is what `flowimg register -p FILE` does with a storage (add_flow with the script path,
build, to_dict) and `run` is what `flowimg run` does (from_dict, get_flow, Flow.run).
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from cli_helpers import results_by_slug
from cloud_services import REGION, gcs_admin_client, s3_admin_client, unique_bucket
from ports import closed_port
from flowimg.errors import FlowimgError
from flowimg.flow import Flow
from flowimg.loading import load_script
from flowimg.storage import from_dict
from flowimg.storage.gcs import GCS
from flowimg.storage.s3 import S3

FLOW_NAME = "example"


# --- the two clouds behind one test interface ------------------------------------------------

class S3Cloud:
    kind, scheme, secret = "S3", "s3", "AWS_CREDENTIALS"

    def __init__(self, endpoint: str, bucket: str) -> None:
        self.endpoint = endpoint
        self.bucket = bucket
        self.options = {"endpoint_url": endpoint, "region_name": REGION}

    def source(self, storage_args: str) -> str:
        return f"S3(bucket={self.bucket!r}, client_options={self.options!r}, {storage_args})"

    def make(self, **kwargs: Any) -> S3:
        kwargs.setdefault("bucket", self.bucket)
        kwargs.setdefault("client_options", self.options)
        return S3(**kwargs)

    def put(self, key: str, data: bytes) -> None:
        s3_admin_client(self.endpoint).put_object(Bucket=self.bucket, Key=key, Body=data)

    def get(self, key: str) -> bytes:
        return s3_admin_client(self.endpoint).get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def keys(self) -> List[str]:
        listing = s3_admin_client(self.endpoint).list_objects_v2(Bucket=self.bucket)
        return sorted(o["Key"] for o in listing.get("Contents", []))


class GCSCloud:
    kind, scheme, secret = "GCS", "gs", "GCP_CREDENTIALS"

    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    def source(self, storage_args: str) -> str:
        return f"GCS(bucket={self.bucket!r}, {storage_args})"

    def make(self, **kwargs: Any) -> GCS:
        kwargs.setdefault("bucket", self.bucket)
        return GCS(**kwargs)

    def put(self, key: str, data: bytes) -> None:
        gcs_admin_client().bucket(self.bucket).blob(key).upload_from_string(data)

    def get(self, key: str) -> bytes:
        return gcs_admin_client().bucket(self.bucket).blob(key).download_as_bytes()

    def keys(self) -> List[str]:
        return sorted(b.name for b in gcs_admin_client().list_blobs(self.bucket))


@pytest.fixture(params=[pytest.param("s3", marks=pytest.mark.services), pytest.param("gcs", marks=pytest.mark.services)])
def cloud(request):
    if request.param == "s3":
        return S3Cloud(request.getfixturevalue("s3_endpoint"), request.getfixturevalue("s3_bucket"))
    return GCSCloud(request.getfixturevalue("gcs_bucket"))


def write_flow(path: Path, cloud, storage_args: str, data: str = "[1, 2, 3, 4, 5]",
               extra_task: bool = False) -> Path:
    """The seed's example flow, with `flow.storage` set as in its cloud snippets."""
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = "\n" + " " * 12 + "double(data)" if extra_task else ""
    path.write_text(textwrap.dedent(f"""\
        from flowimg import task, Flow
        from flowimg.storage import {cloud.kind}

        @task
        def get_data():
            return {data}

        @task
        def print_data(data):
            print(data)
            return sum(data)

        @task
        def double(data):
            return [2 * x for x in data]

        with Flow({FLOW_NAME!r}) as flow:
            data = get_data()
            print_data(data){extra}

        flow.storage = {cloud.source(storage_args)}
        """))
    return path


def register(script: Optional[Path], flow: Optional[Flow] = None,
             pass_path: bool = True) -> Tuple[Dict[str, Any], str, List[str]]:
    """What `flowimg register -p FILE` does with the flow's storage."""
    if flow is None:
        flow = load_script(str(script))[FLOW_NAME]
    logs: List[str] = []
    flow.storage.add_flow(flow, str(script) if pass_path and script else None)
    flow.storage.build(log=logs.append)
    return flow.storage.to_dict(), flow.structure_hash(), logs


def run(stored: Dict[str, Any]) -> Tuple[Dict[str, Any], str, List[str]]:
    """What `flowimg run` does: rebuild the storage from its dict, fetch, run."""
    logs: List[str] = []
    flow = from_dict(json.loads(json.dumps(stored))).get_flow(FLOW_NAME, log=logs.append)
    return results_by_slug(flow), flow.structure_hash(), logs


# --- script mode ---------------------------------------------------------------------------

def test_key_given_runs_the_object_the_user_uploaded(cloud, tmp_path):
    """Seed snippet 1: the user uploads the script; the storage only points at `key`."""
    key = "flow_path/in_bucket.py"
    local = write_flow(tmp_path / "my_flow.py", cloud, f"stored_as_script=True, key={key!r}")
    in_bucket = write_flow(tmp_path / "bucket_copy.py", cloud, f"stored_as_script=True, key={key!r}",
                           data="[10, 20]")
    cloud.put(key, in_bucket.read_bytes())

    stored, _, build_logs = register(local, pass_path=False)

    assert stored["flows"] == {FLOW_NAME: key}
    assert stored["settings"]["key"] == key
    assert cloud.keys() == [key]                       # nothing was uploaded
    assert cloud.get(key) == in_bucket.read_bytes()     # ...and nothing overwritten
    assert any(f"{cloud.scheme}://{cloud.bucket}/{key}" in line for line in build_logs)
    results, _, logs = run(stored)
    assert results["print_data-1"] == 30               # the bucket's code ran, not the local file
    fetched = [line for line in logs if line.startswith(f"Fetched {cloud.scheme}://{cloud.bucket}/{key} (")]
    assert fetched, logs
    assert ("ETag" in fetched[0]) if cloud.kind == "S3" else ("generation" in fetched[0])


def test_local_script_path_uploads_to_a_stable_generated_key(cloud, tmp_path, monkeypatch):
    """Seed snippet 2: local_script_path and no key -> uploaded to flowimg/<flow>/<file>."""
    monkeypatch.chdir(tmp_path)
    script = write_flow(tmp_path / "my_flow.py", cloud, "stored_as_script=True, local_script_path='my_flow.py'")
    flow = load_script(str(script))[FLOW_NAME]

    stored, _, logs = register(None, flow=flow)         # no -p: local_script_path alone

    assert stored["flows"] == {FLOW_NAME: "flowimg/example/my_flow.py"}
    assert stored["settings"]["key"] is None
    assert cloud.keys() == ["flowimg/example/my_flow.py"]
    assert cloud.get("flowimg/example/my_flow.py") == script.read_bytes()
    assert any("uploaded script" in line for line in logs), logs
    assert run(stored)[0]["print_data-1"] == 15


def test_register_path_uploads_the_script_to_the_given_key(cloud, tmp_path):
    """`register -p FILE` supplies the script when the storage names neither file nor object."""
    script = write_flow(tmp_path / "flows" / "my_flow.py", cloud, "stored_as_script=True, key='team/etl.py'")

    stored, _, _ = register(script)

    assert cloud.keys() == ["team/etl.py"]
    assert cloud.get("team/etl.py") == script.read_bytes()
    assert stored["flows"] == {FLOW_NAME: "team/etl.py"}
    assert run(stored)[0]["print_data-1"] == 15


def test_task_edit_reuploads_to_the_same_key_and_the_next_run_uses_it(cloud, tmp_path):
    script = write_flow(tmp_path / "my_flow.py", cloud, "stored_as_script=True")
    first, first_hash, _ = register(script)
    assert run(first)[0]["print_data-1"] == 15

    write_flow(script, cloud, "stored_as_script=True", data="[100, 200]")   # a task-body edit
    second, second_hash, logs = register(script)

    assert second == first                      # identical storage record: backend reports "skipped"
    assert second_hash == first_hash            # structure unchanged
    assert cloud.keys() == ["flowimg/example/my_flow.py"]
    results, fetched_hash, _ = run(first)       # the run uses what was registered the first time
    assert results["print_data-1"] == 300       # ...and gets the new code
    assert fetched_hash == first_hash


def test_structure_change_changes_the_structure_hash(cloud, tmp_path):
    script = write_flow(tmp_path / "my_flow.py", cloud, "stored_as_script=True")
    first, first_hash, _ = register(script)

    write_flow(script, cloud, "stored_as_script=True", extra_task=True)   # a task added
    register(script)

    _, fetched_hash, _ = run(first)
    assert fetched_hash != first_hash           # what `run` compares to refuse and ask to re-register


def test_stored_as_script_needs_a_key_or_a_local_script(cloud):
    storage = cloud.make(stored_as_script=True)
    with pytest.raises(FlowimgError) as err:
        storage.add_flow(Flow(FLOW_NAME))
    message = str(err.value)
    assert "key" in message and "local_script_path" in message and "-p" in message
    assert "\n" not in message


def test_missing_local_script_path_is_named(cloud, tmp_path):
    missing = tmp_path / "nowhere" / "my_flow.py"
    storage = cloud.make(stored_as_script=True, local_script_path=str(missing))
    with pytest.raises(FlowimgError, match="does not exist") as err:
        storage.add_flow(Flow(FLOW_NAME))
    assert str(missing) in str(err.value)


# --- pickle mode ---------------------------------------------------------------------------

def test_pickle_mode_round_trip_is_content_addressed(cloud, tmp_path):
    script = write_flow(tmp_path / "my_flow.py", cloud, "")
    flow = load_script(str(script))[FLOW_NAME]
    stored, _, logs = register(script, flow=flow)

    key = stored["flows"][FLOW_NAME]
    assert stored["stored_as_script"] is False
    assert key.startswith("flowimg/example/") and key.endswith(".flowpickle")
    data = cloud.get(key)
    assert key == f"flowimg/example/{hashlib.sha256(data).hexdigest()[:20]}.flowpickle"
    assert any("uploaded pickle" in line for line in logs)
    assert run(stored)[0]["print_data-1"] == 15

    again = cloud.make()
    again.add_flow(flow)
    second_logs: List[str] = []
    again.build(log=second_logs.append)
    assert again.to_dict() == stored
    assert any("skipping upload" in line for line in second_logs), second_logs

    write_flow(script, cloud, "", data="[1]")           # a new version gets its own object
    newer, _, _ = register(script)
    assert newer["flows"][FLOW_NAME] != key
    assert run(stored)[0]["print_data-1"] == 15         # the older version keeps running
    assert run(newer)[0]["print_data-1"] == 1


# --- errors --------------------------------------------------------------------------------

def test_missing_bucket_is_named(cloud, tmp_path):
    gone = unique_bucket("flowimg-missing")
    script = write_flow(tmp_path / "my_flow.py", cloud, "stored_as_script=True")
    flow = load_script(str(script))[FLOW_NAME]
    storage = cloud.make(bucket=gone, stored_as_script=True)
    storage.add_flow(flow, str(script))
    with pytest.raises(FlowimgError, match="does not exist") as err:
        storage.build()
    assert f"bucket '{gone}'" in str(err.value)
    with pytest.raises(FlowimgError, match="does not exist") as err:
        storage.get_flow(FLOW_NAME)
    assert f"bucket '{gone}'" in str(err.value)


def test_missing_key_names_bucket_and_key(cloud):
    storage = cloud.make(stored_as_script=True, key="flows/not_uploaded.py")
    storage.add_flow(Flow(FLOW_NAME))
    for action in (storage.build, lambda: storage.get_flow(FLOW_NAME)):
        with pytest.raises(FlowimgError) as err:
            action()
        message = str(err.value)
        assert f"{cloud.scheme}://{cloud.bucket}/flows/not_uploaded.py does not exist" in message
        assert f"bucket '{cloud.bucket}'" in message and "key 'flows/not_uploaded.py'" in message
        assert "\n" not in message


def test_missing_pickle_says_to_reregister(cloud):
    stored = cloud.make().to_dict()
    stored["flows"] = {FLOW_NAME: "flowimg/example/0000.flowpickle"}
    with pytest.raises(FlowimgError, match="re-register"):
        from_dict(stored).get_flow(FLOW_NAME)


def test_unreachable_s3_endpoint(aws_env):
    storage = S3(bucket="flowimg-bucket", stored_as_script=True, key="f.py",
                 client_options={"endpoint_url": f"http://127.0.0.1:{closed_port()}", "region_name": REGION})
    storage.add_flow(Flow(FLOW_NAME))
    with pytest.raises(FlowimgError, match="cannot reach the S3 endpoint") as err:
        storage.get_flow(FLOW_NAME)
    assert "s3://flowimg-bucket/f.py" in str(err.value)


def test_unreachable_gcs_endpoint(monkeypatch):
    monkeypatch.delenv("GCP_CREDENTIALS", raising=False)
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"http://127.0.0.1:{closed_port()}")
    storage = GCS(bucket="flowimg-bucket", stored_as_script=True, key="f.py")
    storage.add_flow(Flow(FLOW_NAME))
    with pytest.raises(FlowimgError, match="cannot reach the GCS endpoint") as err:
        storage.get_flow(FLOW_NAME)
    assert "gs://flowimg-bucket/f.py" in str(err.value)


@pytest.mark.parametrize("kind, module", [("S3", "boto3"), ("GCS", "google.cloud.storage")])
def test_client_extra_not_installed(kind, module, monkeypatch):
    monkeypatch.setitem(sys.modules, module, None)        # `import` of it now raises ImportError
    if kind == "GCS":                                     # ...also `from google.cloud import storage`
        import google.cloud

        monkeypatch.delattr(google.cloud, "storage", raising=False)
    storage = (S3 if kind == "S3" else GCS)(bucket="flowimg-bucket", stored_as_script=True, key="f.py")
    storage.add_flow(Flow(FLOW_NAME))
    assert storage.to_dict()["settings"]["bucket"] == "flowimg-bucket"   # constructing needs no client
    with pytest.raises(FlowimgError) as err:
        storage.get_flow(FLOW_NAME)
    package, extra = ("boto3", "s3") if kind == "S3" else ("google-cloud-storage", "gcs")
    assert str(err.value) == f"{kind} storage needs {package}: pip install 'flowimg[{extra}]'"


def test_client_extra_not_installed_in_a_fresh_interpreter(tmp_path):
    """Same, where boto3 was never imported: the lazy import is the only one."""
    code = textwrap.dedent("""\
        import sys
        sys.modules['boto3'] = None
        from flowimg.errors import FlowimgError
        from flowimg.flow import Flow
        from flowimg.storage import from_dict
        s = from_dict({'kind': 'S3', 'stored_as_script': True,
                       'settings': {'bucket': 'b-1', 'key': 'k.py'}, 'flows': {'example': 'k.py'}})
        try:
            s.get_flow('example')
        except FlowimgError as exc:
            print(exc)
        """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin", "FLOWIMG_HOME": str(tmp_path)})
    assert out.stdout.strip() == "S3 storage needs boto3: pip install 'flowimg[s3]'", out.stderr


# --- credentials and access denied ---------------------------------------------------------

def _iam_bucket_with_flow(s3_iam, tmp_path) -> Tuple[str, Path]:
    bucket = unique_bucket("flowimg-iam")
    writer = s3_admin_client(s3_iam.endpoint, **s3_iam.writer)
    writer.create_bucket(Bucket=bucket)
    cloud = S3Cloud(s3_iam.endpoint, bucket)
    script = write_flow(tmp_path / "my_flow.py", cloud, "stored_as_script=True, key='flows/my_flow.py'")
    writer.put_object(Bucket=bucket, Key="flows/my_flow.py", Body=script.read_bytes())
    return bucket, script


def _secret(keys: Dict[str, str], spelling: str = "prefect") -> str:
    if spelling == "prefect":
        return json.dumps({"ACCESS_KEY": keys["aws_access_key_id"], "SECRET_ACCESS_KEY": keys["aws_secret_access_key"]})
    return json.dumps(keys)


@pytest.mark.parametrize("spelling", ["prefect", "boto"])
def test_default_aws_credentials_secret_is_used(s3_iam, aws_env, tmp_path, monkeypatch, spelling):
    """The server checks signatures: the env's dummy keys would be refused, the secret's work."""
    bucket, _ = _iam_bucket_with_flow(s3_iam, tmp_path)
    monkeypatch.setenv("AWS_CREDENTIALS", _secret(s3_iam.writer, spelling))
    storage = S3(bucket=bucket, stored_as_script=True, key="flows/my_flow.py",
                 client_options={"endpoint_url": s3_iam.endpoint, "region_name": REGION})
    storage.add_flow(Flow(FLOW_NAME))
    logs: List[str] = []
    storage.build(log=logs.append)
    assert results_by_slug(storage.get_flow(FLOW_NAME, log=logs.append))["print_data-1"] == 15
    assert storage.secret_names() == ["AWS_CREDENTIALS"]
    record = json.dumps(storage.to_dict())
    for value in s3_iam.writer.values():
        assert value not in record and value not in " ".join(logs)


def test_s3_access_denied_names_the_object_and_the_secret(s3_iam, aws_env, tmp_path, monkeypatch):
    bucket, script = _iam_bucket_with_flow(s3_iam, tmp_path)
    monkeypatch.setenv("READER_CREDS", _secret(s3_iam.reader))
    storage = S3(bucket=bucket, stored_as_script=True, key="flows/my_flow.py", credentials_secret="READER_CREDS",
                 client_options={"endpoint_url": s3_iam.endpoint, "region_name": REGION})
    assert storage.secret_names() == ["READER_CREDS"]
    storage.add_flow(Flow(FLOW_NAME))
    with pytest.raises(FlowimgError) as err:
        storage.get_flow(FLOW_NAME)
    message = str(err.value)
    assert message.startswith(f"access denied to s3://{bucket}/flows/my_flow.py")
    assert "READER_CREDS" in message and "credentials" in message
    assert "AccessDenied" in message
    uploading = S3(bucket=bucket, stored_as_script=True, key="flows/other.py", credentials_secret="READER_CREDS",
                   client_options={"endpoint_url": s3_iam.endpoint, "region_name": REGION})
    uploading.add_flow(Flow(FLOW_NAME), str(script))
    with pytest.raises(FlowimgError, match="access denied to s3://") as upload_err:
        uploading.build()
    for value in s3_iam.reader.values():
        assert value not in message and value not in str(upload_err.value)
        assert value not in json.dumps(storage.to_dict())


def test_s3_unknown_access_key_is_access_denied(s3_iam, aws_env, tmp_path, monkeypatch):
    bucket, _ = _iam_bucket_with_flow(s3_iam, tmp_path)
    fake = {"aws_access_key_id": "AKIAFLOWIMGNOTAKEY01", "aws_secret_access_key": "not-a-real-secret-value-123"}
    monkeypatch.setenv("AWS_CREDENTIALS", json.dumps(fake))
    storage = S3(bucket=bucket, stored_as_script=True, key="flows/my_flow.py",
                 client_options={"endpoint_url": s3_iam.endpoint, "region_name": REGION})
    storage.add_flow(Flow(FLOW_NAME))
    with pytest.raises(FlowimgError, match="access denied") as err:
        storage.get_flow(FLOW_NAME)
    assert "InvalidAccessKeyId" in str(err.value)
    assert fake["aws_secret_access_key"] not in str(err.value) and fake["aws_access_key_id"] not in str(err.value)


def _service_account(token_uri: str) -> Dict[str, str]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    return {
        "type": "service_account", "project_id": "flowimg-test", "private_key_id": "0123456789abcdef0123",
        "private_key": pem, "client_email": "flowimg-reader@flowimg-test.iam.gserviceaccount.com",
        "client_id": "1234567890", "token_uri": token_uri,
    }


def test_gcs_access_denied_with_the_default_secret(gcs_forbidding_endpoint, monkeypatch):
    """GCP_CREDENTIALS is exchanged for a token (real google-auth JWT flow) and sent; GCS says 403."""
    account = _service_account(gcs_forbidding_endpoint.token_uri)
    monkeypatch.setenv("GCP_CREDENTIALS", json.dumps(account))
    storage = GCS(bucket="flowimg-locked", stored_as_script=True, key="flows/my_flow.py")
    assert storage.secret_names() == ["GCP_CREDENTIALS"]
    storage.add_flow(Flow(FLOW_NAME))
    logs: List[str] = []
    with pytest.raises(FlowimgError) as err:
        storage.get_flow(FLOW_NAME, log=logs.append)
    message = str(err.value)
    assert message.startswith("access denied to gs://flowimg-locked/flows/my_flow.py")
    assert "GCP_CREDENTIALS" in message and "403" in message
    seen = gcs_forbidding_endpoint.seen
    assert any(r["path"].startswith("/token") for r in seen)                      # the secret was used
    assert any(r["authorization"] == f"Bearer {gcs_forbidding_endpoint.access_token}" for r in seen)
    for value in (account["private_key"], account["private_key_id"], gcs_forbidding_endpoint.access_token):
        assert value not in message and value not in " ".join(logs)
        assert value not in json.dumps(storage.to_dict())


def test_gcs_access_denied_anonymous(gcs_forbidding_endpoint):
    storage = GCS(bucket="flowimg-locked", stored_as_script=True, key="flows/my_flow.py")
    storage.add_flow(Flow(FLOW_NAME))
    with pytest.raises(FlowimgError, match=r"^access denied to gs://flowimg-locked/flows/my_flow.py"):
        storage.build()
    assert all(r["authorization"] is None for r in gcs_forbidding_endpoint.seen)   # anonymous on an emulator host


@pytest.mark.parametrize("kind", ["S3", "GCS"])
def test_named_secret_that_is_missing_is_an_error(kind, aws_env, monkeypatch):
    monkeypatch.delenv("TEAM_CLOUD_KEY", raising=False)
    storage = (S3 if kind == "S3" else GCS)(bucket="flowimg-bucket", stored_as_script=True, key="f.py",
                                            credentials_secret="TEAM_CLOUD_KEY")
    storage.add_flow(Flow(FLOW_NAME))
    with pytest.raises(FlowimgError, match="secret 'TEAM_CLOUD_KEY' not found"):
        storage.get_flow(FLOW_NAME)


def test_secret_that_is_not_json_is_an_error_without_its_value(aws_env, monkeypatch):
    monkeypatch.setenv("AWS_CREDENTIALS", "plain-secret-text-xyz")
    storage = S3(bucket="flowimg-bucket", stored_as_script=True, key="f.py")
    storage.add_flow(Flow(FLOW_NAME))
    with pytest.raises(FlowimgError, match="AWS_CREDENTIALS") as err:
        storage.get_flow(FLOW_NAME)
    assert "plain-secret-text-xyz" not in str(err.value)


def test_credentials_in_client_options_are_refused():
    with pytest.raises(FlowimgError, match="must not hold credentials") as err:
        S3(bucket="flowimg-bucket", client_options={"aws_secret_access_key": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(err.value)


# --- endpoints, settings, image ------------------------------------------------------------

def test_s3_endpoint_from_aws_endpoint_url(s3_endpoint, s3_bucket, tmp_path, monkeypatch):
    """boto3 honours the standard AWS_ENDPOINT_URL; nothing endpoint-specific gets stored."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    cloud = S3Cloud(s3_endpoint, s3_bucket)
    script = tmp_path / "my_flow.py"
    write_flow(script, cloud, "stored_as_script=True")
    script.write_text(script.read_text().replace(f"client_options={cloud.options!r}, ", ""))
    stored, _, _ = register(script)
    assert stored["settings"]["client_options"] is None
    assert cloud.keys() == ["flowimg/example/my_flow.py"]
    assert run(stored)[0]["print_data-1"] == 15


def test_settings_are_constructor_kwargs_and_round_trip(aws_env):
    s3 = S3(bucket="flowimg-bucket", key="k.py", stored_as_script=True, credentials_secret="MY_AWS",
            client_options={"endpoint_url": "http://127.0.0.1:9", "region_name": REGION},
            upload_options={"ServerSideEncryption": "AES256"})
    gcs = GCS(bucket="flowimg-bucket", key="k.py", project="p-1", stored_as_script=True, credentials_secret="MY_GCP")
    for storage in (s3, gcs):
        storage.flows = {FLOW_NAME: "k.py"}
        stored = storage.to_dict()
        assert from_dict(json.loads(json.dumps(stored))).to_dict() == stored
    assert s3.settings()["credentials_secret"] == "MY_AWS" and s3.secret_names() == ["MY_AWS"]
    assert gcs.settings()["project"] == "p-1" and gcs.secret_names() == ["MY_GCP"]
    assert s3.image_requirements() == ["boto3"]
    assert gcs.image_requirements() == ["google-cloud-storage"]


def test_upload_options_reach_s3(s3_endpoint, s3_bucket, tmp_path):
    cloud = S3Cloud(s3_endpoint, s3_bucket)
    script = write_flow(tmp_path / "my_flow.py", cloud,
                        "stored_as_script=True, upload_options={'Metadata': {'team': 'data'}}")
    register(script)
    head = s3_admin_client(s3_endpoint).head_object(Bucket=s3_bucket, Key="flowimg/example/my_flow.py")
    assert head["Metadata"] == {"team": "data"}


def test_s3_versioned_bucket_reports_the_version(s3_endpoint, s3_bucket, tmp_path):
    s3_admin_client(s3_endpoint).put_bucket_versioning(
        Bucket=s3_bucket, VersioningConfiguration={"Status": "Enabled"})
    cloud = S3Cloud(s3_endpoint, s3_bucket)
    stored, _, build_logs = register(write_flow(tmp_path / "my_flow.py", cloud, "stored_as_script=True"))
    version = s3_admin_client(s3_endpoint).head_object(Bucket=s3_bucket, Key="flowimg/example/my_flow.py")["VersionId"]
    assert any(f"version {version}" in line for line in build_logs), build_logs
    _, _, run_logs = run(stored)
    assert any(line.startswith("Fetched s3://") and f"version {version}" in line for line in run_logs), run_logs


def test_pickle_mode_with_an_explicit_key_overwrites_it(cloud, tmp_path):
    script = write_flow(tmp_path / "my_flow.py", cloud, "key='pickles/example.flowpickle'")
    stored, _, _ = register(script)
    write_flow(script, cloud, "key='pickles/example.flowpickle'", data="[7]")
    again, _, _ = register(script)
    assert again == stored and stored["flows"] == {FLOW_NAME: "pickles/example.flowpickle"}
    assert run(stored)[0]["print_data-1"] == 7


def test_s3_without_any_credentials(s3_endpoint, aws_env, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    storage = S3(bucket="flowimg-bucket", stored_as_script=True, key="f.py",
                 client_options={"endpoint_url": s3_endpoint, "region_name": REGION})
    storage.add_flow(Flow(FLOW_NAME))
    with pytest.raises(FlowimgError, match="no S3 credentials found .*AWS_CREDENTIALS"):
        storage.get_flow(FLOW_NAME)


def test_gcs_without_any_credentials(tmp_path, monkeypatch):
    for name in ("STORAGE_EMULATOR_HOST", "GCP_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    storage = GCS(bucket="flowimg-bucket", stored_as_script=True, key="f.py")
    storage.add_flow(Flow(FLOW_NAME))
    with pytest.raises(FlowimgError, match="no GCS credentials found .*GCP_CREDENTIALS"):
        storage.get_flow(FLOW_NAME)


def test_build_without_push_uploads_nothing(cloud, tmp_path):
    script = write_flow(tmp_path / "my_flow.py", cloud, "stored_as_script=True")
    flow = load_script(str(script))[FLOW_NAME]
    flow.storage.add_flow(flow, str(script))
    logs: List[str] = []
    flow.storage.build(push=False, log=logs.append)
    assert cloud.keys() == []
    assert any("would upload" in line for line in logs), logs
