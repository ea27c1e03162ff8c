"""The `flowimg` typer CLI: parses, calls the Python API, prints. `launch.main` runs it; errors are one line, exit 1."""
from __future__ import annotations

import os
from typing import Any, List, Optional

import typer

from .build_commands import warn as _err
from .errors import FlowimgError

# rich_markup_mode=None: plain click-style usage errors ("Usage: ...", "Error: ...") on every typer version.
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Package flows into Docker images and store them as scripts.")
flows_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Registered flows.")
project_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Projects that group registered flows.")
runs_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Flow runs: what ran, when and how it ended.")
schedule_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Turn a flow's schedule off and on.")
app.add_typer(flows_app, name="flows")
app.add_typer(project_app, name="project")
app.add_typer(runs_app, name="runs")
app.add_typer(schedule_app, name="schedule")

_state = {"debug": False}


@app.callback()
def _main(debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors.")) -> None:
    _state["debug"] = debug


PathOpt = typer.Option([], "--path", "-p", help="A flow file, a folder of them, or a glob. Repeatable.")
NameOpt = typer.Option([], "--name", "-n", help="Only these flows. Repeatable.")


BuilderOpt = typer.Option(None, "--builder", help="docker, registry (no daemon) or auto (default: the storage's builder, else auto).")
PlatformOpt = typer.Option(None, "--platform", help="Registry builder: os/arch[,os/arch...]; several give an image index.")


@app.command()
def build(path: List[str] = PathOpt, name: List[str] = NameOpt,
          push: bool = typer.Option(True, "--push/--no-push", help="Push to registry_url after building."),
          tag: Optional[str] = typer.Option(None, "--tag", help="Image tag (default: the storage's, else latest)."),
          registry_username: Optional[str] = typer.Option(None, "--registry-username", help="Log in as this user."),
          password_stdin: bool = typer.Option(False, "--password-stdin", help="Read the registry password from stdin."),
          builder: Optional[str] = BuilderOpt, platform: Optional[str] = PlatformOpt,
          load: bool = typer.Option(False, "--load", help="Registry builder: also load the image into the local engine."),
          output: Optional[str] = typer.Option(None, "--output", help="Registry builder: also write an OCI layout to this folder."),
          ) -> None:
    """Render, build, health-check and push the images of the flows' Docker storage; prints each image."""
    from . import build_commands

    build_commands.build(path, name, push, tag, registry_username, password_stdin, builder, platform, load, output)


@app.command("run-image")
def run_image(reference: str = typer.Argument(..., metavar="REF", help="The image to make, e.g. localhost:5000/flow-runner:1"),
              path: List[str] = PathOpt, name: List[str] = NameOpt,
              base_image: Optional[str] = typer.Option(None, "--base-image", help="Base image with Python 3.8+ (and pip, when there are dependencies)."),
              wheelhouse: Optional[str] = typer.Option(None, "--wheelhouse", help="A folder of wheels to install from, with no network."),
              dependency: List[str] = typer.Option([], "--dependency", help="Another Python distribution to install. Repeatable."),
              push: bool = typer.Option(True, "--push/--no-push", help="Push when the reference names a registry.")) -> None:
    """Build an image that holds no flow, to run these flows in with `flowimg run --image`."""
    from .build_commands import collect_flows
    from .building import run_image_storage, storages_of

    storages = storages_of(collect_flows(path, [], name)) if path else []
    storage = run_image_storage(storages, reference, base_image,
                                os.path.abspath(wheelhouse) if wheelhouse else None, dependency)
    storage.build(push=push, log=_err)
    typer.echo(storage.run_image())


@app.command()
def plan(path: List[str] = PathOpt, name: List[str] = NameOpt,
         tag: Optional[str] = typer.Option(None, "--tag", help="Image tag to plan for."),
         builder: Optional[str] = BuilderOpt, platform: Optional[str] = PlatformOpt) -> None:
    """Print the builder and why, the Dockerfile, the build context's files, and the layers, without building."""
    from . import build_commands

    build_commands.plan(path, name, tag, builder, platform)


@app.command()
def inspect(image: str = typer.Argument(..., metavar="IMAGE", help="Image reference, e.g. localhost:5000/example:latest")) -> None:
    """Print the flowimg manifest of an image, read from its label (no container is run)."""
    import json

    from .image.engine import Engine
    from .manifest import MANIFEST_LABEL, loads

    labels = Engine.shared().labels(image)
    if MANIFEST_LABEL not in labels:
        raise FlowimgError(f"image {image} has no flowimg manifest label; was it built by flowimg build?")
    typer.echo(json.dumps(loads(labels[MANIFEST_LABEL], image), indent=2, sort_keys=True))


BackendOpt = typer.Option(None, "--backend", envvar="FLOWIMG_BACKEND",
                          help="Registry database: a postgresql://USER@HOST/DB URL, password from PGPASSWORD, "
                               "PGPASSFILE or FLOWIMG_BACKEND_PASSWORD_SECRET (default: SQLite under FLOWIMG_HOME).")
ProjectOpt = typer.Option(..., "--project", help="Project the flows belong to.")
FlowArg = typer.Argument(..., metavar="FLOW", help="Name of the registered flow.")


def _warn_password(url: Optional[str]) -> None:
    from .backend import password_warning

    warning = password_warning(url) if url != os.environ.get("FLOWIMG_BACKEND") else None
    if warning:
        _err(warning)


def _backend(url: Optional[str]) -> Any:
    from .backend import open_backend

    _warn_password(url)
    return open_backend(url)


@app.command()
def register(path: List[str] = PathOpt,
             module: List[str] = typer.Option([], "--module", "-m", help="A module holding flows. Repeatable."),
             project: str = ProjectOpt, name: List[str] = NameOpt,
             label: List[str] = typer.Option([], "--label", "-l", help="Label the versions. Repeatable."),
             force: bool = typer.Option(False, "--force", help="Register a new version even if nothing changed."),
             pin: bool = typer.Option(False, "--pin", help="Record the commit a git ref points at; runs fetch exactly it."),
             push: bool = typer.Option(True, "--push/--no-push", help="Push Docker storage images."),
             as_json: bool = typer.Option(False, "--json", help="Print the result as JSON on stdout."),
             watch: bool = typer.Option(False, "--watch", help="Re-register changed files until interrupted."),
             backend: Optional[str] = BackendOpt) -> None:
    """Register flows (files, folders, globs, modules) with a project; unchanged flows are skipped."""
    from .collect import collect
    from .registration import outcomes_json
    from .registration import register as register_flows

    if not path and not module:
        raise FlowimgError("say where the flows are: -p FILE|DIR|GLOB or -m MODULE")
    if not project.strip():
        raise FlowimgError("--project needs a name")
    log = _err if as_json else typer.echo
    with _backend(backend) as db:
        def once() -> bool:
            found, errors = collect(path, module, name)
            outcomes = register_flows(db, project, found, errors, labels=label, force=force, pin=pin,
                                      push=push, log=log)
            if as_json:
                typer.echo(outcomes_json(outcomes))
            return all(o.status != "error" for o in outcomes)

        ok = once()
        if watch:
            from .watching import watch_paths

            watch_paths(path, once, log=log)
    if not ok:
        raise typer.Exit(1)


@app.command()
def run(flow: str = FlowArg, project: str = ProjectOpt,
        version: Optional[int] = typer.Option(None, "--version", help="Run this version (default: the latest)."),
        param: List[str] = typer.Option([], "--param", help="A parameter as name=value (JSON values decoded). Repeatable."),
        image: Optional[str] = typer.Option(None, "--image", help="Run inside this image; the runtime fetches the flow there."),
        network: Optional[str] = typer.Option(None, "--network", help="Container network for image runs: none (default) or host; host only on swarm."),
        on: Optional[str] = typer.Option(None, "--on", help="Where the image runs: docker or swarm (default: docker when the flow has an image, else here)."),
        backend: Optional[str] = BackendOpt) -> None:
    """Run a registered flow from its storage; refuses if its structure changed since registration."""
    from .running import run_registered
    from .runtime import parse_params

    from .signals import Terminated

    parameters = parse_params(param)
    with _backend(backend) as db:
        try:
            code = run_registered(db, project, flow, version=version, parameters=parameters, image=image,
                                  network=network, on=on, log=_err)
        except Terminated as exc:  # exit as the signal's default would (typer maps Ctrl-C to 130 itself)
            raise typer.Exit(exc.exit_code) from None
    if code:
        raise typer.Exit(code)


@app.command()
def deploy(flow: str = FlowArg, project: str = ProjectOpt,
           version: Optional[int] = typer.Option(None, "--version", help="Deploy this version (default: the latest)."),
           compose: bool = typer.Option(False, "--compose", help="Write a docker compose file."),
           kubernetes: bool = typer.Option(False, "--kubernetes", help="Write a Kubernetes CronJob (scheduled flow) or Job."),
           job: bool = typer.Option(False, "--job", help="With --kubernetes: a plain Job even for a scheduled flow."),
           apply: bool = typer.Option(False, "--apply", help="With --kubernetes: apply it to the kubeconfig's cluster."),
           namespace: str = typer.Option("default", "--namespace", help="Kubernetes namespace."),
           service_account: Optional[str] = typer.Option(None, "--service-account", help="Kubernetes service account."),
           cpu: Optional[str] = typer.Option(None, "--cpu", help="CPU request and limit, e.g. 500m."),
           memory: Optional[str] = typer.Option(None, "--memory", help="Memory request and limit, e.g. 256Mi."),
           output: str = typer.Option("-", "--output", "-o", help="File to write, or - for stdout."),
           backend: Optional[str] = BackendOpt) -> None:
    """Describe how to run a registered flow's image elsewhere: a docker compose file or a Kubernetes (Cron)Job."""
    import flowimg

    from .deploy.compose import deploy_image, render_compose
    from .deploy.kubernetes import JobOptions, render_manifest
    from .storage import from_dict

    if compose == kubernetes:
        raise FlowimgError("say which one target to deploy to: --compose or --kubernetes")
    if compose and (job or apply):
        raise FlowimgError("--job and --apply go with --kubernetes; drop them for --compose")
    with _backend(backend) as db:
        registered = db.get(project, flow, version)
    storage = from_dict(registered.storage)
    if compose:
        text = render_compose(registered, deploy_image(storage), storage.secret_names(), flowimg.__version__)
    else:
        text = render_manifest(registered, deploy_image(storage), storage.secret_names(), flowimg.__version__,
                               JobOptions(namespace, service_account, cpu, memory), plain_job=job)
        if apply:
            from .deploy.apply import apply_manifest

            _err(apply_manifest(text))
    if output == "-":
        typer.echo(text, nl=False)
        return
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise FlowimgError(f"cannot write {output}: {exc.strerror}; give --output a writable file or -") from None
    _err(f"Wrote {output}")


@app.command()
def agent(on: str = typer.Option(..., "--on", help="Where runs start: docker or swarm."),
          label: List[str] = typer.Option([], "--label", "-l", help="Run only flows whose labels are all among these. Repeatable."),
          limit: int = typer.Option(10, "--limit", help="Most runs at once."),
          poll: float = typer.Option(5.0, "--poll", help="Seconds between looks for due runs."),
          heartbeat: float = typer.Option(5.0, "--heartbeat", help="Seconds between heartbeats of running runs."),
          lost_after: float = typer.Option(30.0, "--lost-after", help="A run silent this many seconds is Lost."),
          lost_retries: int = typer.Option(1, "--lost-retries", help="Times a Lost run is scheduled again (0: never)."),
          network: Optional[str] = typer.Option(None, "--network", help="Container network for runs: none (default) or host on docker; host on swarm."),
          once: bool = typer.Option(False, "--once", help="Run what is due now, wait for it, exit (0 when all succeed)."),
          backend: Optional[str] = BackendOpt) -> None:
    """Claim due flow runs from the backend and run them; Ctrl-C stops claiming, twice cancels running runs."""
    from .agent import AgentSettings, serve

    settings = AgentSettings(target=on, labels=tuple(label), limit=limit, poll_seconds=poll,
                             heartbeat_seconds=heartbeat, lost_after_seconds=lost_after, lost_retries=lost_retries,
                             network=network)
    _warn_password(backend)
    code = serve(backend, settings, once=once, log=_err)
    if code:
        raise typer.Exit(code)


def _version_row(v: Any) -> str:
    from .storage import from_dict

    storage = from_dict(v.storage)
    return (f"{v.project}/{v.name}  version {v.version}  id {v.id}  {storage.describe()}"
            f"  registered {v.registered_at}")


@flows_app.command("list")
def flows_list(project: Optional[str] = typer.Option(None, "--project", help="Only this project."),
               backend: Optional[str] = BackendOpt) -> None:
    """The latest version of every registered flow."""
    with _backend(backend) as db:
        if project is not None and not db.project_exists(project):
            raise FlowimgError(f"no project '{project}'; known: {', '.join(db.list_projects()) or 'none'}")
        rows = db.list_flows(project)
    if not rows:
        typer.echo("No flows registered.")
    for v in rows:
        typer.echo(_version_row(v))


@flows_app.command("show")
def flows_show(flow: str = FlowArg, project: str = ProjectOpt,
               backend: Optional[str] = BackendOpt) -> None:
    """Every version of one flow, with IDs, storage, labels and parameters."""
    import json

    with _backend(backend) as db:
        db.get(project, flow)
        versions = db.versions(project, flow)
    for v in versions:
        typer.echo(_version_row(v))
        typer.echo(f"  structure {v.structure_hash[:12]}  labels {', '.join(v.labels) or '-'}"
                   f"  parameters {json.dumps(v.parameters, sort_keys=True)}")


@project_app.command("list")
def project_list(backend: Optional[str] = BackendOpt) -> None:
    """All projects."""
    with _backend(backend) as db:
        for name in db.list_projects():
            typer.echo(name)


@project_app.command("create")
def project_create(name: str = typer.Argument(..., metavar="NAME", help="Project name."), backend: Optional[str] = BackendOpt) -> None:
    """Create a project (register creates one on first use too)."""
    with _backend(backend) as db:
        created = db.create_project(name)
    typer.echo(f"Created project '{name}'." if created else f"Project '{name}' already exists.")


RunIdArg = typer.Argument(..., metavar="ID", help="A run id, or its first 8 or more characters.")
JsonOpt = typer.Option(False, "--json", help="Print JSON on stdout.")


@runs_app.command("list")
def runs_list(project: Optional[str] = typer.Option(None, "--project", help="Only this project."),
              flow: Optional[str] = typer.Option(None, "--flow", help="Only this flow."),
              state: Optional[str] = typer.Option(None, "--state", help="Only runs in this state, e.g. Failed."),
              limit: int = typer.Option(50, "--limit", help="At most this many runs, newest first."),
              as_json: bool = JsonOpt, backend: Optional[str] = BackendOpt) -> None:
    """Flow runs, newest first: id, flow, version, state, times, target, exit code."""
    from .runs_view import runs_json, runs_text, state_name

    if limit < 1:
        raise FlowimgError(f"--limit {limit} shows nothing; give a number from 1")
    with _backend(backend) as db:
        runs = db.list_runs(project=project, flow=flow, state=state_name(state) if state else None, limit=limit)
    typer.echo(runs_json(runs) if as_json else runs_text(runs), nl=False)


@runs_app.command("show")
def runs_show(run_id: str = RunIdArg, as_json: bool = JsonOpt, backend: Optional[str] = BackendOpt) -> None:
    """Every field of one run, with the last lines of its log."""
    from .runs_view import run_details, run_json

    with _backend(backend) as db:
        run = db.get_run(run_id)
    typer.echo(run_json(run) if as_json else run_details(run), nl=False)


@runs_app.command("cancel")
def runs_cancel(run_id: str = RunIdArg, backend: Optional[str] = BackendOpt) -> None:
    """Cancel a Scheduled, Submitted or Running run; an agent stops its container."""
    with _backend(backend) as db:
        run = db.cancel_run(run_id)
    typer.echo(f"Cancelled flow run {run.id} ({run.project}/{run.flow} version {run.version})")


@schedule_app.command("pause")
def schedule_pause(flow: str = FlowArg, project: str = ProjectOpt,
                   backend: Optional[str] = BackendOpt) -> None:
    """Stop scheduling the flow; its upcoming scheduled runs are removed."""
    from .scheduling import pause

    with _backend(backend) as db:
        removed = pause(db, project, flow)
    typer.echo(f"Paused the schedule of {project}/{flow}: {removed} scheduled run{'s' if removed != 1 else ''} removed")


@schedule_app.command("resume")
def schedule_resume(flow: str = FlowArg, project: str = ProjectOpt,
                    backend: Optional[str] = BackendOpt) -> None:
    """Schedule the flow again: its next runs are created."""
    from .scheduling import resume

    with _backend(backend) as db:
        created = resume(db, project, flow)
    typer.echo(f"Resumed the schedule of {project}/{flow}: {created} run{'s' if created != 1 else ''} scheduled")
