"""GitLab and Azure Pipelines without a phase input (``phase_input: null``): nothing in a pipeline tells apply from
destroy, so ``meshpipe workflow render`` writes one file per phase (``--phase``), each with only its phase's job, and
``meshpipe workflow check`` accepts those files and warns about one that runs both phases every time. With a phase
input one file serves both phases, each job gated on it."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from meshpipe.generator.spec import parse_spec
from meshpipe.generator.workflow_check import check_pipeline
from meshpipe.generator.workflow_targets import render_skeleton

INPUTS = [{"name": "bucket", "type": "string"}]
SPECS: dict[str, dict[str, Any]] = {
    "gitlab": {
        "name": "gl-phases",
        "description": "GitLab, one ref per phase.",
        "target": "gitlab",
        "gitlab": {"project": "platform/infra", "values": "inputs"},
        "pipelines": {"apply": "deploy", "destroy": "teardown"},
        "correlation_input": "correlation_id",
        "inputs": INPUTS,
    },
    "azure_devops": {
        "name": "ado-phases",
        "description": "Azure Pipelines, one pipeline per phase.",
        "target": "azure_devops",
        "azure_devops": {"org_url": "https://dev.azure.com/octo", "project": "Platform"},
        "pipelines": {"apply": 12, "destroy": 13},
        "correlation_input": "correlation_id",
        "inputs": INPUTS,
    },
}
TARGETS = list(SPECS)


def data(target: str, **changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(SPECS[target])
    result.update(changes)
    return result


def jobs(target: str, text: str) -> dict[str, Any]:
    """Job name -> job for a rendered file (GitLab: top-level jobs; Azure: ``jobs:``, conditions unwrapped)."""
    if target == "gitlab":
        config = list(yaml.safe_load_all(text))[-1]
        return {name: job for name, job in config.items() if isinstance(job, dict) and "extends" in job}
    found: dict[str, Any] = {}
    for item in yaml.safe_load(text)["jobs"]:
        if "job" in item:
            found[item["job"]] = {"gate": None, **item}
        else:
            ((gate, inner),) = item.items()
            for job in inner:
                found[job["job"]] = {"gate": gate, **job}
    return found


def name_of(target: str, text: str) -> str:
    config = list(yaml.safe_load_all(text))[-1]
    return str(config["workflow"]["name"] if target == "gitlab" else config["name"])


@pytest.mark.parametrize("target", TARGETS)
def test_without_a_phase_input_each_phase_gets_its_own_file(target: str) -> None:
    spec = parse_spec(data(target, phase_input=None), f"{target}.yaml")
    for phase in ("apply", "destroy"):
        text = render_skeleton(spec, phase=phase, header="# h")
        assert set(jobs(target, text)) == {phase}, text
        assert name_of(target, text).split()[:2] == [spec.name, phase]  # the run's name shows its phase
        assert "meshpipe_phase" not in text


@pytest.mark.parametrize("target", TARGETS)
def test_with_a_phase_input_one_file_serves_both_phases_gated(target: str) -> None:
    spec = parse_spec(data(target), f"{target}.yaml")
    text = render_skeleton(spec, phase="destroy", header="# h")
    assert text == render_skeleton(spec, phase="apply", header="# h")  # --phase does not matter
    found = jobs(target, text)
    assert set(found) == {"apply", "destroy"}
    for phase, job in found.items():
        gate = str(job.get("rules") or job.get("gate"))
        assert "meshpipe_phase" in gate and phase in gate


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("phase_input", [None, "meshpipe_phase"])
def test_workflow_check_accepts_what_render_writes(target: str, phase_input: str | None, tmp_path: Path) -> None:
    spec = parse_spec(data(target, phase_input=phase_input), f"{target}.yaml")
    for phase in ("apply", "destroy"):
        path = tmp_path / f"{phase}.yml"
        path.write_text(render_skeleton(spec, phase=phase, header="# h"), encoding="utf-8")
        assert check_pipeline(spec, path) == []


@pytest.mark.parametrize("target", TARGETS)
def test_workflow_check_warns_about_a_file_running_both_phases_without_a_phase_input(
    target: str, tmp_path: Path
) -> None:
    gated = render_skeleton(parse_spec(data(target), f"{target}.yaml"), phase="apply", header="# h")
    spec = parse_spec(data(target, phase_input=None), f"{target}.yaml")
    single = render_skeleton(spec, phase="apply", header="# h")
    both = single + (
        "destroy:\n  extends: .meshpipe\n  script:\n    - meshpipe run exec destroy -- true\n"
        if target == "gitlab"
        else "  - job: destroy\n    steps:\n      - bash: true\n"
    )
    path = tmp_path / "both.yml"
    path.write_text(both, encoding="utf-8")
    (finding,) = check_pipeline(spec, path)
    assert finding.level == "warning" and "jobs apply and destroy both run in every pipeline" in finding.message
    path.write_text(gated, encoding="utf-8")  # gated on a phase input the spec does not send: other findings
    assert not any("both run" in item.message for item in check_pipeline(spec, path))


def test_the_cli_renders_per_phase_and_refuses_a_missing_destroy_phase(tmp_path: Path) -> None:
    path = tmp_path / "gitlab.yaml"
    path.write_text(yaml.safe_dump(data("gitlab", phase_input=None)), encoding="utf-8")

    def render(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "meshpipe", "workflow", "render", str(path), *args]
        return subprocess.run(command, capture_output=True, text=True, check=False, cwd=tmp_path)

    destroy = render("--phase", "destroy", "-o", str(tmp_path / "destroy.yml"))
    assert destroy.returncode == 0, destroy.stderr
    assert "serves the destroy phase only (the ref teardown); render --phase apply" in destroy.stderr
    assert set(jobs("gitlab", (tmp_path / "destroy.yml").read_text(encoding="utf-8"))) == {"destroy"}
    generated = render("--phase", "destroy", "--run", "python3 job.py", "-o", str(tmp_path / "generated.yml"))
    assert generated.returncode == 0, generated.stderr
    assert "--phase destroy --run 'python3 job.py'" in (tmp_path / "generated.yml").read_text().splitlines()[0]
    path.write_text(
        yaml.safe_dump(data("gitlab", phase_input=None, pipelines={"apply": "deploy", "destroy": None})),
        encoding="utf-8",
    )
    refused = render("--phase", "destroy")
    assert refused.returncode != 0 and "the spec has no destroy phase; render --phase apply" in refused.stderr
    applied = render("-o", str(tmp_path / "apply.yml"))
    assert applied.returncode == 0 and "serves the apply phase only (the ref deploy)" in applied.stderr
    assert "render --phase destroy" not in applied.stderr
