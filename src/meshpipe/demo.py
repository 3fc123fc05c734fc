"""``meshpipe demo``: the whole loop on the sandbox, run by the emulation of meshStack's Terraform runner.

The runner emulation (:mod:`meshpipe.fakes.runner`) reads the example's published definition
(``examples/<name>/publish/definition.tf``) and runs the example's Trigger Module with real terraform, as meshStack's
runner would: fresh working directory, cleaned environment, inputs in a tfvars file, the pre-run script, state in
meshStack's HTTP backend, and its own source (the runner's UUID) on every run.

1. meshStack previews the block: a ``DETECT`` run plans and uploads the plan; nothing fires.
2. The plan is approved: an ``APPLY`` run replays the saved plan, which dispatches the apply workflow; the workflow
   (the example's ``pipeline.py`` on the fake GitHub) reports its steps and finishes the run.
3. meshStack deletes the block: a ``DESTROY`` run. The definition is async, so the runner first applies with the
   DESTROY run (nothing fires), then destroys, which fires the destroy workflow with the DESTROY run's URL.
4. Each run's timeline is printed, the runner's source and the workflow's source side by side, and checked.
"""

from __future__ import annotations

import contextlib
import importlib.util
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshpipe.errors import MeshpipeError
from meshpipe.sandbox import Sandbox, StopSignal

if TYPE_CHECKING:
    from meshpipe.fakes.meshstack_runs import FakeRun
    from meshpipe.fakes.runner import RunOutcome
    from meshpipe.sandbox_runs import BlockRuns

__all__ = ["DEMO_INPUTS", "Check", "run_demo"]

Echo = Callable[[str], None]

#: What the consuming workspace entered when it ordered the block.
DEMO_INPUTS: dict[str, Any] = {"bucket_name": "alpha-dev-data", "versioning": True, "retention_days": 30}
TERMINAL = {"SUCCEEDED", "FAILED", "ABORTED"}
POLL_SECONDS = 0.2
#: Sandbox wiring besides the fake GitHub's URL and this interpreter: poll the workflow run every second.
DEMO_WIRING: dict[str, Any] = {"poll_interval_seconds": 1}


@dataclass
class Check:
    """One expectation of the demo and whether it held."""

    description: str
    ok: bool
    detail: str = ""


@dataclass
class _Progress:
    """Remembers what was already printed so progress lines show only changes."""

    seen: dict[str, str] = field(default_factory=dict)

    def note(self, key: str, value: str, line: str, echo: Echo) -> None:
        if self.seen.get(key) != value:
            self.seen[key] = value
            echo(line)


def expected_steps(example: Path) -> dict[str, list[str]]:
    """``STEPS`` from the example's ``pipeline.py``: phase -> step ids the workflow registers."""
    spec = importlib.util.spec_from_file_location("_meshpipe_example_pipeline", example / "pipeline.py")
    if spec is None or spec.loader is None:
        raise MeshpipeError(f"cannot load {example / 'pipeline.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {phase: [step_id for step_id, _ in steps] for phase, steps in module.STEPS.items()}


def terraform_lines(output: str) -> list[str]:
    """What the module printed (the dispatcher's lines) and terraform's error block, without the plan noise."""
    lines = []
    for line in output.splitlines():
        if "(local-exec):" in line:
            text = line.split("(local-exec):", 1)[1].strip()
            if not text.startswith("Executing: "):
                lines.append(text)
        elif line.startswith(("│ ", "Error: ")) and line.strip("│ "):
            lines.append(line.strip("│ "))
    return lines


def runner_line(line: str) -> str | None:
    """The runner log lines worth showing live: commands, the module's and the pre-run script's own lines."""
    if line.startswith("$ terraform") or line.startswith("meshpipe:"):
        return line
    if line.startswith(("Uploaded the plan", "Using the provided plan", "No plan artifact", "Error")):
        return line
    shown = terraform_lines(line)
    return shown[0] if shown else None


def _snapshot(box: Sandbox, run: FakeRun) -> tuple[str, list[tuple[str, str, str]], list[tuple[int, str, str]]]:
    """Run status, its steps (source/step, status, user message) and the GitHub runs, read under the fakes' locks."""
    with box.meshstack.lock:
        steps = [
            (f"{_source_name(source_id)}/{step['id']}", str(step.get("status")), str(step.get("userMessage") or ""))
            for source_id, source in run.sources.items()
            for step in source["steps"]
        ]
        status = str(run.status)
    with box.github.lock:
        runs = [
            (r.id, str(r.display_title), f"{r.status}/{r.conclusion}" if r.conclusion else str(r.status))
            for r in box.github.runs
        ]
    return status, steps, runs


def _source_name(source_id: str) -> str:
    return "runner" if source_id not in ("github",) and len(source_id) == 36 else source_id


def _report_changes(box: Sandbox, run: FakeRun, progress: _Progress, echo: Echo) -> None:
    status, steps, runs = _snapshot(box, run)
    for run_id, title, state in runs:
        progress.note(f"gh-{run_id}", state, f"  GitHub    | run {run_id} {title!r}: {state}", echo)
    for key, step_status, message in steps:
        suffix = f" - {message}" if message and step_status in TERMINAL else ""
        progress.note(f"{run.uuid}-{key}", step_status, f"  meshStack | step {key}: {step_status}{suffix}", echo)
    progress.note(f"{run.uuid}-status", status, f"  meshStack | run {run.uuid[:8]}: {status}", echo)


def _execute(runs: BlockRuns, run: FakeRun, echo: Echo, progress: _Progress, settle: float) -> RunOutcome | None:
    """Let the runner execute ``run`` in a thread while printing what changes; then wait for the run to settle."""
    box = runs.box
    outcome: list[RunOutcome | BaseException] = []

    def target() -> None:
        try:
            outcome.append(runs.execute(run))
        except BaseException as exc:  # reported in the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=target, name=f"runner-{run.uuid[:8]}", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(POLL_SECONDS)
        _report_changes(box, run, progress, echo)
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        _report_changes(box, run, progress, echo)
        with box.meshstack.lock:
            if run.status in TERMINAL:
                break
        time.sleep(POLL_SECONDS)
    _report_changes(box, run, progress, echo)
    result = outcome[0] if outcome else None
    if isinstance(result, BaseException):
        echo(f"  runner    | failed: {result}")
        return None
    return result


def timeline(box: Sandbox, run: FakeRun) -> list[str]:
    """A run's timeline: status, and per source (the runner's, the workflow's) each step with messages and outputs."""
    with box.meshstack.lock:
        behavior = run.object["spec"].get("behavior")
        lines = [f"{behavior} run {run.uuid}: {run.status}", f"  {run.url}"]
        for source_id, source in run.sources.items():
            external = source.get("externalRunUrl") or source.get("externalRunId") or ""
            role = "meshStack's Terraform runner" if _source_name(source_id) == "runner" else "the workflow"
            lines.append(f"  source {source_id} ({role}): {source.get('status') or ''} {external}".rstrip())
            for step in source["steps"]:
                lines.append(f"    [{step.get('status')}] {step['id']} - {step.get('displayName')}")
                if step.get("userMessage"):
                    lines.append(f"        user:   {step['userMessage']}")
                system = str(step.get("systemMessage") or "").strip().splitlines()
                if role != "the workflow":
                    system = [line for line in map(runner_line, system) if line]
                if system:
                    lines.append(f"        system: {system[0]}")
                    lines.extend(f"                {line}" for line in system[1:8])
                for name, output in (step.get("outputs") or {}).items():
                    lines.append(f"        output: {name} = {output.get('value')} ({output.get('type')})")
        for name, output in (run.outputs or {}).items():
            value = output.get("value") if isinstance(output, dict) else output
            lines.append(f"  run output {name} = {value}")
    return lines


def check_run(box: Sandbox, run: FakeRun, steps: list[str], label: str) -> list[Check]:
    """The run SUCCEEDED, each expected workflow step SUCCEEDED, and both sources reported on it."""
    with box.meshstack.lock:
        checks = [Check(f"{label} run SUCCEEDED", run.status == "SUCCEEDED", str(run.status))]
        reported = {step["id"]: step.get("status") for source in run.sources.values() for step in source["steps"]}
        names = sorted(_source_name(source_id) for source_id in run.sources)
    for step_id in steps:
        status = reported.get(step_id)
        checks.append(Check(f"{label} step {step_id} SUCCEEDED", status == "SUCCEEDED", str(status)))
    both = Check(f"{label} run has the runner's and the workflow's source", names == ["github", "runner"], str(names))
    checks.append(both)
    return checks


def _run_urls(box: Sandbox, workflow: str) -> list[str | None]:
    path = rf"/actions/workflows/{workflow}/dispatches$"
    return [
        ((request.json() or {}).get("inputs") or {}).get("buildingBlockRunUrl")
        for request in box.github.log("POST", path)
        if request.status < 300
    ]


def _dispatch_checks(box: Sandbox, workflow: str, run: FakeRun, label: str) -> Check:
    urls = _run_urls(box, workflow)
    return Check(f"exactly one {workflow} dispatch, carrying the {label} run's URL", urls == [run.url], str(urls))


def run_demo(
    *,
    example: str = "team-bucket",
    keep_running: bool = False,
    timeout: float = 120,
    flavour: str = "github",
    echo: Echo = print,
) -> bool:
    """Run the demo; return whether every check held."""
    from meshpipe.sandbox_runs import BlockRuns

    checks: list[Check] = []
    progress = _Progress()

    def show(line: str) -> None:
        shown = runner_line(line)
        if shown:
            echo("  runner    | " + shown)

    with (
        StopSignal() if keep_running else contextlib.nullcontext() as stop,
        Sandbox(example, flavour=flavour) as box,
        tempfile.TemporaryDirectory(prefix="meshpipe-demo-") as tmp,
    ):
        echo(f"sandbox: fake GitHub {box.github_api_url}, fake meshStack {box.meshstack.url}")
        echo(f"status page: {box.status_url}")
        runs = BlockRuns(box, wiring=DEMO_WIRING, work_root=Path(tmp), timeout=timeout, on_line=show)
        echo(f"definition: {runs.path} (async = {str(runs.definition.is_async).lower()})")
        echo(f"runner: {runs.runner.runner_uuid} (its source id), terraform {runs.runner.terraform}")
        steps = expected_steps(box.example)
        settle = timeout

        detect = runs.create_run("DETECT", DEMO_INPUTS)
        echo(f"\n1. meshStack previews the block: DETECT run {detect.uuid}")
        outcome = _execute(runs, detect, echo, progress, settle=0)
        changes = outcome.changes_detected if outcome else None
        uploaded = detect.uuid in box.meshstack.runner_api.artifacts
        checks.append(Check("DETECT fires nothing", box.github.log("POST", r"/dispatches$") == [], "dispatched"))
        checks.append(Check("DETECT uploaded its plan, changes detected", uploaded and changes is True, str(changes)))
        if runs.definition.is_async:
            echo("   (async definition: the runner hands the DETECT run over, too; nothing will finish it)")

        apply = runs.approve(detect) if uploaded else runs.create_run("APPLY", DEMO_INPUTS)
        echo(f"\n2. The plan is approved: APPLY run {apply.uuid} replays it")
        _execute(runs, apply, echo, progress, settle=settle)
        bucket = Path(str(box.state_dir)) / str(DEMO_INPUTS["bucket_name"])
        checks.append(Check("the apply workflow created the bucket", bucket.is_dir(), str(bucket)))

        destroy = runs.create_run("DESTROY", DEMO_INPUTS, building_block_uuid=detect.building_block_uuid)
        echo(f"\n3. meshStack deletes the block: DESTROY run {destroy.uuid}")
        _execute(runs, destroy, echo, progress, settle=settle)
        checks.append(Check("the destroy workflow deleted the bucket", not bucket.exists(), str(bucket)))

        checks.append(_dispatch_checks(box, "apply.yml", apply, "APPLY"))
        checks.append(_dispatch_checks(box, "destroy.yml", destroy, "DESTROY"))
        checks += check_run(box, apply, steps["apply"], "APPLY")
        checks += check_run(box, destroy, steps["destroy"], "DESTROY")

        echo("\nTimelines")
        for run in (detect, apply, destroy):
            for line in timeline(box, run):
                echo(line)
        with box.github.lock:
            for github_run in box.github.runs:
                echo(
                    f"GitHub run {github_run.id} {github_run.workflow} {github_run.display_title!r}: "
                    f"{github_run.conclusion} {github_run.html_url}"
                )
        echo("\nChecks")
        for check in checks:
            echo(f"  {'ok  ' if check.ok else 'FAIL'} {check.description}" + ("" if check.ok else f" ({check.detail})"))
        ok = all(check.ok for check in checks)
        echo(f"\nstatus page: {box.status_url}")
        echo("demo " + ("succeeded" if ok else "FAILED"))
        if keep_running:
            from meshpipe.sandbox_runs import RunnerLoop, add_run_routes, usage

            add_run_routes(runs)
            loop = RunnerLoop(runs, report=echo).start()
            echo("sandbox still running (--keep-running); press Ctrl-C to stop")
            echo(box.describe())
            echo(usage(runs))
            try:
                if isinstance(stop, StopSignal):
                    echo(f"sandbox stopped ({stop.wait()})")
            finally:
                loop.stop()
    return ok
