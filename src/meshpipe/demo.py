"""``meshpipe demo``: the whole loop on the sandbox, with real terraform.

1. meshStack orders the block: an ``APPLY`` run in the fake meshStack.
2. terraform applies the example's Trigger Module with the meshStack variables (as meshStack's runner would) and
   ``wait_for_completion``; the module dispatches the apply workflow on the fake GitHub, which runs the example's
   ``pipeline.py``; the pipeline registers its steps and reports them with ``meshpipe run``. Like meshStack's
   Terraform runner, the demo reports each terraform command as a step of its own source (``tf-runner``).
3. meshStack deletes the block: a ``DESTROY`` run. Like meshStack's async runner, terraform first applies with the
   DESTROY run object (the module must not dispatch the apply workflow), then destroys, which fires the destroy
   workflow the same way.
4. Each run's timeline is printed and checked: both runs SUCCEEDED, every expected step SUCCEEDED, exactly one
   apply and one destroy dispatch.
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshpipe.errors import MeshpipeError
from meshpipe.sandbox import Sandbox, StopSignal
from meshpipe.terraform import Terraform, TerraformError, TerraformResult

if TYPE_CHECKING:
    from meshpipe.fakes.meshstack import FakeRun

__all__ = ["DEMO_INPUTS", "Check", "run_demo"]

Echo = Callable[[str], None]

#: What the consuming workspace entered when it ordered the block.
DEMO_INPUTS: dict[str, Any] = {"bucket_name": "alpha-dev-data", "versioning": True, "retention_days": 30}
TERMINAL = {"SUCCEEDED", "FAILED", "ABORTED"}
POLL_SECONDS = 0.2


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


def module_variables(module_dir: Path) -> set[str]:
    """The variable names a module declares (``variable "name" {`` in its ``*.tf`` files)."""
    names: set[str] = set()
    for path in module_dir.glob("*.tf"):
        names.update(re.findall(r'^variable\s+"([^"]+)"', path.read_text(encoding="utf-8"), flags=re.MULTILINE))
    return names


def expected_steps(example: Path) -> dict[str, list[str]]:
    """``STEPS`` from the example's ``pipeline.py``: phase -> step ids the workflow registers."""
    spec = importlib.util.spec_from_file_location("_meshpipe_example_pipeline", example / "pipeline.py")
    if spec is None or spec.loader is None:
        raise MeshpipeError(f"cannot load {example / 'pipeline.py'}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return {phase: [step_id for step_id, _ in steps] for phase, steps in module.STEPS.items()}


def terraform_vars(box: Sandbox, run: FakeRun, declared: set[str]) -> dict[str, Any]:
    """The variables meshStack's runner would pass for ``run``, plus the sandbox's wiring, limited to ``declared``."""
    values: dict[str, Any] = {
        **DEMO_INPUTS,
        "meshstack_building_block_id": run.object["spec"]["buildingBlock"]["uuid"],
        "meshstack_building_block_run_id": run.uuid,
        "meshstack_building_block_run_b64": run.b64,
        # Sandbox wiring a real definition would set as static inputs.
        "github_api_url": box.github_api_url,
        "github_repository": box.repository,
        "wait_for_completion": True,
        "wait_timeout_seconds": 120,
        "poll_interval_seconds": 0.25,
        "python": sys.executable,
    }
    return {name: value for name, value in values.items() if name in declared}


class RunnerSource:
    """Plays meshStack's Terraform runner on one run: its own source, one step per terraform command.

    The real runner reports its work the same way (with the run's token), so the timeline shows the platform team
    what they would see in meshStack: the module's output (the dispatcher's lines) as each step's system message.
    """

    SOURCE_ID = "tf-runner"

    def __init__(self, run: FakeRun, steps: list[tuple[str, str]]) -> None:
        from meshpipe.report import Run

        self.reporter = Run.from_env({"MESHSTACK_RUN_URL": run.url, "MESHSTACK_RUN_TOKEN": run.run_token})
        self.reporter.register(steps, source_id=self.SOURCE_ID)

    def start(self, step_id: str) -> None:
        """The terraform command began."""
        self.reporter.report_step(step_id, status="IN_PROGRESS")

    def done(self, step_id: str, ok: bool, lines: list[str]) -> None:
        """The command ended; a failed terraform command fails the run, as in meshStack."""
        status = "SUCCEEDED" if ok else "FAILED"
        message = "\n".join(lines) or None
        self.reporter.report_step(step_id, status=status, system_message=message, run_status=None if ok else "FAILED")


def _snapshot(box: Sandbox, run: FakeRun) -> tuple[str, list[tuple[str, str, str]], list[tuple[int, str, str]]]:
    """Run status, its steps (source/step, status, user message) and the GitHub runs, read under the fakes' locks."""
    with box.meshstack.lock:
        steps = [
            (f"{source_id}/{step['id']}", str(step.get("status")), str(step.get("userMessage") or ""))
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


def _tracked(
    box: Sandbox,
    run: FakeRun,
    step: tuple[RunnerSource, str],
    action: Callable[[], TerraformResult],
    echo: Echo,
    progress: _Progress,
) -> TerraformResult:
    """Run a terraform command in a thread, as a runner step, printing what changes in meshStack and GitHub."""
    runner, step_id = step
    label = step_id
    runner.start(step_id)
    outcome: list[TerraformResult | BaseException] = []

    def target() -> None:
        try:
            outcome.append(action())
        except BaseException as exc:  # re-raised in the caller's thread
            outcome.append(exc)

    worker = threading.Thread(target=target, name=f"terraform-{label}", daemon=True)
    worker.start()
    started = time.monotonic()
    while worker.is_alive():
        worker.join(POLL_SECONDS)
        _report_changes(box, run, progress, echo)
        elapsed = int(time.monotonic() - started)
        if elapsed and elapsed % 10 == 0:
            progress.note(f"{label}-tick", str(elapsed), f"  ... terraform {label} still running ({elapsed} s)", echo)
    _report_changes(box, run, progress, echo)
    result = outcome[0]
    output = result.output if isinstance(result, TerraformResult) else getattr(result, "output", "")
    lines = terraform_lines(output)
    for line in lines:
        echo("  terraform | " + line)
    runner.done(step_id, not isinstance(result, BaseException), lines)
    _report_changes(box, run, progress, echo)
    if isinstance(result, BaseException):
        raise result
    return result


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


def _report_changes(box: Sandbox, run: FakeRun, progress: _Progress, echo: Echo) -> None:
    status, steps, runs = _snapshot(box, run)
    for run_id, title, state in runs:
        progress.note(f"gh-{run_id}", state, f"  GitHub    | run {run_id} {title!r}: {state}", echo)
    for key, step_status, message in steps:
        suffix = f" - {message}" if message and step_status in TERMINAL else ""
        progress.note(f"{run.uuid}-{key}", step_status, f"  meshStack | step {key}: {step_status}{suffix}", echo)
    progress.note(f"{run.uuid}-status", status, f"  meshStack | run {run.uuid[:8]}: {status}", echo)


def _wait_terminal(run: FakeRun, box: Sandbox, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with box.meshstack.lock:
            if run.status in TERMINAL:
                return
        time.sleep(POLL_SECONDS)


def timeline(box: Sandbox, run: FakeRun) -> list[str]:
    """A run's timeline: status, and per source each step with status, messages and outputs."""
    with box.meshstack.lock:
        behavior = run.object["spec"].get("behavior")
        lines = [f"{behavior} run {run.uuid}: {run.status}", f"  {run.url}"]
        for source_id, source in run.sources.items():
            external = source.get("externalRunUrl") or source.get("externalRunId") or ""
            lines.append(f"  source {source_id}: {source.get('status') or ''} {external}".rstrip())
            for step in source["steps"]:
                lines.append(f"    [{step.get('status')}] {step['id']} - {step.get('displayName')}")
                if step.get("userMessage"):
                    lines.append(f"        user:   {step['userMessage']}")
                if step.get("systemMessage"):
                    system = str(step["systemMessage"]).strip().splitlines()
                    lines.append(f"        system: {system[0] if system else ''}")
                    lines.extend(f"                {line}" for line in system[1:6])
                for name, output in (step.get("outputs") or {}).items():
                    lines.append(f"        output: {name} = {output.get('value')} ({output.get('type')})")
        for name, output in (run.outputs or {}).items():
            value = output.get("value") if isinstance(output, dict) else output
            lines.append(f"  run output {name} = {value}")
    return lines


def check_run(box: Sandbox, run: FakeRun, steps: list[str], label: str) -> list[Check]:
    """The run SUCCEEDED and each expected step SUCCEEDED in the workflow's source."""
    with box.meshstack.lock:
        checks = [Check(f"{label} run SUCCEEDED", run.status == "SUCCEEDED", str(run.status))]
        reported = {step["id"]: step.get("status") for source in run.sources.values() for step in source["steps"]}
    for step_id in steps:
        status = reported.get(step_id)
        checks.append(Check(f"{label} step {step_id} SUCCEEDED", status == "SUCCEEDED", str(status)))
    return checks


def run_demo(
    *,
    example: str = "team-bucket",
    keep_running: bool = False,
    timeout: float = 120,
    flavour: str = "github",
    echo: Echo = print,
) -> bool:
    """Run the demo; return whether every check held."""
    checks: list[Check] = []
    progress = _Progress()
    with (
        StopSignal() if keep_running else contextlib.nullcontext() as stop,
        Sandbox(example, flavour=flavour) as box,
        tempfile.TemporaryDirectory(prefix="meshpipe-demo-") as tmp,
    ):
        echo(f"sandbox: fake GitHub {box.github_api_url}, fake meshStack {box.meshstack.url}")
        echo(f"status page: {box.status_url}")
        steps = expected_steps(box.example)
        workdir = Path(tmp) / "module"
        shutil.copytree(box.example / "module", workdir, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
        declared = module_variables(workdir)
        terraform = Terraform(workdir, env=box.module_env(), timeout=timeout)
        echo(f"terraform init in {workdir}")
        terraform.init()

        apply_run = box.meshstack.create_run(behavior="APPLY", inputs=DEMO_INPUTS)
        building_block = apply_run.object["spec"]["buildingBlock"]["uuid"]
        echo(f"\n1. meshStack orders the block: APPLY run {apply_run.uuid} ({apply_run.url})")
        terraform.write_vars(terraform_vars(box, apply_run, declared))
        runner = RunnerSource(apply_run, [("apply", "Run Terraform Apply")])
        echo("   terraform apply (wait_for_completion = true) ...")
        try:
            _tracked(box, apply_run, (runner, "apply"), terraform.apply, echo, progress)
        except TerraformError as exc:
            checks.append(Check("terraform apply succeeded", False, str(exc)))
        _wait_terminal(apply_run, box)
        bucket = Path(str(box.state_dir)) / str(DEMO_INPUTS["bucket_name"])
        checks.append(Check("the apply workflow created the bucket", bucket.is_dir(), str(bucket)))

        destroy_run = box.meshstack.create_run(
            behavior="DESTROY", inputs=DEMO_INPUTS, building_block_uuid=building_block
        )
        echo(f"\n2. meshStack deletes the block: DESTROY run {destroy_run.uuid}")
        terraform.write_vars(terraform_vars(box, destroy_run, declared))
        runner = RunnerSource(destroy_run, [("apply", "Run Terraform Apply"), ("destroy", "Run Terraform Destroy")])
        echo("   terraform apply with the DESTROY run object (must not dispatch) ...")
        try:
            _tracked(box, destroy_run, (runner, "apply"), terraform.apply, echo, progress)
            echo("   terraform destroy ...")
            _tracked(box, destroy_run, (runner, "destroy"), terraform.destroy, echo, progress)
        except TerraformError as exc:
            checks.append(Check("terraform apply/destroy for the DESTROY run succeeded", False, str(exc)))
        _wait_terminal(destroy_run, box)
        checks.append(Check("the destroy workflow deleted the bucket", not bucket.exists(), str(bucket)))

        apply_workflow, destroy_workflow = "apply.yml", "destroy.yml"
        apply_dispatches = len(box.github.dispatches_for(workflow=apply_workflow))
        destroy_dispatches = len(box.github.dispatches_for(workflow=destroy_workflow))
        checks.append(Check("exactly one apply dispatch", apply_dispatches == 1, str(apply_dispatches)))
        checks.append(Check("exactly one destroy dispatch", destroy_dispatches == 1, str(destroy_dispatches)))
        checks += check_run(box, apply_run, steps["apply"], "APPLY")
        checks += check_run(box, destroy_run, steps["destroy"], "DESTROY")

        echo("\nTimelines")
        for run in (apply_run, destroy_run):
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
            echo("sandbox still running (--keep-running); press Ctrl-C to stop")
            echo(box.describe())
            if isinstance(stop, StopSignal):
                echo(f"sandbox stopped ({stop.wait()})")
    return ok
