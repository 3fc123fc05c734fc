"""The workflow side of a Trigger Module: the inputs it sends, as a workflow declares them.

:func:`module_inputs` lists every input the module can send with its type, whether it is always sent, and its
allowed values; :func:`render_inputs` writes them as an ``on.workflow_dispatch.inputs`` block that accepts exactly
that, and :func:`render_workflow` a skeleton workflow around it (with a ``run-name`` that shows the correlation id,
so the dispatcher finds the run where GitHub does not return its id).

The rules follow what the generated module sends (``context.py``): every value is a string; numbers, booleans, lists
and maps are ``jsonencode``-d; optional inputs without a default are left out when null; the meshStack context and
``buildingBlockRunUrl`` only when meshStack passed the run; secret inputs and the correlation id on every dispatch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from meshpipe.generator.spec import RUN_URL_INPUT, ModuleSpec

__all__ = ["SentInput", "module_inputs", "number_text", "render_inputs", "render_workflow", "yaml_key"]

#: spec input type -> GitHub workflow_dispatch input type
_GITHUB_TYPES = {"string": "string", "number": "number", "bool": "boolean", "list": "string", "map": "string"}


@dataclass(frozen=True)
class SentInput:
    """One input the module may send, in the terms of a workflow's ``on.workflow_dispatch.inputs``."""

    name: str
    type: str
    description: str
    #: sent on every dispatch (a workflow may mark it required)
    always: bool
    #: every value the module can send, when that set is known (``allowed`` values, a static value)
    options: tuple[str, ...] | None = None
    #: the module's default as the text it sends (the workflow's default for runs started by hand)
    default: str | None = None
    #: where the value comes from, for messages
    source: str = ""


def number_text(value: Any) -> str:
    """A number as Terraform's ``jsonencode`` writes it (``2.0`` -> ``2``, no exponent)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return format(Decimal(repr(value)), "f")


def _sent_text(value: Any, kind: str) -> str:
    if kind == "string":
        return str(value)
    if kind == "number":
        return number_text(value)
    if kind == "bool":
        return "true" if value else "false"
    return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def module_inputs(spec: ModuleSpec) -> list[SentInput]:
    """Every input the module can send, in the order a workflow should declare them."""
    sent: list[SentInput] = []
    if spec.forward_run_url.exposed or spec.forward_run_url.value:
        sent.append(
            SentInput(
                RUN_URL_INPUT,
                "string",
                "URL of the meshStack building block run (sent by the Trigger Module when meshStack passes the run).",
                always=False,
                source="forward_run_url",
            )
        )
    correlation = spec.correlation_input.value
    if isinstance(correlation, str):
        sent.append(
            SentInput(
                correlation,
                "string",
                "Per-dispatch id the Trigger Module uses to find this run (shown in the run name).",
                # Sent on every dispatch, but optional: runs started by hand have none.
                always=False,
                source="correlation_input",
            )
        )
    for item in spec.inputs:
        description = item.description or (item.display_name or "")
        if item.kind == "variable":
            always = item.required or item.default is not None
            kind = _GITHUB_TYPES[item.type]
            options = None
            if item.allowed is not None:
                kind, options = "choice", tuple(_sent_text(option, item.type) for option in item.allowed)
            default = None if item.default is None else _sent_text(item.default, item.type)
            sent.append(SentInput(item.name, kind, description, always, options, default, f"variable {item.variable}"))
        elif item.kind == "static":
            value = item.value or ""
            sent.append(SentInput(item.name, "string", description, True, (value,), value, "a static value"))
        elif item.kind == "meshstack":
            sent.append(SentInput(item.name, "string", description, False, source=f"meshStack {item.context}"))
        else:
            sent.append(SentInput(item.name, "string", description, True, source=f"secret ${item.env}"))
    defaults = (spec.workflow_inputs.value or {}) if spec.workflow_inputs is not None else {}
    for key, value in sorted(defaults.items()):
        sent.append(SentInput(key, "string", "", False, None, value, "the workflow_inputs default"))
    return sent


def yaml_key(name: str) -> str:
    """``name`` as a YAML mapping key: quoted where YAML 1.1 would read something else (``on``, ``yes``, ``null``)."""
    import yaml

    return name if yaml.safe_load(f"{name}: x") == {name: "x"} else json.dumps(name)


def _scalar(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def render_inputs(spec: ModuleSpec, indent: int = 0) -> str:
    """The ``on:`` block: ``workflow_dispatch`` with exactly the module's inputs (or the repository_dispatch types)."""
    pad = " " * indent
    if spec.event == "repository_dispatch":
        types = [value for value in (spec.apply.value, spec.destroy.value) if isinstance(value, str)]
        return f"{pad}on:\n{pad}  repository_dispatch:\n{pad}    types: [{', '.join(map(_scalar, types))}]\n"
    lines = [f"{pad}on:", f"{pad}  workflow_dispatch:", f"{pad}    inputs:"]
    sent = module_inputs(spec)
    if not sent:
        lines[-1] += " {}"
    for item in sent:
        lines.append(f"{pad}      {yaml_key(item.name)}:")
        body = f"{pad}        "
        if item.description:
            lines.append(f"{body}description: {_scalar(' '.join(item.description.split()))}")
        lines.append(f"{body}type: {item.type}")
        lines.append(f"{body}required: {'true' if item.always else 'false'}")
        if item.options is not None and item.type == "choice":
            lines.append(f"{body}options: [{', '.join(map(_scalar, item.options))}]")
        if item.default is not None:
            default = item.default if item.type in ("boolean", "number") else _scalar(item.default)
            lines.append(f"{body}default: {default}")
    return "\n".join(lines) + "\n"


def run_name(spec: ModuleSpec, phase: str) -> str:
    """A ``run-name`` that shows the correlation id (the dispatcher looks for it in the run's title)."""
    correlation = spec.correlation_input.value
    base = f"{spec.name} {phase}"
    if not isinstance(correlation, str):
        return _scalar(base)
    source = "inputs" if spec.event == "workflow_dispatch" else "github.event.client_payload"
    return _scalar(f"{base} [${{{{ {source}.{correlation} }}}}]")


def render_workflow(spec: ModuleSpec, *, phase: str, header: str) -> str:
    """A skeleton workflow for ``phase`` (``apply`` or ``destroy``) around the exact inputs block."""
    reports = spec.forward_run_url.exposed or bool(spec.forward_run_url.value)
    lines = [
        header,
        f"name: {_scalar(f'{spec.name} {phase}')}",
        "# The Trigger Module finds this run by the correlation id in its title when GitHub does not return the run.",
        f"run-name: {run_name(spec, phase)}",
        "",
        "# Exactly what the module sends: GitHub answers 422 to an undeclared input and to a missing required one.",
        "# Check after editing: meshpipe workflow check SPEC THIS_FILE",
        render_inputs(spec).rstrip("\n"),
        "",
        "permissions:",
        "  contents: read",
        "",
        "jobs:",
        f"  {phase}:",
        "    runs-on: ubuntu-latest",
        "    timeout-minutes: 30",
    ]
    if reports:
        lines += [
            "    env:",
            "      # A meshStack API key allowed to update building block runs (repository variable and secrets).",
            "      MESHSTACK_ENDPOINT: ${{ vars.MESHSTACK_ENDPOINT }}",
            "      MESHSTACK_CLIENT_ID: ${{ secrets.MESHSTACK_CLIENT_ID }}",
            "      MESHSTACK_CLIENT_SECRET: ${{ secrets.MESHSTACK_CLIENT_SECRET }}",
        ]
    lines += [
        "    steps:",
        "      - uses: actions/checkout@v4",
        "      - uses: actions/setup-python@v5",
        "        with:",
        '          python-version: "3.12"',
        "      - run: python -m pip install meshpipe",
    ]
    if reports:
        lines += [
            "      - name: Register steps with meshStack",
            f'        run: meshpipe run register --step {phase}="{phase.capitalize()} the building block"',
            "      # Read inputs from $GITHUB_EVENT_PATH or `meshpipe run show --github-output`; never put",
            "      # ${{ inputs.* }} into a shell line (inputs are untrusted).",
            f"      - name: {phase.capitalize()}",
            f'        run: meshpipe run exec {phase} -- echo "replace with your command"',
            "      # Async definitions: always finish the run, so it never stays IN_PROGRESS. In a sync definition",
            "      # (the module waits for this workflow) meshStack ends the run itself: drop this step.",
            "      - name: Finish the meshStack run",
            "        if: always()",
            '        run: meshpipe run finish --job-status "${{ job.status }}"',
        ]
    else:
        lines += [
            "      # Read inputs from $GITHUB_EVENT_PATH; never put ${{ inputs.* }} into a shell line (untrusted).",
            f"      - name: {phase.capitalize()}",
            '        run: echo "replace with your command"',
        ]
    return "\n".join(lines) + "\n"
