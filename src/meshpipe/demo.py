"""``meshpipe demo``: the whole loop on the sandbox, run by the emulation of meshStack's Terraform runner.

The runner emulation (:mod:`meshpipe.fakes.runner`) reads the example's published definition
(``examples/<name>/publish/definition.tf``) and runs the example's Trigger Module with real terraform, as meshStack's
runner would: fresh working directory, cleaned environment, inputs in a tfvars file, the pre-run script, state in
meshStack's HTTP backend, and its own source (the runner's UUID) on every run.

1. meshStack previews the block: a ``DETECT`` run plans and uploads the plan; nothing fires.
2. The plan is approved: an ``APPLY`` run replays the saved plan, which dispatches the apply workflow; the workflow
   (the example's ``pipeline.py`` on the fake GitHub) reports its steps and finishes the run. With ``--target`` the
   module starts a pipeline on the fake GitLab or Azure DevOps, or sends a signed delivery to the webhook receiver,
   and that target's example (:data:`DEMO_BLOCKS`) plays the part.
3. meshStack deletes the block: a ``DESTROY`` run. The definition is async, so the runner first applies with the
   DESTROY run (nothing fires), then destroys, which fires the destroy workflow with the DESTROY run's URL.
4. Each run's timeline is printed, the runner's source and the workflow's source side by side, and checked.

SIGTERM (a service manager, ``timeout``, a CI job being cancelled) ends the demo like Ctrl-C does: the command that
runs is stopped with its process group, the sandbox's fakes stop theirs, temporary directories are removed, and the
exit status is 128 + 15. Python's default for SIGTERM is to end at once, which would leave terraform and the
pipelines -- each in a session of its own -- running without the servers they talk to.
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from meshpipe.contract import RUN_URL_INPUT
from meshpipe.demo_output import (
    PIPELINE_RUNS,
    TERMINAL,
    Echo,
    Progress,
    report_changes,
    runner_line,
    source_name,
    timeline,
)
from meshpipe.errors import MeshpipeError
from meshpipe.sandbox import Sandbox, StopSignal

if TYPE_CHECKING:
    from meshpipe.fakes.meshstack_runs import FakeRun
    from meshpipe.fakes.runner import RunOutcome
    from meshpipe.sandbox_runs import BlockRuns

__all__ = ["DEMO_BLOCKS", "DEMO_INPUTS", "Check", "DemoBlock", "Terminated", "run_demo"]

#: What the consuming workspace entered when it ordered the block.
DEMO_INPUTS: dict[str, Any] = {"bucket_name": "alpha-dev-data", "versioning": True, "retention_days": 30}


@dataclass(frozen=True)
class DemoBlock:
    """The example a demo runs for a target, what the workspace orders, and which input names what it creates."""

    example: str
    inputs: dict[str, Any]
    #: the input whose value names the directory the example's pipeline creates under the sandbox's state directory
    resource_input: str


#: target -> the example the demo runs (``meshpipe demo --target``)
DEMO_BLOCKS: dict[str, DemoBlock] = {
    "github": DemoBlock("team-bucket", DEMO_INPUTS, "bucket_name"),
    "gitlab": DemoBlock(
        "gitlab-namespace", {"namespace_name": "alpha-dev", "visibility": "internal"}, "namespace_name"
    ),
    "azure_devops": DemoBlock(
        "azure-sql-database", {"database_name": "alpha-orders", "sku": "S1", "backup": True}, "database_name"
    ),
    "webhook": DemoBlock("webhook-jenkins-job", {"job_name": "alpha-build", "branch": "main"}, "job_name"),
}
POLL_SECONDS = 0.2
#: Sandbox wiring besides the fakes' URLs and this interpreter: poll the pipeline every second (when waiting).
DEMO_WIRING: dict[str, Any] = {"poll_interval_seconds": 1}


@dataclass
class Check:
    """One expectation of the demo and whether it held."""

    description: str
    ok: bool
    detail: str = ""


def expected_steps(example: Path) -> dict[str, list[str]]:
    """``STEPS`` from the example's ``pipeline.py``: phase -> step ids the pipeline registers."""
    spec = importlib.util.spec_from_file_location("_meshpipe_example_pipeline", example / "pipeline.py")
    if spec is None or spec.loader is None:
        raise MeshpipeError(f"cannot load {example / 'pipeline.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {phase: [step_id for step_id, _ in steps] for phase, steps in module.STEPS.items()}


def _execute(runs: BlockRuns, run: FakeRun, echo: Echo, progress: Progress, settle: float) -> RunOutcome | None:
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
        report_changes(box, run, progress, echo)
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        report_changes(box, run, progress, echo)
        with box.meshstack.lock:
            if run.status in TERMINAL:
                break
        time.sleep(POLL_SECONDS)
    report_changes(box, run, progress, echo)
    result = outcome[0] if outcome else None
    if isinstance(result, BaseException):
        echo(f"  runner    | failed: {result}")
        return None
    return result


def check_run(box: Sandbox, run: FakeRun, steps: list[str], label: str) -> list[Check]:
    """The run SUCCEEDED, each expected pipeline step SUCCEEDED, and both sources (the runner's, the pipeline's)
    reported on it."""
    with box.meshstack.lock:
        checks = [Check(f"{label} run SUCCEEDED", run.status == "SUCCEEDED", str(run.status))]
        reported = {step["id"]: step.get("status") for source in run.sources.values() for step in source["steps"]}
        names = sorted(source_name(source_id) for source_id in run.sources)
    for step_id in steps:
        status = reported.get(step_id)
        checks.append(Check(f"{label} step {step_id} SUCCEEDED", status == "SUCCEEDED", str(status)))
    role = "workflow" if box.block.target == "github" else "pipeline"
    both = len(names) == 2 and "runner" in names
    checks.append(Check(f"{label} run has the runner's and the {role}'s source", both, str(names)))
    return checks


def _dispatch_label(box: Sandbox, phase: str) -> str:
    """What one dispatch of ``phase`` is called: the workflow file on GitHub, else the phase's pipeline/delivery."""
    if box.block.target == "github":
        return next((path.name for path in box.block.workflows if path.stem == phase), f"{phase}.yml") + " dispatch"
    return f"{phase} " + ("delivery" if box.block.target == "webhook" else "pipeline")


def _dispatch_checks(box: Sandbox, phase: str, run: FakeRun, label: str) -> Check:
    urls = [inputs.get(RUN_URL_INPUT) for inputs in box.host.dispatched(box.block, phase)]
    what = _dispatch_label(box, phase)
    return Check(f"exactly one {what}, carrying the {label} run's URL", urls == [run.url], str(urls))


@dataclass
class _Demo:
    """One demo on a running sandbox: its runs, where it prints, and the checks collected along the way."""

    runs: BlockRuns
    echo: Echo
    settle: float
    inputs: dict[str, Any] = field(default_factory=lambda: dict(DEMO_INPUTS))
    progress: Progress = field(default_factory=Progress)
    checks: list[Check] = field(default_factory=list)

    @property
    def box(self) -> Sandbox:
        return self.runs.box

    @property
    def role(self) -> str:
        """What the target runs: a GitHub workflow, a pipeline, a webhook job."""
        return {"github": "workflow", "webhook": "job"}.get(self.box.block.target, "pipeline")

    def introduce(self) -> None:
        """What runs the block: its definition and the runner emulation."""
        runs = self.runs
        self.echo(f"definition: {runs.path} (async = {str(runs.definition.is_async).lower()})")
        self.echo(f"runner: {runs.runner.runner_uuid} (its source id), terraform {runs.runner.terraform}")

    def preview(self) -> tuple[FakeRun, bool]:
        """Step 1: a DETECT run plans and uploads its plan; nothing fires. Returns the run and whether it uploaded."""
        box = self.box
        detect = self.runs.create_run("DETECT", self.inputs)
        self.echo(f"\n1. meshStack previews the block: DETECT run {detect.uuid}")
        outcome = _execute(self.runs, detect, self.echo, self.progress, settle=0)
        changes = outcome.changes_detected if outcome else None
        uploaded = detect.uuid in box.meshstack.runner_api.artifacts
        fired = [inputs for phase in ("apply", "destroy") for inputs in box.host.dispatched(box.block, phase)]
        self.checks.append(Check("DETECT fires nothing", fired == [], "dispatched"))
        self.checks.append(
            Check("DETECT uploaded its plan, changes detected", uploaded and changes is True, str(changes))
        )
        if self.runs.definition.is_async:
            self.echo("   (async definition: the runner hands the DETECT run over, too; nothing will finish it)")
        return detect, uploaded

    def approve(self, detect: FakeRun, uploaded: bool, bucket: Path) -> FakeRun:
        """Step 2: the plan is approved and an APPLY run replays it (a fresh APPLY run if nothing was uploaded)."""
        apply = self.runs.approve(detect) if uploaded else self.runs.create_run("APPLY", self.inputs)
        self.echo(f"\n2. The plan is approved: APPLY run {apply.uuid} replays it")
        _execute(self.runs, apply, self.echo, self.progress, settle=self.settle)
        what = f"the apply {self.role} created {bucket.name}"
        self.checks.append(Check(what, bucket.is_dir(), str(bucket)))
        return apply

    def delete(self, detect: FakeRun, bucket: Path) -> FakeRun:
        """Step 3: meshStack deletes the block with a DESTROY run, which fires the destroy pipeline."""
        destroy = self.runs.create_run("DESTROY", self.inputs, building_block_uuid=detect.building_block_uuid)
        self.echo(f"\n3. meshStack deletes the block: DESTROY run {destroy.uuid}")
        _execute(self.runs, destroy, self.echo, self.progress, settle=self.settle)
        what = f"the destroy {self.role} deleted {bucket.name}"
        self.checks.append(Check(what, not bucket.exists(), str(bucket)))
        return destroy

    def check_runs(self, apply: FakeRun, destroy: FakeRun, steps: dict[str, list[str]]) -> None:
        """One dispatch per phase carrying its run's URL; both runs and their pipeline steps succeeded."""
        box = self.box
        self.checks.append(_dispatch_checks(box, "apply", apply, "APPLY"))
        self.checks.append(_dispatch_checks(box, "destroy", destroy, "DESTROY"))
        self.checks += check_run(box, apply, steps["apply"], "APPLY")
        self.checks += check_run(box, destroy, steps["destroy"], "DESTROY")

    def print_timelines(self, runs: list[FakeRun]) -> None:
        """Step 4: each run's timeline, then the target's pipeline runs."""
        box = self.box
        self.echo("\nTimelines")
        for run in runs:
            for line in timeline(box, run):
                self.echo(line)
        label = PIPELINE_RUNS.get(box.block.target, box.block.target)
        for run_id, title, state in box.host.pipeline_runs():
            self.echo(f"{label} {run_id} {title!r}: {state}")

    def print_checks(self) -> bool:
        """The checks and the verdict; returns whether every check held."""
        self.echo("\nChecks")
        for check in self.checks:
            self.echo(
                f"  {'ok  ' if check.ok else 'FAIL'} {check.description}" + ("" if check.ok else f" ({check.detail})")
            )
        ok = all(check.ok for check in self.checks)
        self.echo(f"\nstatus page: {self.box.status_url}")
        self.echo("demo " + ("succeeded" if ok else "FAILED"))
        return ok

    def keep_running(self, stop: StopSignal) -> None:
        """``--keep-running``: the runner loop serves further runs until a signal arrives."""
        from meshpipe.sandbox_runs import RunnerLoop, add_run_routes, usage

        add_run_routes(self.runs)
        loop = RunnerLoop(self.runs, report=self.echo).start()
        self.echo("sandbox still running (--keep-running); press Ctrl-C to stop")
        self.echo(self.box.describe())
        self.echo(usage(self.runs))
        try:
            self.echo(f"sandbox stopped ({stop.wait()})")
        finally:
            loop.stop()


class Terminated(BaseException):
    """SIGTERM arrived while the demo ran (a BaseException, like KeyboardInterrupt: no ``except Exception`` in the
    demo's code swallows it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` in the main thread, so every ``with`` around the demo cleans up; a
    second SIGTERM while that happens is ignored (SIGKILL still ends it)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed by the main thread
        return

    def handle(signum: int, _frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_demo(
    *,
    example: str | None = None,
    keep_running: bool = False,
    timeout: float = 120,
    flavour: str = "github",
    target: str = "github",
    echo: Echo = print,
) -> bool:
    """Run the demo for ``target`` (its example unless ``example`` names another); return whether every check held."""
    from meshpipe.sandbox_runs import BlockRuns

    chosen = DEMO_BLOCKS.get(target)
    if chosen is None:
        raise MeshpipeError(f"--target {target!r}: one of {', '.join(DEMO_BLOCKS)}")

    def show(line: str) -> None:
        shown = runner_line(line)
        if shown:
            echo("  runner    | " + shown)

    with (
        _sigterm_unwinds() if not keep_running else contextlib.nullcontext(),
        StopSignal() if keep_running else contextlib.nullcontext() as stop,
        Sandbox(example or chosen.example, flavour=flavour) as box,
        tempfile.TemporaryDirectory(prefix="meshpipe-demo-") as tmp,
    ):
        echo(f"sandbox: {box.host.label} {_service_url(box)}, fake meshStack {box.meshstack.url}")
        echo(f"status page: {box.status_url}")
        runs = BlockRuns(box, wiring=DEMO_WIRING, work_root=Path(tmp), timeout=timeout, on_line=show)
        demo = _Demo(runs, echo, settle=timeout, inputs=dict(chosen.inputs))
        demo.introduce()
        steps = expected_steps(box.example)
        bucket = Path(str(box.state_dir)) / str(chosen.inputs[chosen.resource_input])
        detect, uploaded = demo.preview()
        apply = demo.approve(detect, uploaded, bucket)
        destroy = demo.delete(detect, bucket)
        demo.check_runs(apply, destroy, steps)
        demo.print_timelines([detect, apply, destroy])
        ok = demo.print_checks()
        if isinstance(stop, StopSignal):
            demo.keep_running(stop)
    return ok


def _service_url(box: Sandbox) -> str:
    """The URL the block's module talks to (the fake's API, the organization, the receiver)."""
    wiring = box.host.wiring(box.block)
    return str(next(iter(wiring.values())))
