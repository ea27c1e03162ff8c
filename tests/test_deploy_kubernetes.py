"""`flowimg deploy --kubernetes`: the whole Job and CronJob texts, valid against the Kubernetes schemas."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import kubernetes_validate
import pytest
import yaml

from flowimg.backend import open_backend
from flowimg.backend.base import FlowVersion
from flowimg.deploy.cron import NotCron
from flowimg.deploy.kubernetes import JobOptions, render_job, render_manifest
from flowimg.schedules import IntervalSchedule, Schedule, clocks
from flowimg.storage import Docker, Local

from cli_helpers import one_line_error

DIGEST = "sha256:" + "cd" * 32
K8S_VERSION = "1.33"
BERLIN = ZoneInfo("Europe/Berlin")

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


CRON_GOLDEN = """\
apiVersion: batch/v1
kind: CronJob
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
    flowimg.io/schedule: 0 9 * * 1-5
spec:
  schedule: 0 9 * * 1-5
  timeZone: Europe/Berlin
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 300
  successfulJobsHistoryLimit: 3
  failedJobsHistoryLimit: 3
  jobTemplate:
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
            - '{"schedule": {"adjustments": [], "clocks": [{"cron": "0 9 * * MON-FRI", "day_or": true, "end_date": null, "labels": null, "parameter_defaults": {"x": 3}, "start_date": {"dt": "2026-01-05T00:00:00+01:00", "tz": "Europe/Berlin"}, "type": "CronClock"}], "filters": [], "format": 1, "not_filters": [], "or_filters": [], "type": "Schedule"}, "tasks": ["a"]}'
            - --params-json
            - '{"x": 3}'
            - --register-hint
            - flowimg register -p flows/seed.py --project demo
          serviceAccountName: runner
"""
NOW = datetime(2026, 11, 27, tzinfo=timezone.utc)


def _scheduled(schedule) -> FlowVersion:
    return replace(VERSION, structure={"tasks": ["a"], "schedule": schedule.to_dict()})


def test_cronjob_is_exactly_the_golden_text_and_valid():
    """The clock's parameter defaults become the runs' parameters, as a Prefect 1 clock's do."""
    schedule = Schedule(clocks=[clocks.CronClock("0 9 * * MON-FRI", start_date=datetime(2026, 1, 5, tzinfo=BERLIN),
                                                 parameter_defaults={"x": 3})])
    text = render_manifest(_scheduled(schedule), f"localhost:5000/seed@{DIGEST}", [], "0.1.0",
                           JobOptions("flows", "runner"), now=NOW)
    assert text == CRON_GOLDEN
    _validate(text)


def test_a_misspelled_cronjob_field_is_caught_by_the_schema():
    broken = yaml.safe_load(CRON_GOLDEN)
    broken["spec"]["timezone"] = broken["spec"].pop("timeZone")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_plain_job_wins_over_the_schedule_when_asked():
    schedule = IntervalSchedule(interval=timedelta(seconds=30))
    text = render_manifest(_scheduled(schedule), "seed:1", [], "0.1.0", plain_job=True, now=NOW)
    assert yaml.safe_load(text)["kind"] == "Job"
    _validate(text)
    with pytest.raises(NotCron):
        render_manifest(_scheduled(schedule), "seed:1", [], "0.1.0", now=NOW)


def test_cronjob_names_leave_room_for_the_job_suffix():
    long = replace(VERSION, name="x" * 80, structure={"schedule": IntervalSchedule(interval=timedelta(hours=1)).to_dict()})
    cronjob = yaml.safe_load(render_manifest(long, "seed:1", [], "0.1.0", now=NOW))
    assert len(cronjob["metadata"]["name"]) == 52
    _validate(yaml.safe_dump(cronjob))


def _register_scheduled(schedule) -> None:
    structure = {"tasks": []}
    if schedule is not None:
        structure["schedule"] = schedule.to_dict()
    with open_backend() as db:
        db.register("demo", "example", structure=structure, structure_hash="h",
                    storage=Docker(registry_url="localhost:5000", image_name="seed", image_digest=DIGEST).to_dict(),
                    labels=[], parameters={}, metadata_hash="m")


def test_cli_writes_a_valid_cronjob_for_a_scheduled_flow(cli):
    _register_scheduled(IntervalSchedule(interval=timedelta(hours=6), start_date=datetime(2025, 1, 1, 2, 30, tzinfo=BERLIN)))
    text = cli("deploy", "example", "--project", "demo", "--kubernetes").stdout
    _validate(text)
    cronjob = yaml.safe_load(text)
    assert cronjob["kind"] == "CronJob"
    assert (cronjob["spec"]["schedule"], cronjob["spec"]["timeZone"]) == ("30 1-23/6 * * *", "Etc/UTC")


def test_cli_refuses_a_schedule_cron_cannot_express_in_one_line(cli, tmp_path):
    _register_scheduled(IntervalSchedule(interval=timedelta(minutes=90)))
    out = tmp_path / "job.yaml"
    error = one_line_error(cli("deploy", "example", "--project", "demo", "--kubernetes", "-o", str(out), ok=False))
    assert "clock 1 (IntervalClock) fires every 90 min" in error
    assert "flowimg agent" in error and "--job" in error
    assert not out.exists()
    job = yaml.safe_load(cli("deploy", "example", "--project", "demo", "--kubernetes", "--job").stdout)
    assert job["kind"] == "Job"


def test_cli_target_combinations_are_one_line(cli):
    _register_scheduled(None)
    both = one_line_error(cli("deploy", "example", "--project", "demo", "--compose", "--kubernetes", ok=False))
    assert "--compose or --kubernetes" in both
    for flag in ("--job", "--apply"):
        error = one_line_error(cli("deploy", "example", "--project", "demo", "--compose", flag, ok=False))
        assert "go with --kubernetes" in error


def test_cli_flow_without_an_image_and_unwritable_output_are_one_line(cli, tmp_path):
    with open_backend() as db:
        db.register("demo", "local", structure={"tasks": []}, structure_hash="h",
                    storage=Local(path=str(tmp_path / "flow.py"), stored_as_script=True).to_dict(),
                    labels=[], parameters={}, metadata_hash="m")
    no_image = one_line_error(cli("deploy", "local", "--project", "demo", "--kubernetes", ok=False))
    assert "has no image" in no_image and "Docker" in no_image
    _register_scheduled(IntervalSchedule(interval=timedelta(days=1)))
    missing = tmp_path / "no-such-dir" / "cronjob.yaml"
    error = one_line_error(cli("deploy", "example", "--project", "demo", "--kubernetes", "-o", str(missing), ok=False))
    assert "cannot write" in error and "--output" in error
