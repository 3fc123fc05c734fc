"""Emulated GitLab CI and Azure Pipelines jobs that run the committed templates' scripts as those CIs would.

Only what the templates rely on is emulated, each after the CI's documentation:

- GitLab (docs.gitlab.com ``ci/yaml``, ``ci/inputs``, ``ci/variables/predefined_variables``): ``spec:inputs``
  defaults and ``$[[ inputs.NAME ]]`` interpolation in values; ``extends:`` (hashes merged, arrays replaced);
  nested script arrays flattened; ``variables`` with ``value``/``expand``; ``before_script`` and ``script`` in one
  shell, stopping at the first failing command; ``after_script`` in a separate shell in the project directory with
  ``CI_JOB_STATUS`` set to ``success``, ``failed`` or ``canceled``. The shell is ``sh`` (dash here), as in an image
  without bash.
- Azure Pipelines (learn.microsoft.com ``pipelines/process/templates``, ``expressions``, ``scripts/logging-commands``):
  ``${{ parameters.NAME }}`` (a boolean renders as ``True``/``False``), ``${{ replace(parameters.NAME, 'a', 'b') }}``,
  ``${{ each step in parameters.X }}`` over a stepList, ``$(Name)`` macros in ``env:`` (an unknown one stays
  literal), variables exported upper-cased with ``.`` -> ``_``, each ``bash`` step a ``bash --noprofile --norc`` of
  its own, ``condition: always()``, ``Agent.JobStatus``, and the logging commands ``task.prependpath``,
  ``task.setvariable`` and ``task.setsecret`` (parsed anywhere in a line, unescaped as the agent does).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]
GITLAB_TEMPLATE = ROOT / "action" / "gitlab" / "meshpipe.yml"
AZURE_TEMPLATE = ROOT / "action" / "azure-pipelines" / "meshpipe-steps.yml"


@dataclass
class JobLog:
    """What an emulated job printed and what the CI took from it."""

    text: str = ""
    exit_codes: list[int] = field(default_factory=list)
    #: Azure: name -> (value, properties) of every task.setvariable
    variables: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    prepended: list[str] = field(default_factory=list)


# -- GitLab -----------------------------------------------------------------------------------------------------


def gitlab_template(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The template's jobs with ``inputs`` (and the spec's defaults) interpolated; a missing required input fails."""
    spec, body = yaml.safe_load_all(GITLAB_TEMPLATE.read_text())
    values: dict[str, Any] = {}
    for name, declared in spec["spec"]["inputs"].items():
        if name in inputs:
            values[name] = inputs[name]
        elif "default" in declared:
            values[name] = declared["default"]
        else:
            raise AssertionError(f"GitLab refuses the include: required input {name!r} is missing")
    unknown = set(inputs) - set(values)
    assert not unknown, f"GitLab refuses unknown inputs {unknown}"

    def interpolate(node: Any) -> Any:
        if isinstance(node, dict):
            return {interpolate(k): interpolate(v) for k, v in node.items()}
        if isinstance(node, list):
            return [interpolate(v) for v in node]
        if isinstance(node, str):
            whole = re.fullmatch(r"\$\[\[ inputs\.([\w-]+) \]\]", node)
            if whole:
                return values[whole.group(1)]
            return re.sub(
                r"\$\[\[ inputs\.([\w-]+) \]\]",
                lambda m: (
                    str(values[m.group(1)]).lower() if isinstance(values[m.group(1)], bool) else str(values[m.group(1)])
                ),
                node,
            )
        return node

    result: dict[str, Any] = interpolate(body)
    return result


def _flatten(lines: list[Any]) -> list[str]:
    out: list[str] = []
    for line in lines:
        out.extend(_flatten(line) if isinstance(line, list) else [str(line)])
    return out


def _variable(value: Any) -> str:
    if isinstance(value, dict):
        assert value.get("expand") is False, "template inputs must not be expanded by GitLab"
        value = value["value"]
    return str(value).lower() if isinstance(value, bool) else str(value)


def run_gitlab_job(
    template: dict[str, Any],
    job: dict[str, Any],
    *,
    project_dir: Path,
    env: Mapping[str, str],
    cancel: bool = False,
) -> JobLog:
    """Run ``job`` (which ``extends: .meshpipe``) like a runner: before_script + script, then after_script."""
    assert job["extends"] == ".meshpipe"
    base = template[".meshpipe"]
    variables = {name: _variable(value) for name, value in base["variables"].items()}
    variables.update({name: _variable(value) for name, value in job.get("variables", {}).items()})
    job_env = {**env, **variables, "CI_PROJECT_DIR": str(project_dir), "CI_JOB_STATUS": "running"}
    main = _flatten(job.get("before_script", base["before_script"])) + _flatten(job["script"])
    log = JobLog()
    first = _sh(main, job_env, project_dir, log)
    status = "canceled" if cancel else "success" if first == 0 else "failed"
    _sh(_flatten(base["after_script"]), {**job_env, "CI_JOB_STATUS": status}, project_dir, log)
    return log


def _sh(lines: list[str], env: Mapping[str, str], cwd: Path, log: JobLog) -> int:
    # The runner's shell script: errexit, each command echoed before it runs (not its expanded values).
    script = "set -e\n" + "\n".join(f"echo {_quote('$ ' + line.splitlines()[0])}\n{line}" for line in lines)
    result = subprocess.run(
        ["sh", "-c", script], env=dict(env), cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    log.text += result.stdout + result.stderr
    log.exit_codes.append(result.returncode)
    return result.returncode


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


# -- Azure Pipelines --------------------------------------------------------------------------------------------


def azure_steps(parameters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The template's steps with ``parameters`` (and defaults) expanded; a missing required parameter fails."""
    document = yaml.safe_load(AZURE_TEMPLATE.read_text())
    values: dict[str, Any] = {}
    for declared in document["parameters"]:
        name = declared["name"]
        if name in parameters:
            values[name] = parameters[name]
        elif "default" in declared:
            values[name] = declared["default"]
        else:
            raise AssertionError(f"Azure refuses the template: parameter {name!r} has no value")
    assert not set(parameters) - set(values), "Azure refuses undeclared parameters"

    def render(value: Any) -> str:
        return str(value) if not isinstance(value, bool) else ("True" if value else "False")

    def expand(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: expand(v) for k, v in node.items()}
        if isinstance(node, str):
            node = re.sub(
                r"\$\{\{ replace\(parameters\.(\w+), '([^']*)', '([^']*)'\) \}\}",
                lambda m: render(values[m.group(1)]).replace(m.group(2), m.group(3)),
                node,
            )
            return re.sub(r"\$\{\{ parameters\.(\w+) \}\}", lambda m: render(values[m.group(1)]), node)
        return node

    steps: list[dict[str, Any]] = []
    for step in document["steps"]:
        (key,) = step if len(step) == 1 else (None,)
        each = re.fullmatch(r"\$\{\{ each step in parameters\.(\w+) \}\}", key or "")
        if each:
            assert step[key] == ["${{ step }}"]
            steps.extend(values[each.group(1)])
        else:
            steps.append(expand(step))
    return steps


_VSO = re.compile(r"##vso\[(\S+?)(?: ([^\]]*))?\](.*)")


def _unescape(text: str) -> str:
    for token, replacement in ((";", "%3B"), ("\r", "%0D"), ("\n", "%0A"), ("]", "%5D")):
        text = text.replace(replacement, token)
    return text.replace("%AZP25", "%")


def run_azure_job(
    steps: list[dict[str, Any]], *, variables: Mapping[str, str], base_env: Mapping[str, str], workdir: Path
) -> JobLog:
    """Run ``steps`` like the agent: one bash per step, macros in env, logging commands obeyed."""
    log = JobLog()
    job_status = "Succeeded"
    path = base_env["PATH"]
    public = {name.upper().replace(".", "_"): value for name, value in variables.items() if name not in _SECRETS}
    for step in steps:
        condition = step.get("condition", "succeeded()")
        if condition == "succeeded()" and job_status != "Succeeded":
            continue
        assert condition in ("succeeded()", "always()"), condition
        step_env = {
            name: _expand_macros(str(value), {**variables, "Agent.JobStatus": job_status})
            for name, value in step.get("env", {}).items()
        }
        env = {**base_env, **public, "AGENT_JOBSTATUS": job_status, "PATH": path, **step_env}
        script = workdir / "step.sh"
        script.write_text(step["bash"])
        result = subprocess.run(
            ["bash", "--noprofile", "--norc", str(script)],
            env=env,
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        log.text += result.stdout + result.stderr
        log.exit_codes.append(result.returncode)
        for line in (result.stdout + result.stderr).splitlines():
            at = line.find("##vso[")
            match = _VSO.match(line[at:]) if at >= 0 else None
            if not match:
                continue
            command, props_text, data = match.group(1), match.group(2) or "", _unescape(match.group(3))
            props = dict(p.split("=", 1) for p in props_text.split(";") if "=" in p)
            props = {k: _unescape(v) for k, v in props.items()}
            if command == "task.prependpath":
                path = f"{data}{os.pathsep}{path}"
                log.prepended.append(data)
            elif command == "task.setvariable":
                log.variables[props["variable"]] = (data, props)
            elif command == "task.setsecret":
                log.secrets.append(data)
        if result.returncode != 0:
            job_status = "Failed"
    return log


def _expand_macros(text: str, macros: Mapping[str, str]) -> str:
    """``$(Name)`` replaced by the variable's value; an unknown one stays as it is (as the agent leaves it)."""
    return re.sub(r"\$\(([\w.]+)\)", lambda m: macros.get(m.group(1), m.group(0)), text)


#: the variables the emulated pipeline marks secret: never exported to a script unless mapped with env:
_SECRETS = {"MESHSTACK_CLIENT_SECRET", "MESHSTACK_API_TOKEN", "MESHSTACK_RUN_TOKEN"}
