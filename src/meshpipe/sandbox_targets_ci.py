"""The sandbox's hosts of GitLab, Azure DevOps and the webhook receiver (see :mod:`meshpipe.sandbox_targets`).

Each creates the credentials a platform team would (a GitLab access token with the ``api`` scope and a trigger token,
an Azure DevOps PAT with Build: Read & execute, the webhook's HMAC secret) and registers the hosted block's pipeline
as its definition declares it; the fakes then refuse what the real services refuse.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshpipe.sandbox_targets import TargetHost, in_directory

if TYPE_CHECKING:
    from meshpipe.fakes.azure_devops import FakeAzureDevOps
    from meshpipe.fakes.azure_devops_runs import PipelineRun
    from meshpipe.fakes.gitlab import FakeGitLab
    from meshpipe.fakes.webhook import FakeWebhookReceiver
    from meshpipe.sandbox_block import Block

__all__ = ["AzureHost", "GitLabHost", "WebhookHost"]


def _auth_names(block: Block, defaults: Mapping[str, str]) -> dict[str, str]:
    """The block's environment variable names per credential (the spec may rename them), else the defaults."""
    return {**defaults, **{key: value for key, value in block.auth.items() if key.endswith("_env")}}


def _named(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """``{ENV: value}`` for the names that are set (an empty name means "not used")."""
    return {name: value for name, value in pairs if name}


class GitLabHost(TargetHost["FakeGitLab"]):
    """Fake GitLab: an access token (``api`` scope) and a trigger token for the block's project, and the project
    with the ``spec:inputs`` and ``workflow:name`` of the block's ``.gitlab-ci.yml``."""

    target = "gitlab"
    label = "fake GitLab"

    def __init__(self, *, control_token: str, port: int = 0) -> None:
        super().__init__(control_token=control_token, port=port)
        self.token = "glpat-sandbox" + secrets.token_hex(10)
        self.trigger_token = ""

    def _create(self) -> FakeGitLab:
        from meshpipe.fakes.gitlab import FakeGitLab

        fake = FakeGitLab(port=self.port, control_token=self.control_token).start()
        fake.add_access_token(self.token, scopes=("api",))
        return fake

    def seed(self, block: Block, env: Mapping[str, str], env_file: Path) -> None:
        from meshpipe.sandbox_pipelines import load_gitlab_pipeline

        declared = load_gitlab_pipeline(block.pipeline) if block.pipeline else None
        self.fake.add_project(
            block.repository,
            ci_inputs=declared.inputs if declared else None,
            name_template=declared.name if declared else None,
            command=in_directory(block.source, list(block.body), env_file),
            after_command=in_directory(block.source, list(block.after), env_file) if block.after else None,
            duration=None,
        )
        self.trigger_token = self.fake.add_trigger_token(block.repository)

    def secret_env(self, block: Block | None = None) -> dict[str, str]:
        from meshpipe.contract import DEFAULT_GITLAB_AUTH

        names = _auth_names(block, DEFAULT_GITLAB_AUTH) if block else DEFAULT_GITLAB_AUTH
        return _named([(names["token_env"], self.token), (names["trigger_token_env"], self.trigger_token)])

    def wiring(self, block: Block) -> dict[str, Any]:
        return {"gitlab_api_url": self.fake.api_url}

    def exports(self) -> dict[str, str]:
        return {**self.secret_env(), "TF_VAR_gitlab_api_url": self.fake.api_url}

    def describe(self) -> list[str]:
        trigger = f", trigger token {self.trigger_token}" if self.trigger_token else ""
        return [
            f"fake GitLab:               {self.fake.url}   API: {self.fake.api_url}",
            f"GitLab access token:       {self.token}{trigger}",
        ]

    def dispatched(self, block: Block, phase: str) -> list[dict[str, Any]]:
        sent = [
            {**pipeline.inputs, **{item["key"]: item["value"] for item in pipeline.variables}}
            for pipeline in self.fake.pipelines_for(block.repository)
        ]
        return [values for values in sent if _phase_of(values, block) == phase]

    def pipeline_runs(self) -> list[tuple[str, str, str]]:
        return [(str(p.id), str(p.name or p.ref), str(p.status)) for p in self.fake.pipelines_for()]


def _phase_of(values: Mapping[str, Any], block: Block) -> str | None:
    """The phase a dispatch carried in the block's phase input (``apply`` when the block has none)."""
    if not block.phase_input:
        return "apply"
    value = values.get(block.phase_input)
    return str(value) if value is not None else None


class AzureHost(TargetHost["FakeAzureDevOps"]):
    """Fake Azure DevOps: a PAT, the block's project and one pipeline with the ``parameters`` and ``name`` of the
    block's ``azure-pipelines.yml`` (it serves both phases: the phase is a parameter)."""

    target = "azure_devops"
    label = "fake Azure DevOps"

    def __init__(self, *, control_token: str, port: int = 0) -> None:
        super().__init__(control_token=control_token, port=port)
        self.pat = secrets.token_hex(26)
        #: the block's project and the pipeline the sandbox created for it (both phases run it)
        self.project: str | None = None
        self.pipeline_id: int | None = None

    def _create(self) -> FakeAzureDevOps:
        from meshpipe.fakes.azure_devops import FakeAzureDevOps

        fake = FakeAzureDevOps(port=self.port, control_token=self.control_token).start()
        fake.add_pat(self.pat, scopes=("vso.build_execute",))
        return fake

    def seed(self, block: Block, env: Mapping[str, str], env_file: Path) -> None:
        from meshpipe.sandbox_pipelines import load_azure_pipeline

        declared = load_azure_pipeline(block.pipeline) if block.pipeline else None
        self.project = block.repository
        self.pipeline_id = self.fake.add_pipeline(
            block.repository,
            block.name or "pipeline",
            parameters=declared.inputs if declared else {},
            name_template=declared.name if declared else None,
            command=in_directory(block.source, list(block.body), env_file),
            final_command=in_directory(block.source, list(block.after), env_file) if block.after else None,
            duration=None,
        )

    def secret_env(self, block: Block | None = None) -> dict[str, str]:
        from meshpipe.contract import DEFAULT_AZURE_AUTH

        names = _auth_names(block, DEFAULT_AZURE_AUTH) if block else DEFAULT_AZURE_AUTH
        return _named([(names["pat_env"], self.pat)])

    def wiring(self, block: Block) -> dict[str, Any]:
        wired: dict[str, Any] = {"azure_devops_org_url": self.fake.org_url}
        if self.pipeline_id is not None:
            wired.update(apply_pipeline_id=self.pipeline_id, destroy_pipeline_id=self.pipeline_id)
        return wired

    def exports(self) -> dict[str, str]:
        return {**self.secret_env(), "TF_VAR_azure_devops_org_url": self.fake.org_url}

    def describe(self) -> list[str]:
        pipeline = f", pipeline id {self.pipeline_id}" if self.pipeline_id is not None else ""
        return [
            f"fake Azure DevOps:         {self.fake.org_url}{pipeline}",
            f"Azure DevOps PAT:          {self.pat}",
        ]

    def dispatched(self, block: Block, phase: str) -> list[dict[str, Any]]:
        return [
            dict(run.template_parameters) for run in self._runs() if _phase_of(run.template_parameters, block) == phase
        ]

    def pipeline_runs(self) -> list[tuple[str, str, str]]:
        return [
            (str(run.id), str(run.name), f"{run.state}/{run.result}" if run.result else str(run.state))
            for run in self._runs()
        ]

    def _runs(self) -> list[PipelineRun]:
        if self.pipeline_id is None or self.project is None:
            return []
        return self.fake.runs_for(self.project, self.pipeline_id)


class WebhookHost(TargetHost["FakeWebhookReceiver"]):
    """The webhook receiver: verifies meshpipe's signature with the sandbox's secret and runs the block's body per
    accepted delivery (a retry with the same idempotency key starts nothing); it answers a status URL, so a module
    that waits can."""

    target = "webhook"
    label = "webhook receiver"

    def __init__(self, *, control_token: str, port: int = 0) -> None:
        super().__init__(control_token=control_token, port=port)
        self.secret = secrets.token_urlsafe(24)

    def _create(self) -> FakeWebhookReceiver:
        from meshpipe.fakes.webhook import FakeWebhookReceiver

        return FakeWebhookReceiver(self.secret, port=self.port, control_token=self.control_token).start()

    def seed(self, block: Block, env: Mapping[str, str], env_file: Path) -> None:
        # status_url: a module that waits polls the job's status URL, as with a receiver that offers one
        command = in_directory(block.source, list(block.body), env_file)
        self.fake.configure(command=command, duration=None, status_url=True)

    def secret_env(self, block: Block | None = None) -> dict[str, str]:
        from meshpipe.contract import DEFAULT_WEBHOOK_AUTH

        names = _auth_names(block, DEFAULT_WEBHOOK_AUTH) if block else DEFAULT_WEBHOOK_AUTH
        return _named([(names["secret_env"], self.secret)])

    def wiring(self, block: Block) -> dict[str, Any]:
        return {"webhook_url": self.fake.url}

    def exports(self) -> dict[str, str]:
        return {**self.secret_env(), "TF_VAR_webhook_url": self.fake.url}

    def describe(self) -> list[str]:
        return [
            f"webhook receiver:          {self.fake.url}",
            f"webhook secret:            {self.secret}",
        ]

    def dispatched(self, block: Block, phase: str) -> list[dict[str, Any]]:
        with self.fake.lock:
            first = [delivery.payload for delivery in self.fake.deliveries if not delivery.duplicate]
        return [dict(payload.get("inputs") or {}) for payload in first if payload.get("phase") == phase]

    def pipeline_runs(self) -> list[tuple[str, str, str]]:
        with self.fake.lock:
            jobs = list(self.fake.jobs)
        return [(str(job.id), f"{job.payload.get('event')} [{job.key}]", job.status) for job in jobs]
