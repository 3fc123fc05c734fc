"""The GitLab CI side of a Trigger Module: a ``.gitlab-ci.yml`` that takes exactly what the module sends.

With ``values: inputs`` the module creates the pipeline with typed ``inputs``, so the file's header document declares
them as ``spec: inputs`` (GitLab refuses an undeclared input and a missing one without a default:
https://docs.gitlab.com/ci/inputs/). With ``values: variables`` the module sends CI/CD variables, which need no
declaration; the file lists them under ``variables:`` with a description (what GitLab shows for a manual run).

Either way ``workflow: name`` shows the correlation id (the dispatcher finds a pipeline by its ``name`` after a lost
answer) and the phase. With a ``phase_input`` one file serves both phases, each job gated on it (``rules:``); without
one (``phase_input: null``) nothing in a pipeline tells the phases apart, so each phase gets its own file (the
``.gitlab-ci.yml`` on the phase's ref) with only that phase's job. The jobs run the reporter through the template
``action/gitlab/meshpipe.yml``. Inputs reach a job as variables declared ``expand: false``: GitLab interpolates
``$[[ inputs.x ]]`` into the parsed value, and without ``expand: false`` a ``$NAME`` inside an untrusted value would be
expanded; scripts read them from the environment, never from the script text.

Unverified (no GitLab here): whether GitLab accepts ``default: null`` for an optional non-string input (meshpipe
writes it for a typed input the module may leave out): gitlab-org/gitlab!110630 documents ``default: null`` as
"optional, no value", gitlab-org/gitlab#439524 says typed inputs are not nullable yet. Interpolation into
``variables:`` values and ``expand: false`` follow https://docs.gitlab.com/ci/inputs/ and
https://docs.gitlab.com/ci/variables/.
"""

from __future__ import annotations

import json
from typing import Any

from meshpipe.contract import PHASES
from meshpipe.generator.spec import RUN_URL_INPUT, ModuleSpec
from meshpipe.generator.workflow import SentInput, module_inputs, yaml_key

__all__ = [
    "GITLAB_TEMPLATE",
    "SHA256_PLACEHOLDER",
    "TEMPLATE_BASE",
    "pipeline_inputs",
    "pipeline_phases",
    "render_gitlab_inputs",
    "render_gitlab_pipeline",
]

#: the reporter's GitLab CI template, included by every rendered pipeline from meshpipe's repository
GITLAB_TEMPLATE = "action/gitlab/meshpipe.yml"
#: where a pipeline fetches meshpipe's templates (replace your-org and the tag with the release you use)
TEMPLATE_BASE = "https://raw.githubusercontent.com/your-org/meshpipe/v0"
SHA256_PLACEHOLDER = "REPLACE with `sha256sum action/meshpipe.pyz` of the release you use"
#: module input type -> GitLab ``spec:inputs`` type (maps travel as JSON text: GitLab inputs have no object type)
_GITLAB_TYPES = {"string": "string", "number": "number", "bool": "boolean", "list": "array", "map": "string"}


def _scalar(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _input_types(spec: ModuleSpec) -> dict[str, str]:
    return {item.name: _GITLAB_TYPES.get(item.type, "string") for item in spec.inputs if item.kind == "variable"}


def _typed(text: str, kind: str) -> Any:
    """A default as the module sends it, written in the declared type (numbers and booleans unquoted)."""
    if kind in ("number", "boolean", "array"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _phase_name(spec: ModuleSpec) -> str | None:
    setting = getattr(spec, "phase_input", None)
    value = getattr(setting, "value", None)
    return value if isinstance(value, str) else None


def pipeline_inputs(spec: ModuleSpec) -> list[SentInput]:
    """What the module sends a GitLab pipeline: the workflow inputs plus the phase input."""
    sent = module_inputs(spec)
    phase = _phase_name(spec)
    if phase is not None:
        sent.append(SentInput(phase, "choice", "Which phase fired the pipeline.", True, PHASES, None, "phase_input"))
    return sent


def render_gitlab_inputs(spec: ModuleSpec) -> str:
    """The header document: ``spec: inputs`` with exactly the module's inputs (``values: inputs``), then ``---``."""
    types = _input_types(spec)
    regexes = {item.name: item.regex for item in spec.inputs if item.regex}
    lines = ["spec:", "  inputs:"]
    sent = pipeline_inputs(spec)
    if not sent:
        lines[-1] += " {}"
    for item in sent:
        kind = types.get(item.name, "string")
        lines.append(f"    {yaml_key(item.name)}:")
        if item.description:
            # the header is no place for interpolation syntax (GitLab may read $[[ ... ]] in it)
            text = " ".join(item.description.split()).replace("$[[", "$ [[")
            lines.append(f"      description: {_scalar(text)}")
        if kind != "string":
            lines.append(f"      type: {kind}")
        if item.options is not None and item.type == "choice":
            options = [_typed(option, kind) for option in item.options]
            lines.append(f"      options: {json.dumps(options, ensure_ascii=False)}")
        if regexes.get(item.name):
            lines.append(f"      regex: {_scalar(regexes[item.name])}")
        if item.default is not None:
            lines.append(f"      default: {json.dumps(_typed(item.default, kind), ensure_ascii=False)}")
        elif not item.always:
            # optional: sent only sometimes (a run started by hand has no run URL); GitLab needs a default for that
            lines.append('      default: ""' if kind == "string" else "      default: null")
    return "\n".join(lines) + "\n---\n"


def _reference(spec: ModuleSpec, name: str) -> str:
    """How the file refers to a value the module sends: an input interpolation, or a CI/CD variable."""
    return f"$[[ inputs.{name} ]]" if spec.values == "inputs" else f"${name}"


def pipeline_phases(spec: ModuleSpec, phase: str) -> list[str]:
    """The phases one pipeline file serves: both (those the module fires) when a phase input tells them apart, else
    only ``phase``."""
    if _phase_name(spec) is None:
        return [phase]
    return [item for item in PHASES if item == "apply" or spec.fires_destroy]


def _title(spec: ModuleSpec, phase: str) -> str:
    parts = [spec.name]
    name = _phase_name(spec)
    parts.append(_reference(spec, name) if name is not None else phase)
    correlation = spec.correlation_input.value
    if isinstance(correlation, str):
        parts.append(f"[{_reference(spec, correlation)}]")
    return " ".join(parts)


def _input_variables(spec: ModuleSpec) -> list[str]:
    """Every input as a variable of every job, under its own name (as with ``values: variables``), never expanded
    (values are untrusted)."""
    lines = [
        "# Each input as a variable (expand: false: a $NAME in a value stays text); scripts read the environment.",
        "variables:",
    ]
    for item in pipeline_inputs(spec):
        lines.append(f"  {yaml_key(item.name)}:")
        lines.append(f"    value: {_scalar(_reference(spec, item.name))}")
        lines.append("    expand: false")
    return lines


def _declared_variables(spec: ModuleSpec) -> list[str]:
    """``values: variables``: the variables the module sends, listed for a manual run (GitLab needs no declaration)."""
    lines = ["variables:"]
    for item in pipeline_inputs(spec):
        lines.append(f"  {yaml_key(item.name)}:")
        lines.append(f"    value: {_scalar(item.default or '')}")
        if item.description:
            lines.append(f"    description: {_scalar(' '.join(item.description.split()))}")
    return lines


def _rule(spec: ModuleSpec, phase: str) -> list[str]:
    name = _phase_name(spec)
    if name is None:
        return []
    # The phase input only takes the options apply/destroy, so interpolating it into the expression is safe.
    condition = f'"$[[ inputs.{name} ]]" == "{phase}"' if spec.values == "inputs" else f'${name} == "{phase}"'
    return ["  rules:", f"    - if: '{condition}'"]


def render_gitlab_pipeline(
    spec: ModuleSpec, *, header: str, phase: str = "apply", run: str | None = None, reporter_sha256: str | None = None
) -> str:
    """A ``.gitlab-ci.yml`` for ``spec``: the declared inputs, ``workflow: name``, and one job per phase it serves
    (:func:`pipeline_phases`: both, gated on the phase input, or only ``phase`` without one).

    Each job extends the reporter template's hidden ``.meshpipe`` job (``before_script`` registers the job with the
    meshStack run, ``after_script`` finishes it with ``$CI_JOB_STATUS``) and runs ``run`` (a command that reads the
    phase from ``$PHASE_INPUT`` and registers its own steps) or a placeholder step to replace.
    ``reporter_sha256`` pins the reporter's zipapp (``sha256sum action/meshpipe.pyz`` of the release used).
    """
    lines = [header]
    if spec.values == "inputs":
        lines.append("# Exactly what the module sends: GitLab refuses an undeclared input and a missing required one.")
        lines.append(render_gitlab_inputs(spec).rstrip("\n"))
    run_url = _reference(spec, RUN_URL_INPUT) if spec.values == "inputs" else ""
    lines += [
        "# The Trigger Module finds its pipeline by the correlation id in the pipeline's name after a lost answer.",
        "workflow:",
        f"  name: {_scalar(_title(spec, phase))}",
        "",
        "include:",
        "  # meshpipe's reporter template (action.yml's counterpart): pin the release whose meshpipe.pyz you pin.",
        f"  - remote: {TEMPLATE_BASE}/{GITLAB_TEMPLATE}",
        "    inputs:",
        f"      run-url: {_scalar(run_url)}",
        f"      bundle-sha256: {_scalar(reporter_sha256 or SHA256_PLACEHOLDER)}",
        "",
    ]
    lines += [*(_input_variables(spec) if spec.values == "inputs" else _declared_variables(spec)), ""]
    served = pipeline_phases(spec, phase)
    for phase in served:  # each job is written for its own phase
        lines += [f"{phase}:", "  extends: .meshpipe", *_rule(spec, phase)]
        if run is None:
            register = f"{phase}={phase.capitalize()} the building block"
            lines += ["  variables:", "    MESHPIPE_STEPS:", f"      value: {_scalar(register)}", "      expand: false"]
        script = run or f'meshpipe run exec {phase} -- echo "replace with your command"'
        lines += [
            "  # Read inputs from the environment; never paste $[[ inputs.* ]] into a script (untrusted).",
            "  script:",
            f"    - {_scalar(script)}",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"
