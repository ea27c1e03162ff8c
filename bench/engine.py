"""Engine overhead: a 1,000-task flow on the local executor against calling the same functions directly,
and what `import flowimg` costs on top of starting Python.

    python bench/engine.py        (also a section of bench/run.py)
"""
from __future__ import annotations

import io
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TASKS = 1000


def _chain_flow():
    from flowimg import Flow, task

    @task
    def step(x):
        return x + 1

    with Flow("bench-1000") as flow:
        value = step(0)
        for _ in range(TASKS - 1):
            value = step(value)
    return flow, step.run


def _direct(fn) -> float:
    start = time.perf_counter()
    value = 0
    for _ in range(TASKS):
        value = fn(value)
    return time.perf_counter() - start


def _engine(flow) -> float:
    start = time.perf_counter()
    state = flow.run()
    elapsed = time.perf_counter() - start
    assert state.is_successful(), state
    return elapsed


def _import_ms(rounds: int) -> dict:
    """As in an image: the package on PYTHONPATH, no site-packages (so no editable-install finder).
    Best of the rounds: start-up times on a shared machine only ever get slower, never faster."""
    env = {"PYTHONPATH": str(ROOT / "builder")}

    def best(code: str) -> float:
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-S", "-c", code], check=True, env=env)
            times.append(time.perf_counter() - start)
        return min(times)

    base = best("pass")
    bare = best("import flowimg")
    flow_api = best("from flowimg import Flow, task, Parameter")
    return {"import_flowimg_ms": (bare - base) * 1000, "import_flow_api_ms": (flow_api - base) * 1000}


def bench_engine(rounds: int = 5) -> dict:
    from flowimg.utilities.logging import send_logs_to

    send_logs_to(io.StringIO())  # logs are formatted as usual, just not printed
    flow, fn = _chain_flow()
    engine = statistics.median(_engine(flow) for _ in range(rounds))
    direct = statistics.median(_direct(fn) for _ in range(rounds))
    results = {
        "engine_1000_tasks_s": engine,
        "direct_1000_calls_s": direct,
        "engine_overhead_per_task_ms": (engine - direct) / TASKS * 1000,
        "engine_vs_direct_ratio": engine / direct if direct else float("inf"),
    }
    results.update(_import_ms(max(rounds, 9)))
    return results


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "builder"))
    for key, value in bench_engine(3 if "--quick" in sys.argv else 5).items():
        print(f"{key:<30} {value:12.3f}")
