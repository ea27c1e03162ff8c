"""flowimg benchmarks: every figure is a ratio or difference against a baseline measured in the same run.

    python bench/run.py [--quick]

Needs the services of `make services` (engine, registry, base image). Results go to stdout and
bench/results/latest.json. Medians of several rounds; nothing here asserts a time.
"""
from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cli_helpers import FLOWIMG, seed_flow  # noqa: E402
sys.path.insert(0, str(ROOT / "bench"))
from engine import bench_engine  # noqa: E402
from agent import bench_claim, bench_due_to_start  # noqa: E402
from docker_service import BASE_IMAGE, DOCKER, REGISTRY  # noqa: E402
from ports import free_port  # noqa: E402

ROUNDS = 3 if "--quick" in sys.argv else 7
# Prefect 1.4.1's Docker storage, warm rebuild + push after a task edit of the same seed flow, measured
# on this machine with the same engine and registry (issue 10: flowimg's docker builder took 1.23 s
# and was 4.8x faster than it). The README's bench section reports this figure.
PREFECT1_DOCKER_STORAGE_S = 1.23 * 4.8


def sh(*args: str, cwd: Path = None, env: dict = None) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(args)}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def edit(script: Path, storage: str, round_no: int) -> None:
    """A task-body edit: structure unchanged, code changed."""
    script.write_text(seed_flow(printed=f"'round {round_no}', data", imports="from flowimg.storage import Docker",
                                storage=storage))


def rebuild_rounds(work: Path, label: str, storage: str, script: Path, rounds: int) -> tuple:
    """Medians of `flowimg build` after a task edit and of a hand-written FROM + COPY Dockerfile built and
    pushed with the docker CLI, rounds interleaved after one warm-up each; the hand image is removed after."""
    hand = work / f"hand_{label}"
    hand.mkdir()
    (hand / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nCOPY flow.py /opt/flows/flow.py\n")
    hand_ref = f"{REGISTRY}/bench-hand-{label}:latest"

    def ours_round(i: int) -> float:
        edit(script, storage, i)
        return timed(lambda: sh(FLOWIMG, "build", "-p", str(script)))

    def hand_round(i: int) -> float:
        (hand / "flow.py").write_text(seed_flow(printed=f"'round {i}', data"))
        return timed(lambda: (sh(DOCKER, "build", "-q", "--network", "none", "-t", hand_ref, str(hand)),
                              sh(DOCKER, "push", "-q", hand_ref)))

    ours_round(0), hand_round(0)  # warm both caches
    ours, theirs = [], []
    for i in range(1, rounds + 1):
        ours.append(ours_round(i))
        theirs.append(hand_round(i))
    sh(DOCKER, "image", "rm", "-f", hand_ref)
    return statistics.median(ours), statistics.median(theirs)


def bench_rebuild(work: Path, health_check: bool = True) -> dict:
    """Warm rebuild + push after a task edit: flowimg vs a hand-written FROM + COPY Dockerfile."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    script = work / f"flow_{health_check}.py"
    storage = textwrap.dedent(f"""
        flow.storage = Docker(path="/opt/flows/flow.py", files={{{str(script)!r}: "/opt/flows/flow.py"}},
                              stored_as_script=True, registry_url={REGISTRY!r}, image_name={name!r},
                              base_image={BASE_IMAGE!r}, ignore_healthchecks={not health_check})
    """)
    ours, theirs = rebuild_rounds(work, name, storage, script, ROUNDS)
    ref = f"{REGISTRY}/{name}:latest"
    start = startup_overhead(ref) if health_check else {}
    sh(DOCKER, "image", "rm", "-f", ref)
    suffix = "" if health_check else "_no_healthcheck"
    return {f"flowimg_rebuild_push{suffix}_s": ours, f"hand_rebuild_push{suffix}_s": theirs,
            f"rebuild_ratio{suffix}": ours / theirs, **start}


def bench_registry_builder(work: Path) -> dict:
    """Warm rebuild + push after a task edit: the registry builder vs a hand-written FROM + COPY Dockerfile
    built and pushed with the docker CLI; and the bytes flowimg adds over the base image."""
    from flowimg.image.registry_client import Registry

    base = f"{REGISTRY}/flowimg/python-base:bookworm"
    sh(DOCKER, "tag", BASE_IMAGE, base)
    sh(DOCKER, "push", "-q", base)
    name = f"bench-registry-{uuid.uuid4().hex[:8]}"
    results = {}
    for check in (False, True):
        script = work / f"registry_flow_{check}.py"
        storage = textwrap.dedent(f"""
            flow.storage = Docker(path="/opt/flows/flow.py", files={{{str(script)!r}: "/opt/flows/flow.py"}},
                                  stored_as_script=True, registry_url={REGISTRY!r}, image_name={name + str(check).lower()!r},
                                  base_image={base!r}, builder="registry", ignore_healthchecks={not check})
        """)
        ours, theirs = rebuild_rounds(work, f"{name}-{str(check).lower()}", storage, script, max(ROUNDS, 5))
        suffix = "_with_healthcheck" if check else ""
        results.update({f"registry_rebuild_push{suffix}_s": ours, f"hand_rebuild_push_vs_registry{suffix}_s": theirs,
                        f"registry_builder_ratio{suffix}": ours / theirs})
    for suffix in ("", "_with_healthcheck"):
        results[f"vs_prefect1_reported_factor{suffix}"] = PREFECT1_DOCKER_STORAGE_S / results[f"registry_rebuild_push{suffix}_s"]
    results["prefect1_docker_storage_reported_s"] = PREFECT1_DOCKER_STORAGE_S
    client = Registry(REGISTRY)
    image = json.loads(client.get_manifest(name + "false", "latest")[0])
    config = json.loads(client.get_blob(name + "false", image["config"]["digest"]))
    base_layers = {layer["digest"] for layer in json.loads(client.get_manifest("flowimg/python-base", "bookworm")[0])["layers"]}
    # The layers flowimg adds (runtime, code; a dependencies layer would not count) and the config.
    ours = [(layer, step["created_by"]) for layer, step in zip(image["layers"], [h for h in config["history"] if not h.get("empty_layer")])
            if layer["digest"] not in base_layers and "pip install" not in step["created_by"]]
    results["registry_image_bytes_over_base_and_deps"] = sum(layer["size"] for layer, _ in ours) + image["config"]["size"]
    return results


def bench_startup(work: Path) -> dict:
    """`flowimg --help` and `flowimg plan` (the seed flow, registry builder) against `python -c pass`."""
    script = work / "plan_flow.py"
    storage = textwrap.dedent(f"""
        flow.storage = Docker(path="/opt/flows/flow.py", files={{{str(script)!r}: "/opt/flows/flow.py"}},
                              stored_as_script=True, registry_url={REGISTRY!r}, image_name="bench-plan",
                              base_image="{REGISTRY}/flowimg/python-base:bookworm", builder="registry")
    """)
    edit(script, storage, 0)
    commands = {"python_pass": [sys.executable, "-c", "pass"], "flowimg_help": [FLOWIMG, "--help"],
                "flowimg_plan": [FLOWIMG, "plan", "-p", str(script)]}
    times: dict = {name: [] for name in commands}
    sh(*commands["flowimg_plan"])  # the caches a second plan finds
    for _ in range(max(ROUNDS, 5) * 3):
        for name, command in commands.items():
            times[name].append(timed(lambda: sh(*command)))
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {**{f"{name}_ms": value * 1000 for name, value in medians.items()},
            **{f"{name}_over_python_ms": (medians[name] - medians["python_pass"]) * 1000
               for name in ("flowimg_help", "flowimg_plan")}}


def compile_sources() -> None:
    """Byte-compile the package first, as an installed wheel is: with PYTHONDONTWRITEBYTECODE set,
    an editable checkout would otherwise compile every module it imports on every command."""
    import compileall

    compileall.compile_dir(str(ROOT / "builder" / "flowimg"), quiet=1)


STARTUP_PROBE = """
import subprocess, sys, time
def median(cmd, n=15):
    times = []
    for _ in range(n):
        t = time.perf_counter(); subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        times.append(time.perf_counter() - t)
    times.sort(); return times[len(times) // 2]
base = median([sys.executable, "-c", "pass"])
runtime = median([sys.executable, "-m", "flowimg.runtime", "example"])
print(base, runtime)
"""


def startup_overhead(ref: str) -> dict:
    """Inside one container, so container start-up is not counted: runtime run vs `python3 -c pass`."""
    out = sh(DOCKER, "run", "--rm", "--network", "none", "--entrypoint", "python3", ref, "-c", STARTUP_PROBE)
    base, runtime = map(float, out.split())
    return {"in_image_python_pass_ms": base * 1000, "runtime_run_ms": runtime * 1000,
            "start_overhead_ms": (runtime - base) * 1000}


def bench_register(work: Path, backend_url: str, label: str) -> dict:
    """Register 200 script flows with Local storage in one command."""
    flows = work / f"many-{label}"
    flows.mkdir()
    for i in range(200):
        (flows / f"flow_{i:03d}.py").write_text(seed_flow(name=f"flow-{i:03d}"))
    env = {"FLOWIMG_BACKEND": backend_url}
    seconds = timed(lambda: sh(FLOWIMG, "register", "-p", str(flows), "--project", "Bench", env=env))
    again = timed(lambda: sh(FLOWIMG, "register", "-p", str(flows), "--project", "Bench", env=env))
    return {f"register200_{label}_s": seconds, f"register200_{label}_flows_per_s": 200 / seconds,
            f"reregister200_{label}_unchanged_s": again}


def bench_run_overhead(work: Path, env: dict) -> dict:
    """`flowimg run` of a registered Local flow against `python flow.py` running the same flow."""
    script = work / "direct.py"
    script.write_text(seed_flow() + "\nif __name__ == '__main__':\n    flow.run()\n")
    sh(FLOWIMG, "register", "-p", str(script), "--project", "RunBench", env=env)
    direct = [timed(lambda: sh(sys.executable, str(script))) for _ in range(ROUNDS)]
    ours = [timed(lambda: sh(FLOWIMG, "run", "example", "--project", "RunBench", env=env)) for _ in range(ROUNDS)]
    return {"python_direct_s": statistics.median(direct), "flowimg_run_s": statistics.median(ours),
            "run_overhead_s": statistics.median(ours) - statistics.median(direct)}


def bench_cloud_cycle(work: Path, kind: str, env: dict, bucket: str, docker_cycle: float) -> dict:
    """Edit a script, `register -p` it (upload), run it: the time from edit to the new code running."""
    script = work / f"{kind.lower()}_flow.py"
    storage = f"flow.storage = {kind}(bucket={bucket!r}, stored_as_script=True)\n"
    times = []
    for i in range(ROUNDS + 1):
        script.write_text(seed_flow(printed=f"'round {i}', data", imports=f"from flowimg.storage import {kind}", storage=storage))
        t = timed(lambda: (sh(FLOWIMG, "register", "-p", str(script), "--project", f"{kind}Bench", env=env),
                           sh(FLOWIMG, "run", "example", "--project", f"{kind}Bench", env=env)))
        if i:
            times.append(t)
    cycle = statistics.median(times)
    return {f"{kind.lower()}_edit_to_run_s": cycle, f"{kind.lower()}_vs_docker_ratio": cycle / docker_cycle}


def bench_docker_cycle(work: Path, env: dict) -> float:
    """The same edit-to-run cycle with Docker storage: rebuild + push, then run from the image."""
    name = f"bench-cycle-{uuid.uuid4().hex[:8]}"
    script = work / "docker_cycle.py"
    storage = textwrap.dedent(f"""
        flow.storage = Docker(path="/opt/flows/f.py", files={{{str(script)!r}: "/opt/flows/f.py"}},
                              stored_as_script=True, registry_url={REGISTRY!r}, image_name={name!r},
                              base_image={BASE_IMAGE!r})
    """)
    edit(script, storage, 0)
    sh(FLOWIMG, "register", "-p", str(script), "--project", "DockerBench", env=env)
    times = []
    for i in range(1, ROUNDS + 1):
        edit(script, storage, i)
        times.append(timed(lambda: (sh(FLOWIMG, "build", "-p", str(script), env=env),
                                    sh(FLOWIMG, "run", "example", "--project", "DockerBench", env=env))))
    sh(DOCKER, "image", "rm", "-f", f"{REGISTRY}/{name}:latest")
    return statistics.median(times)


@contextlib.contextmanager
def postgres():
    from postgres_service import running_server

    with running_server() as server:
        yield server.url()


@contextlib.contextmanager
def cloud_servers(work: Path):
    import cloud_services as cs

    moto_port, gcs_port = free_port(), free_port()
    moto = cs.ServerProcess([cs._executable("moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)], moto_port,
                            str(work / "moto.log"), cs._clean_env())
    gcs = cs.ServerProcess([cs._executable("gcp-storage-emulator"), "-d", str(work / "gcs"), "start", "--host",
                            "127.0.0.1", "--port", str(gcs_port), "--in-memory", "--quiet"], gcs_port,
                           str(work / "gcs.log"), cs._clean_env())
    try:
        moto.wait_until_answering("/moto-api/")
        gcs.wait_until_answering("/storage/v1/b")
        yield moto.url, gcs.url
    finally:
        moto.stop()
        gcs.stop()


def bench_agents(work: Path, url: str) -> dict:
    """Claiming 1,000 due runs vs selecting them; an agent's due -> container start vs `docker run`."""
    return {**bench_claim(url, ROUNDS), **bench_due_to_start(work, url, max(ROUNDS, 5), DOCKER, REGISTRY, BASE_IMAGE, FLOWIMG)}


def main() -> None:
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="flowimg-bench-") as tmp:
        work = Path(tmp)
        home = {"FLOWIMG_HOME": str(work / "home")}
        os.environ.update(home)
        compile_sources()
        if "--agent-only" in sys.argv:
            with postgres() as url:
                results.update(bench_agents(work, url))
            return print(json.dumps(results, indent=2))
        results.update(bench_registry_builder(work))
        results.update(bench_startup(work))
        if "--registry-only" in sys.argv:
            return print(json.dumps(results, indent=2))
        results.update(bench_engine(ROUNDS))
        results.update(bench_rebuild(work))
        results.update(bench_rebuild(work, health_check=False))
        results.update(bench_register(work, f"sqlite:///{work / 'bench.db'}", "sqlite"))
        with postgres() as url:
            results.update(bench_register(work, url, "postgresql"))
            results.update(bench_agents(work, url))
        results.update(bench_run_overhead(work, {}))
        docker_cycle = bench_docker_cycle(work, {})
        results["docker_edit_to_run_s"] = docker_cycle
        with cloud_servers(work) as (s3_url, gcs_url):
            import boto3
            from google.auth.credentials import AnonymousCredentials
            from google.cloud import storage as gcs

            s3_env = {"AWS_ENDPOINT_URL": s3_url, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                      "AWS_DEFAULT_REGION": "us-east-1"}
            boto3.client("s3", endpoint_url=s3_url, region_name="us-east-1", aws_access_key_id="bench",
                         aws_secret_access_key="bench").create_bucket(Bucket="bench-s3")
            results.update(bench_cloud_cycle(work, "S3", s3_env, "bench-s3", docker_cycle))
            os.environ["STORAGE_EMULATOR_HOST"] = gcs_url
            gcs.Client(project="bench", credentials=AnonymousCredentials()).create_bucket("bench-gcs")
            results.update(bench_cloud_cycle(work, "GCS", {"STORAGE_EMULATOR_HOST": gcs_url}, "bench-gcs", docker_cycle))
    width = max(map(len, results))
    for key, value in results.items():
        print(f"{key:<{width}}  {value:10.3f}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
