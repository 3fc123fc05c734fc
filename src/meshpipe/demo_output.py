"""What the demo and ``meshpipe sandbox`` print about a run: the runner's log lines worth showing, the changes
while it runs, and its timeline (the runner's source and the workflow's side by side)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from meshpipe.fakes.meshstack_runs import FakeRun
    from meshpipe.sandbox import Sandbox

__all__ = [
    "PIPELINE_LABELS",
    "PIPELINE_RUNS",
    "TERMINAL",
    "Echo",
    "Progress",
    "report_changes",
    "runner_line",
    "source_name",
    "terraform_lines",
    "timeline",
]

Echo = Callable[[str], None]
TERMINAL = {"SUCCEEDED", "FAILED", "ABORTED"}


@dataclass
class Progress:
    """Remembers what was already printed so progress lines show only changes."""

    seen: dict[str, str] = field(default_factory=dict)

    def note(self, key: str, value: str, line: str, echo: Echo) -> None:
        """Print ``line`` if ``key``'s value changed since the last note."""
        if self.seen.get(key) != value:
            self.seen[key] = value
            echo(line)


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


#: target -> how progress lines name its pipelines
PIPELINE_LABELS = {"github": "GitHub", "gitlab": "GitLab", "azure_devops": "Azure", "webhook": "webhook"}
#: target -> what the target calls one execution, for the demo's summary
PIPELINE_RUNS = {
    "github": "GitHub run",
    "gitlab": "GitLab pipeline",
    "azure_devops": "Azure run",
    "webhook": "webhook job",
}


def _snapshot(box: Sandbox, run: FakeRun) -> tuple[str, list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """Run status, its steps (source/step, status, user message) and the target's pipeline runs, read under the
    fakes' locks."""
    with box.meshstack.lock:
        steps = [
            (f"{source_name(source_id)}/{step['id']}", str(step.get("status")), str(step.get("userMessage") or ""))
            for source_id, source in run.sources.items()
            for step in source["steps"]
        ]
        status = str(run.status)
    return status, steps, box.host.pipeline_runs()


def source_name(source_id: str) -> str:
    """``runner`` for the runner's source (its UUID), else the source's id (``github``, the pipeline's)."""
    return "runner" if source_id not in ("github",) and len(source_id) == 36 else source_id


def report_changes(box: Sandbox, run: FakeRun, progress: Progress, echo: Echo) -> None:
    """Print what changed since the last call: the target's pipeline runs, the run's steps and its status."""
    status, steps, runs = _snapshot(box, run)
    label = PIPELINE_LABELS.get(box.block.target, box.block.target)
    for run_id, title, state in runs:
        progress.note(f"pipeline-{run_id}", state, f"  {label:<9} | run {run_id} {title!r}: {state}", echo)
    for key, step_status, message in steps:
        suffix = f" - {message}" if message and step_status in TERMINAL else ""
        progress.note(f"{run.uuid}-{key}", step_status, f"  meshStack | step {key}: {step_status}{suffix}", echo)
    progress.note(f"{run.uuid}-status", status, f"  meshStack | run {run.uuid[:8]}: {status}", echo)


def timeline(box: Sandbox, run: FakeRun) -> list[str]:
    """A run's timeline: status, and per source (the runner's, the workflow's) each step with messages and outputs."""
    with box.meshstack.lock:
        behavior = run.object["spec"].get("behavior")
        lines = [f"{behavior} run {run.uuid}: {run.status}", f"  {run.url}"]
        for source_id, source in run.sources.items():
            external = source.get("externalRunUrl") or source.get("externalRunId") or ""
            role = "meshStack's Terraform runner" if source_name(source_id) == "runner" else _pipeline_role(box)
            lines.append(f"  source {source_id} ({role}): {source.get('status') or ''} {external}".rstrip())
            for step in source["steps"]:
                lines.append(f"    [{step.get('status')}] {step['id']} - {step.get('displayName')}")
                if step.get("userMessage"):
                    lines.append(f"        user:   {step['userMessage']}")
                system = str(step.get("systemMessage") or "").strip().splitlines()
                if source_name(source_id) == "runner":
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


def _pipeline_role(box: Sandbox) -> str:
    """How a timeline names the pipeline's source: "the workflow" on GitHub, else "the pipeline"."""
    return "the workflow" if box.block.target == "github" else "the pipeline"
