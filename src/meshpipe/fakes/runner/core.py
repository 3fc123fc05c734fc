"""The emulated meshStack Terraform runner: executes one run the way ``tf-block-runner`` does.

Facts: ``../shared/reference/meshstack-runner.md`` ("One run, step by step" 1-8, "How the runner reports") and the
runner's own ``tfapply.go``, ``tfplan.go``, ``tfdestroy.go`` and ``scriptcmd.go``. Order of one run: sources ->
inputs -> ``init -upgrade`` (retried once) -> pre-run script -> the behavior's commands -> ``output``. (The reference
says the script runs "before init/plan/apply"; the runner's code and its fixed step order run it after ``init`` and
before plan/apply, which is what is emulated; nothing a module does depends on the difference.)

* DETECT: ``plan -out=plan.tfplan -detailed-exitcode``; the plan is uploaded to ``_links.planArtifactUpload``
  before the run completes, and the status carries ``changesDetected``.
* APPLY: with ``_links.planArtifact`` the plan is downloaded to ``plan.tfplan`` and replayed (``apply plan.tfplan``),
  else a fresh ``apply``.
* DESTROY: ``destroy``; in async mode first an ``apply`` with the DESTROY run, then ``destroy``.

The run variables ``meshstack_building_block_run_id``/``_run_b64`` are written only on a fresh APPLY or DESTROY.
The run's temporary directory is removed when the run ends ("Collect Outputs and clean up"); the run token lives
only in the environment of terraform and the pre-run script.

*Unverified choices*: an aborted run reports its current step and the run ``ABORTED``; the pre-run script and the
terraform commands share one time bound (``timeout``, the runner's ``timeoutMins``); async runs also collect
outputs (into the ``trigger`` step).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
import uuid as uuidlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from meshpipe.errors import MeshpipeError
from meshpipe.fakes.runner import workdir as wd
from meshpipe.fakes.runner.process import CommandFailed, RunCancelled, run_command
from meshpipe.fakes.runner.reporting import RunLog, RunnerReport, output_values, steps_for

__all__ = ["DEFAULT_RUNNER_UUID", "PLAN_FILE", "RunOutcome", "TerraformRunner"]

#: meshStack's shared runner (provider docs, ``runner_ref`` default).
DEFAULT_RUNNER_UUID = "98520496-627d-43e6-82da-ce499179ff3f"
PLAN_FILE = "plan.tfplan"
SCRIPT_FILE = "meshstack-pre-run.sh"
LIVENESS_SECONDS = 10.0
DEFAULT_TIMEOUT_SECONDS = 3600.0  # timeoutMins: 60 in the bundled runner config
_TF_FLAGS = ("-no-color", "-input=false")


@dataclass
class RunOutcome:
    """How one run ended, as the runner reported it."""

    run_uuid: str
    behavior: str
    status: str  # SUCCEEDED | FAILED | ABORTED | IN_PROGRESS (async hand-over)
    changes_detected: bool | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class _Context:
    run: dict[str, Any]
    behavior: str
    implementation: dict[str, Any]
    workdir: Path
    report: RunnerReport
    env: dict[str, str] = field(default_factory=dict)
    deadline: float = 0.0


class TerraformRunner:
    """Executes meshStack runs against a fake meshStack with the real terraform binary.

    ``repository`` is the local directory standing in for the definition's git repository. ``environ`` is the
    runner's own environment, cleaned per run. ``work_root`` holds the per-run temporary directories.
    """

    def __init__(
        self,
        repository: Path,
        *,
        runner_uuid: str = DEFAULT_RUNNER_UUID,
        terraform: str | None = None,
        environ: Mapping[str, str] | None = None,
        work_root: Path | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        liveness_seconds: float = LIVENESS_SECONDS,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        from meshpipe.terraform import find_terraform

        self.repository = Path(repository)
        self.runner_uuid = runner_uuid
        self.terraform = terraform or find_terraform()
        self.environ = dict(os.environ if environ is None else environ)
        self.work_root = work_root
        self.timeout = timeout
        self.liveness_seconds = liveness_seconds
        self.on_line = on_line

    # -- claiming --------------------------------------------------------------------------------------------------
    def claim(self, base_url: str, token: str) -> dict[str, Any] | None:
        """Claim the next pending run (``POST .../create?forRunnerUuid=``); ``None`` when nothing is pending."""
        from meshpipe.fakes.runner.reporting import MEDIA_TYPE

        response = requests.post(
            f"{base_url}/api/meshobjects/meshbuildingblockruns/create",
            params={"forRunnerUuid": self.runner_uuid},
            headers={"Authorization": f"Bearer {token}", "Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE},
            timeout=10,
        )
        if response.status_code == 404:
            return None
        response.raise_for_status()
        run: dict[str, Any] = response.json()
        return run

    # -- one run ---------------------------------------------------------------------------------------------------
    def execute(self, run: dict[str, Any]) -> RunOutcome:
        """Execute ``run`` (the runner-facing run object) and report it; never raises for a failing run."""
        behavior = run["spec"]["behavior"]
        implementation = run["spec"]["buildingBlockDefinition"]["spec"]["implementation"]
        if not implementation.get("repositoryUrl"):
            # not a run of a Terraform definition (e.g. a bare run from the control plane): nothing to execute
            raise ValueError(f"run {run['metadata']['uuid']} carries no Terraform implementation (repositoryUrl)")
        is_async = bool(implementation.get("async"))
        log = RunLog(self.on_line)
        report = RunnerReport(run, self.runner_uuid, steps_for(behavior, is_async), log)
        report.register()
        temp = Path(tempfile.mkdtemp(prefix="meshstack-run-", dir=self.work_root))
        ctx = _Context(run, behavior, implementation, temp / "module", report, deadline=time.monotonic() + self.timeout)
        # the liveness loop only sets report.aborted; the running command and the step loop watch that event
        report.start_liveness(self.liveness_seconds, lambda: None)
        outcome = RunOutcome(run["metadata"]["uuid"], behavior, "IN_PROGRESS")
        current = "trigger" if is_async else "sources"
        try:
            for step, action in self._plan(behavior):
                if report.aborted.is_set():
                    raise RunCancelled("run cancelled: meshStack aborted the run")
                if not is_async:
                    current = step
                    report.start(step)
                elif step == "sources":
                    report.start("trigger")
                user_message = action(ctx)
                if not is_async:
                    report.succeed(step, user_message)
                elif user_message:
                    report.steps[0]["userMessage"] = user_message
            if is_async:
                report.succeed("trigger")
                report.status = "IN_PROGRESS"  # the hand-over: the pipeline finishes the run
            else:
                report.status = "SUCCEEDED"
        except RunCancelled as exc:
            log.line(str(exc))
            report.fail(current, status="ABORTED")
            outcome.error = str(exc)
        except (CommandFailed, MeshpipeError, OSError, requests.RequestException, ValueError, KeyError) as exc:
            log.line(f"Error: {exc}")
            report.fail(current, user_message=getattr(exc, "user_message", None))
            outcome.error = str(exc)
        finally:
            report.stop_liveness()
            shutil.rmtree(temp, ignore_errors=True)
        report.send()
        outcome.status = report.status
        outcome.changes_detected = report.changes_detected
        outcome.outputs = {name: item["value"] for name, item in report.outputs.items()}
        outcome.log = list(log.lines)
        return outcome

    def _plan(self, behavior: str) -> list[tuple[str, Callable[[_Context], str | None]]]:
        steps: list[tuple[str, Callable[[_Context], str | None]]] = [
            ("sources", self._sources),
            ("input", self._inputs),
            ("init_tf", self._init),
            ("pre_run_script", self._pre_run_script),
            ("execute_tf", self._execute),
        ]
        # DETECT has no output step (tfplan.go)
        return steps if behavior == "DETECT" else [*steps, ("output", self._output)]

    # -- steps -----------------------------------------------------------------------------------------------------
    def _sources(self, ctx: _Context) -> None:
        impl = ctx.implementation
        path = impl.get("repositoryPath") or ""
        wd.copy_module(self.repository, path, ctx.workdir)
        ctx.report.log.line(
            f"Fetched {impl.get('repositoryUrl')} at {impl.get('refName') or 'the default branch'}; "
            f"working directory: {path or '(repository root)'}"
        )
        return None

    def _inputs(self, ctx: _Context) -> None:
        ctx.env, lines = wd.write_inputs(ctx.run, ctx.implementation, ctx.workdir, self.environ)
        for line in lines:
            ctx.report.log.line(line)
        return None

    def _terraform(self, ctx: _Context, *args: str, ok: tuple[int, ...] = (0,)) -> int:
        ctx.report.log.line(f"$ terraform {' '.join(args)}")
        code = run_command(
            [self.terraform, *args],
            cwd=ctx.workdir,
            env=ctx.env,
            on_line=ctx.report.log.line,
            cancelled=ctx.report.aborted,
            deadline=ctx.deadline,
            label=f"terraform {args[0]}",
        )
        if code not in ok:
            raise CommandFailed(f"terraform {args[0]}", code)
        return code

    def _init(self, ctx: _Context) -> None:
        try:
            self._terraform(ctx, "init", "-upgrade", *_TF_FLAGS)
        except CommandFailed:
            ctx.report.log.line("terraform init failed; retrying once")
            self._terraform(ctx, "init", "-upgrade", *_TF_FLAGS)
        return None

    def _pre_run_script(self, ctx: _Context) -> str | None:
        script = ctx.implementation.get("preRunScript")
        if not script:
            ctx.report.log.line("No pre-run script configured.")
            return None
        path = ctx.workdir / SCRIPT_FILE
        path.write_text(script.replace("\r\n", "\n"), encoding="utf-8")
        path.chmod(0o600)
        handle, message_path = tempfile.mkstemp(prefix="meshstack-user-message-", suffix=".txt", dir=ctx.workdir)
        os.close(handle)
        env = dict(ctx.env, MESHSTACK_USER_MESSAGE=message_path)
        env["PATH"] = os.pathsep.join([str(Path(self.terraform).parent), env.get("PATH", "")])
        try:
            code = run_command(
                ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", str(path), ctx.behavior],
                cwd=ctx.workdir,
                env=env,
                on_line=ctx.report.log.line,
                cancelled=ctx.report.aborted,
                deadline=ctx.deadline,
                stdin=json.dumps(ctx.run).encode("utf-8"),
                label="pre-run script",
            )
            user_message = Path(message_path).read_text(encoding="utf-8", errors="replace").strip() or None
        finally:
            Path(message_path).unlink(missing_ok=True)
        if code != 0:
            failure = CommandFailed("pre-run script", code)
            failure.user_message = user_message  # type: ignore[attr-defined]
            raise failure
        return user_message

    def _execute(self, ctx: _Context) -> None:
        links = ctx.run["_links"]
        is_async = bool(ctx.implementation.get("async"))
        if ctx.behavior == "DETECT":
            code = self._terraform(ctx, "plan", f"-out={PLAN_FILE}", "-detailed-exitcode", *_TF_FLAGS, ok=(0, 2))
            ctx.report.changes_detected = code == 2
            upload = (links.get("planArtifactUpload") or {}).get("href")
            if not upload:
                raise ValueError("no plan artifact upload URL provided for DETECT run; cannot persist the plan")
            data = (ctx.workdir / PLAN_FILE).read_bytes()
            response = requests.put(upload, data=data, headers=self._artifact_headers(ctx), timeout=30)
            response.raise_for_status()
            ctx.report.log.line(f"Uploaded the plan ({len(data)} bytes); changes detected: {code == 2}")
        elif ctx.behavior == "APPLY" and "planArtifact" in links:
            ctx.report.log.line("Using the provided plan artifact from the dry-run; applying it verbatim.")
            response = requests.get(links["planArtifact"]["href"], headers=self._artifact_headers(ctx), timeout=30)
            response.raise_for_status()
            plan = ctx.workdir / PLAN_FILE
            plan.write_bytes(response.content)
            plan.chmod(0o600)
            self._terraform(ctx, "apply", "-auto-approve", *_TF_FLAGS, PLAN_FILE)
        elif ctx.behavior == "APPLY":
            ctx.report.log.line("No plan artifact linked to this run; running a fresh terraform apply.")
            self._terraform(ctx, "apply", "-auto-approve", *_TF_FLAGS)
        elif ctx.behavior == "DESTROY":
            if is_async:
                # tfdestroy.go: the apply hands the DESTROY run to the external pipeline before destroying.
                self._terraform(ctx, "apply", "-auto-approve", *_TF_FLAGS)
            self._terraform(ctx, "destroy", "-auto-approve", *_TF_FLAGS)
        else:
            raise ValueError(f"unknown behavior {ctx.behavior!r}")
        return None

    @staticmethod
    def _artifact_headers(ctx: _Context) -> dict[str, str]:
        return {"Authorization": f"Bearer {ctx.run['spec']['runToken']}", "Content-Type": "application/octet-stream"}

    def _output(self, ctx: _Context) -> None:
        lines: list[str] = []
        self._terraform_quiet(ctx, lines)
        raw = json.loads("\n".join(lines) or "{}")
        ctx.report.outputs.update(output_values(raw))
        ctx.report.log.line(f"Collected {len(raw)} outputs: {', '.join(sorted(raw))}")
        return None

    def _terraform_quiet(self, ctx: _Context, sink: list[str]) -> None:
        code = run_command(
            [self.terraform, "output", "-json", "-no-color"],
            cwd=ctx.workdir,
            env=ctx.env,
            on_line=sink.append,
            cancelled=ctx.report.aborted,
            deadline=ctx.deadline,
            label="terraform output",
        )
        if code != 0:
            for line in sink:
                ctx.report.log.line(line)
            raise CommandFailed("terraform output", code)


def new_runner_uuid() -> str:
    """A fresh runner UUID (a self-hosted runner's identity)."""
    return str(uuidlib.uuid4())
