"""The spec validator behind :func:`meshpipe.generator.spec.parse_spec`: :class:`SpecParser`, one method per section.

The ``inputs:`` list is parsed by :func:`meshpipe.generator.spec_inputs.parse_inputs`; the value checks and the
error plumbing (:class:`~meshpipe.generator.spec_checks.SpecReader`) live in :mod:`meshpipe.generator.spec_checks`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from meshpipe.contract import AUTH_MODES, EVENTS, RUN_URL_INPUT, TARGETS
from meshpipe.generator.spec import (
    ENV_NAME,
    MODULE_NAME,
    REDISPATCH,
    REPOSITORY,
    TARGET_BLOCKS,
    Auth,
    Input,
    ModuleSpec,
    Setting,
)
from meshpipe.generator.spec_checks import (
    API_URL_CHECK,
    INPUT_CHECK,
    MISSING,
    WORKFLOW_CHECK,
    Check,
    SpecReader,
    boolean,
    non_empty_string,
    one_of,
    pattern,
    positive,
    string_map,
)
from meshpipe.generator.spec_inputs import parse_inputs
from meshpipe.generator.spec_targets import (
    GITHUB_ONLY_KEYS,
    input_name_pattern,
    input_nouns,
    parse_target,
    phase_input_setting,
    reserved_name,
    secret_input_problem,
)

__all__ = ["TOP_KEYS", "SpecParser"]

#: The keys a spec may have at the top level.
TOP_KEYS = (
    "name",
    "description",
    "target",
    "github",
    "gitlab",
    "azure_devops",
    "webhook",
    "pipelines",
    "events",
    "phase_input",
    "event",
    "workflows",
    "event_types",
    "auth",
    "inputs",
    "workflow_inputs",
    "forward_run_url",
    "correlation_input",
    "wait",
    "redispatch",
    "python",
)


class SpecParser(SpecReader):
    """Validates one spec document; ``source`` names it in every error."""

    def setting(
        self,
        data: Mapping[str, Any],
        key: str,
        path: str,
        *,
        variable: str,
        check: Check,
        default: Any = MISSING,
        nullable: bool = False,
    ) -> Setting:
        """A scalar fixes the setting; a mapping ``{default: X}`` or ``{required: true}`` exposes it as ``variable``.

        An omitted setting is exposed with its standard ``default`` (required when there is none).
        """
        full = self.join(path, key)
        accept: Check = (lambda v: None if v is None else check(v)) if nullable else check
        if key not in data:
            return Setting(full, None if default is MISSING else default, variable, required=default is MISSING)
        raw = data[key]
        if not isinstance(raw, Mapping):
            if raw is None and not nullable:
                self.fail(full, "expected a value or a mapping with `default` or `required`, got null")
            return Setting(full, self.check(raw, full, accept))
        body = self.mapping(raw, full, ("default", "required", "description"))
        description = body.get("description")
        if description is not None:
            self.check(description, self.join(full, "description"), non_empty_string)
        if ("default" in body) == bool(body.get("required")):
            self.fail(full, "expected exactly one of `default: VALUE` or `required: true`")
        if "required" in body:
            self.check(body["required"], self.join(full, "required"), boolean)
            return Setting(full, None, variable, required=True, description=description)
        value = self.check(body["default"], self.join(full, "default"), accept)
        return Setting(full, value, variable, description=description)

    def module(self, data: Any) -> ModuleSpec:
        """Validate a whole spec, section by section (this order decides which error a broken spec reports)."""
        target = (
            self.check(data.get("target", "github"), "target", one_of(TARGETS)) if isinstance(data, Mapping) else ""
        )
        block = TARGET_BLOCKS.get(target, ("github",))[0]
        top = self.mapping(data, "", TOP_KEYS, ("name", "description", block))
        name = self.check(top["name"], "name", pattern(MODULE_NAME, "a lower-case name like github-workflow-trigger"))
        description = self.check(top["description"], "description", non_empty_string)
        self.foreign_keys(top, target)
        if target != "github":
            return self.other_target(top, target, name, description.strip())
        github = self.mapping(top["github"], "github", ("flavour", "api_url", "repository", "ref"))
        flavour = github.get("flavour")
        if flavour is not None:
            self.check(flavour, "github.flavour", one_of(("github", "ghes")))
        event = self.check(top.get("event", "workflow_dispatch"), "event", one_of(EVENTS))
        apply, destroy = self.phases(top, event)
        wait = self.mapping(top.get("wait", {}), "wait", ("enabled", "timeout_seconds", "poll_interval_seconds"))
        workflow_inputs = self.workflow_inputs(top)
        api_url, repository, ref = self.github(github)
        auth = self.auth(top.get("auth", {}))
        inputs = parse_inputs(self, top.get("inputs", []))
        forward_run_url, correlation_input = self.run_identity(top)
        enabled, timeout_seconds, poll_interval_seconds = self.wait(wait)
        spec = ModuleSpec(
            name=name,
            description=description.strip(),
            source=self.source,
            flavour=flavour,
            api_url=api_url,
            repository=repository,
            ref=ref,
            event=event,
            apply=apply,
            destroy=destroy,
            auth=auth,
            inputs=inputs,
            workflow_inputs=workflow_inputs,
            forward_run_url=forward_run_url,
            correlation_input=correlation_input,
            wait=enabled,
            wait_timeout_seconds=timeout_seconds,
            poll_interval_seconds=poll_interval_seconds,
            redispatch=self.setting(
                top, "redispatch", "", variable="redispatch", check=one_of(REDISPATCH), default="every_run"
            ),
            python=self.setting(top, "python", "", variable="python", check=non_empty_string, default="python3"),
        )
        self.limits(spec)
        return spec

    def foreign_keys(self, top: Mapping[str, Any], target: str) -> None:
        """Keys that belong to another target are errors naming the key and the target they need."""
        own_block, own_phases = TARGET_BLOCKS[target]
        if "phase_input" in top and target in ("github", "webhook"):
            why = (
                "the webhook sends the phase in its body" if target == "webhook" else "GitHub fires separate workflows"
            )
            self.fail("phase_input", f"not used with target {target}: {why}")
        for key in top:
            if target != "github" and key in GITHUB_ONLY_KEYS:
                self.fail(key, f"a GitHub-only key; not used with target {target}")
            owners = [name for name, keys in TARGET_BLOCKS.items() if key in keys and name != "github"]
            if owners and key not in (own_block, own_phases):
                needs = " or ".join(f"`target: {owner}`" for owner in owners)
                self.fail(key, f"not used with target {target}; it belongs to {needs}")

    def other_target(self, top: Mapping[str, Any], target: str, name: str, description: str) -> ModuleSpec:
        """A GitLab, Azure DevOps or webhook spec: the target's blocks, then the sections every target shares."""
        parts = parse_target(self, top, target)
        regex, what = input_name_pattern(target, parts.values)
        name_check = pattern(re.compile(regex), f"{what} matching {regex}")
        wait = self.mapping(top.get("wait", {}), "wait", ("enabled", "timeout_seconds", "poll_interval_seconds"))
        inputs = parse_inputs(self, top.get("inputs", []), name_check, input_nouns(target))
        forward_run_url, correlation_input = self.run_identity(top, name_check)
        phase_input = phase_input_setting(self, top, target, name_check)
        enabled, timeout_seconds, poll_interval_seconds = self.wait(wait)
        spec = ModuleSpec(
            name=name,
            description=description,
            source=self.source,
            flavour=None,
            api_url=parts.api_url,
            repository=parts.repository,
            ref=parts.ref,
            event="",
            apply=parts.apply,
            destroy=parts.destroy,
            auth=Auth(),
            inputs=inputs,
            workflow_inputs=None,
            forward_run_url=forward_run_url,
            correlation_input=correlation_input,
            wait=enabled,
            wait_timeout_seconds=timeout_seconds,
            poll_interval_seconds=poll_interval_seconds,
            redispatch=self.setting(
                top, "redispatch", "", variable="redispatch", check=one_of(REDISPATCH), default="every_run"
            ),
            python=self.setting(top, "python", "", variable="python", check=non_empty_string, default="python3"),
            target=target,
            target_auth=parts.auth,
            values=parts.values,
            phase_input=phase_input,
        )
        self.limits(spec)
        self.target_inputs(target, parts.allow_secret_inputs, inputs, correlation_input, phase_input)
        return spec

    def target_inputs(
        self,
        target: str,
        allow_secret_inputs: bool,
        inputs: tuple[Input, ...],
        correlation_input: Setting,
        phase_input: Setting | None,
    ) -> None:
        """A GitLab or Azure Pipelines spec's input names keep clear of reserved ones, and its secret inputs are
        allowed explicitly (see :mod:`meshpipe.generator.spec_targets`)."""
        named = [(f"inputs[{index}].name", item.name, False) for index, item in enumerate(inputs)]
        named.append(("correlation_input", correlation_input.value, True))
        if phase_input is not None:
            named.append(("phase_input", phase_input.value, True))
        for path, name, filled in named:
            why = reserved_name(target, name, filled=filled) if isinstance(name, str) else None
            if why is not None:
                self.fail(path, f"{name!r} is a reserved name ({why}); choose another name")
        for index, item in enumerate(inputs):
            problem = secret_input_problem(target, allow_secret_inputs) if item.kind == "secret" else None
            if problem is not None:
                self.fail(f"inputs[{index}].sensitive", problem)

    def github(self, github: Mapping[str, Any]) -> tuple[Setting, Setting, Setting]:
        """The ``github:`` settings: API URL, repository and ref."""
        api_url = self.setting(
            github,
            "api_url",
            "github",
            variable="github_api_url",
            check=API_URL_CHECK,
            default="https://api.github.com",
        )
        repository = self.setting(
            github,
            "repository",
            "github",
            variable="github_repository",
            check=pattern(REPOSITORY, "a repository as owner/repo"),
        )
        ref = self.setting(github, "ref", "github", variable="github_ref", check=non_empty_string, default="main")
        return api_url, repository, ref

    def workflow_inputs(self, top: Mapping[str, Any]) -> Setting | None:
        """``workflow_inputs``: ``false`` (none), or a mapping with a ``default`` the caller may override."""
        if top.get("workflow_inputs", True) is False:
            return None
        workflow_inputs = self.setting(
            top, "workflow_inputs", "", variable="workflow_inputs", check=string_map, default={}
        )
        if not workflow_inputs.exposed:
            self.fail("workflow_inputs", "expected `false` or a mapping with `default` (static inputs go in `inputs`)")
        for key in workflow_inputs.value or {}:
            self.check(key, "workflow_inputs.default", INPUT_CHECK)
        return workflow_inputs

    def run_identity(self, top: Mapping[str, Any], name_check: Check = INPUT_CHECK) -> tuple[Setting, Setting]:
        """What the workflow learns about the run: ``forward_run_url`` and the ``correlation_input``'s name."""
        forward_run_url = self.setting(
            top, "forward_run_url", "", variable="forward_run_url", check=boolean, default=True
        )
        correlation_input = self.setting(
            top, "correlation_input", "", variable="correlation_input", check=name_check, default=None, nullable=True
        )
        return forward_run_url, correlation_input

    def wait(self, wait: Mapping[str, Any]) -> tuple[Setting, Setting, Setting]:
        """The ``wait:`` settings: whether the module waits for the workflow, for how long, how often it polls."""
        enabled = self.setting(wait, "enabled", "wait", variable="wait_for_completion", check=boolean, default=False)
        timeout_seconds = self.setting(
            wait, "timeout_seconds", "wait", variable="wait_timeout_seconds", check=positive, default=1800
        )
        poll_interval_seconds = self.setting(
            wait, "poll_interval_seconds", "wait", variable="poll_interval_seconds", check=positive, default=10
        )
        return enabled, timeout_seconds, poll_interval_seconds

    def phases(self, top: Mapping[str, Any], event: str) -> tuple[Setting, Setting]:
        """The apply and destroy workflow files (workflow_dispatch) or event types (repository_dispatch)."""
        if event == "workflow_dispatch":
            key, other, suffix, check = "workflows", "event_types", "workflow", WORKFLOW_CHECK
        else:
            key, other, suffix = "event_types", "workflows", "event_type"
            check = pattern(re.compile(r"^\S{1,100}$"), "an event type of 1-100 characters without spaces")
        if other in top:
            self.fail(other, f"not used with event {event}; use `{key}`")
        body = self.mapping(top.get(key, {}), key, ("apply", "destroy"))
        apply = self.setting(body, "apply", key, variable=f"apply_{suffix}", check=check)
        destroy = self.setting(
            body, "destroy", key, variable=f"destroy_{suffix}", check=check, default=None, nullable=True
        )
        if apply.value is None and not apply.required:
            self.fail(f"{key}.apply", "expected a value; the apply phase cannot be disabled")
        return apply, destroy

    def auth(self, data: Any) -> Auth:
        """The authentication mode and the names of the environment variables it reads."""
        keys = ("mode", "token_env", "app_id_env", "installation_id_env", "private_key_env")
        body = self.mapping(data, "auth", keys)
        self.check(body.get("mode", "auto"), "auth.mode", one_of(AUTH_MODES))
        for key in keys[1:]:
            if key in body:
                self.check(body[key], f"auth.{key}", pattern(ENV_NAME, "an environment variable name"))
        return Auth(**body)

    def limits(self, spec: ModuleSpec) -> None:
        """GitHub's caps and name clashes that span sections."""
        names = {item.name.lower(): index for index, item in enumerate(spec.inputs)}
        extra = self.module_inputs(spec, names)
        # The default of workflow_inputs is sent too, unless a caller overrides it.
        defaults = (spec.workflow_inputs.value or {}) if spec.workflow_inputs is not None else {}
        taken_inputs = set(names)
        if isinstance(spec.correlation_input.value, str):
            taken_inputs.add(spec.correlation_input.value.lower())
        for key in defaults:
            if key.lower() in taken_inputs:
                self.fail("workflow_inputs.default", f"{key!r} is already sent by the module (declared or correlation)")
        self.input_count(spec, len(defaults), extra)
        self.variable_clashes(spec)

    def module_inputs(self, spec: ModuleSpec, names: Mapping[str, int]) -> list[str]:
        """The inputs the dispatcher adds (run URL, correlation), which no declared input may be named like."""
        extra: list[str] = []
        if spec.forward_run_url.exposed or spec.forward_run_url.value:
            extra.append(RUN_URL_INPUT)
        if spec.correlation_input.exposed or spec.correlation_input.value is not None:
            extra.append("the correlation input")
            if isinstance(spec.correlation_input.value, str) and spec.correlation_input.value.lower() in names:
                index = names[spec.correlation_input.value.lower()]
                self.fail(f"inputs[{index}].name", "clashes with correlation_input, which the dispatcher fills")
        if RUN_URL_INPUT.lower() in names and RUN_URL_INPUT in extra:
            self.fail(f"inputs[{names[RUN_URL_INPUT.lower()]}].name", f"{RUN_URL_INPUT} is sent by forward_run_url")
        phase = spec.phase_input
        if phase is not None and (phase.exposed or phase.value is not None):
            extra.append("the phase input")
            if isinstance(phase.value, str):
                if phase.value.lower() in names:
                    index = names[phase.value.lower()]
                    self.fail(f"inputs[{index}].name", "clashes with phase_input, which the dispatcher fills")
                correlation = spec.correlation_input.value
                if isinstance(correlation, str) and correlation.lower() == phase.value.lower():
                    self.fail("phase_input", "must differ from correlation_input; each gets its own value")
                if phase.value.lower() == RUN_URL_INPUT.lower() and RUN_URL_INPUT in extra:
                    self.fail("phase_input", f"{RUN_URL_INPUT} is sent by forward_run_url")
        return extra

    def input_count(self, spec: ModuleSpec, preset: int, extra: list[str]) -> None:
        """Declared + preset (``workflow_inputs``) + added inputs stay within GitHub's limit for the target."""
        total = len(spec.inputs) + preset + len(extra)
        if spec.input_limit is None:
            return
        if spec.target == "gitlab" and total > spec.input_limit:
            parts = " + ".join([f"{len(spec.inputs)} declared", *extra])
            self.fail("inputs", f"{total} inputs ({parts}) exceed GitLab's limit of {spec.input_limit} per pipeline")
        if total > spec.input_limit:
            what = "client_payload keys" if spec.event == "repository_dispatch" else "workflow inputs"
            counted = [f"{len(spec.inputs)} declared"] + ([f"{preset} in workflow_inputs"] if preset else [])
            parts = " + ".join([*counted, *extra])
            target = (
                "repository_dispatch"
                if spec.event == "repository_dispatch"
                else ("github.com" if spec.input_limit == 25 else "GitHub Enterprise Server")
            )
            self.fail("inputs", f"{total} {what} ({parts}) exceed GitHub's limit of {spec.input_limit} for {target}")

    def variable_clashes(self, spec: ModuleSpec) -> None:
        """No input's Terraform variable takes the name of a setting's variable or of another input's."""
        taken: dict[str, str] = {}
        for setting in (
            spec.api_url,
            spec.repository,
            spec.ref,
            spec.apply,
            spec.destroy,
            spec.workflow_inputs,
            spec.forward_run_url,
            spec.correlation_input,
            spec.wait,
            spec.wait_timeout_seconds,
            spec.poll_interval_seconds,
            spec.redispatch,
            spec.python,
            spec.phase_input,
        ):
            if setting is not None and setting.variable:
                taken[setting.variable] = setting.key
        for index, item in enumerate(spec.inputs):
            if item.variable is None:
                continue
            if item.variable in taken:
                where = taken[item.variable]
                self.fail(f"inputs[{index}].variable", f"variable {item.variable!r} is already used by {where}")
            taken[item.variable] = f"inputs[{index}]"
