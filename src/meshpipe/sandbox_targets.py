"""The sandbox's CI/CD fakes, one host per target: started together, the hosted block's one seeded with its pipeline.

Each :class:`TargetHost` starts its fake on 127.0.0.1, creates the credentials a platform team would set up (a
token, a PAT, a webhook secret), and, for the target of the hosted block, registers what the block's pipeline
definition declares (the workflows, the project's ``spec:inputs``, the pipeline's ``parameters``, the receiver) with
a body that runs the block's pipeline in its directory against the fake meshStack. It also tells the rest of the
sandbox what terraform needs: the secret environment inputs (``secret_env``), the STATIC definition inputs that
point at the real service (``wiring``), the export lines, and which dispatches arrived (``dispatched``).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshpipe.errors import MeshpipeError

if TYPE_CHECKING:
    from meshpipe.fakes.azure_devops import FakeAzureDevOps
    from meshpipe.fakes.github import FakeGitHub
    from meshpipe.fakes.gitlab import FakeGitLab
    from meshpipe.fakes.webhook import FakeWebhookReceiver
    from meshpipe.sandbox_block import Block

__all__ = ["HOSTS", "AzureHost", "GitHubHost", "GitLabHost", "TargetHost", "WebhookHost", "in_directory"]

#: Runs the pipeline body in the block's directory (a checkout's place) with the environment in a 0600 file (the
#: meshStack API key a real pipeline gets from its secrets: never in argv); one line instead of a traceback if it
#: cannot. argv: block directory, environment file, the body's argv.
_IN_DIRECTORY = (
    "import json, os, sys\n"
    "os.chdir(sys.argv[1])\n"
    "if sys.argv[2] != '-':\n"
    "    with open(sys.argv[2], encoding='utf-8') as handle:\n"
    "        os.environ.update(json.load(handle))\n"
    "try:\n"
    "    os.execvp(sys.argv[3], sys.argv[3:])\n"
    "except OSError as exc:\n"
    "    sys.exit(f'sandbox: cannot run the pipeline body {sys.argv[3]!r}: {exc.strerror}')\n"
)


def in_directory(source: Path, body: list[str], env_file: Path | None = None) -> list[str]:
    """The command a fake runs as a pipeline: ``body`` in ``source``, with the environment from ``env_file``."""
    return [sys.executable, "-c", _IN_DIRECTORY, str(source), str(env_file or "-"), *body]


def write_env_file(path: Path, env: Mapping[str, str]) -> Path:
    """The pipeline's secrets for :func:`in_directory`, readable by this user only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(dict(env), handle)
    return path


class TargetHost:
    """One target's fake in the sandbox (see the module docstring)."""

    target = ""
    label = ""

    def __init__(self, *, control_token: str, port: int = 0) -> None:
        self.control_token = control_token
        self.port = port

    def start(self) -> None:
        """Start the fake and create its credentials."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the fake (idempotent)."""
        raise NotImplementedError

    def seed(self, block: Block, env: Mapping[str, str], env_file: Path) -> None:
        """Register the hosted block's pipeline; its body runs with ``env`` (also written to ``env_file``)."""
        raise NotImplementedError

    def secret_env(self, block: Block | None = None) -> dict[str, str]:
        """The secret environment inputs of terraform for this target (what meshStack passes as environment),
        under the names ``block``'s spec reads them from."""
        raise NotImplementedError

    def wiring(self, block: Block) -> dict[str, Any]:
        """STATIC definition inputs that point at the real service, replaced by the fake's (sandbox wiring)."""
        raise NotImplementedError

    def exports(self) -> dict[str, str]:
        """Export lines for a shell that applies the block's module by hand against this fake."""
        return dict(self.secret_env())

    def describe(self) -> list[str]:
        """The banner's lines for this fake."""
        raise NotImplementedError

    def dispatched(self, block: Block, phase: str) -> list[dict[str, Any]]:
        """The inputs of every accepted dispatch of ``phase`` (pipelines, runs, deliveries), oldest first."""
        raise NotImplementedError

    def pipeline_runs(self) -> list[tuple[str, str, str]]:
        """(id, title, state) of every pipeline run of this fake, for progress lines."""
        raise NotImplementedError

    @property
    def lock(self) -> Any:
        """The fake's state lock."""
        raise NotImplementedError


class GitHubHost(TargetHost):
    """Fake GitHub (github.com or GHES): a token for the block's repository and its workflows."""

    target = "github"
    label = "fake GitHub"

    def __init__(self, *, control_token: str, port: int = 0, flavour: str = "github") -> None:
        super().__init__(control_token=control_token, port=port)
        self.flavour = flavour
        self.token = "ghp_sandbox" + secrets.token_hex(16)
        self._fake: FakeGitHub | None = None

    @property
    def fake(self) -> FakeGitHub:
        if self._fake is None:
            raise MeshpipeError("the sandbox is not running")
        return self._fake

    @property
    def lock(self) -> Any:
        return self.fake.lock

    def start(self) -> None:
        from meshpipe.fakes.github import FakeGitHub

        self._fake = FakeGitHub(flavour=self.flavour, port=self.port, control_token=self.control_token)
        self._fake.start()

    def stop(self) -> None:
        if self._fake is not None:
            self._fake.stop()
        self._fake = None

    def seed(self, block: Block, env: Mapping[str, str], env_file: Path) -> None:
        from meshpipe.sandbox import load_workflow

        self.fake.add_token(self.token, repositories=[block.repository])
        self.fake.add_repository(block.repository)
        for path in block.workflows:
            workflow = load_workflow(path)
            phase = Path(workflow.file).stem
            self.fake.add_workflow(
                block.repository,
                workflow.file,
                inputs=workflow.inputs,
                name=workflow.name,
                run_name=workflow.run_name,
                command=in_directory(block.source, [word.replace("{workflow}", phase) for word in block.body]),
                env=dict(env),
            )

    def secret_env(self, block: Block | None = None) -> dict[str, str]:
        return {(block.auth.get("token_env") if block else None) or "GITHUB_TOKEN": self.token}

    def wiring(self, block: Block) -> dict[str, Any]:
        return {"github_api_url": self.fake.api_url}

    def exports(self) -> dict[str, str]:
        return {"GITHUB_TOKEN": self.token, "TF_VAR_github_api_url": self.fake.api_url}

    def describe(self) -> list[str]:
        return [
            f"fake GitHub ({self.flavour}):  {self.fake.html_url}   API: {self.fake.api_url}",
            f"GitHub token:              {self.token}",
        ]

    def dispatched(self, block: Block, phase: str) -> list[dict[str, Any]]:
        workflow = next((path.name for path in block.workflows if path.stem == phase), f"{phase}.yml")
        return [dict(dispatch.inputs) for dispatch in self.fake.dispatches_for(workflow=workflow)]

    def pipeline_runs(self) -> list[tuple[str, str, str]]:
        with self.fake.lock:
            return [
                (
                    str(run.id),
                    str(run.display_title),
                    f"{run.status}/{run.conclusion}" if run.conclusion else run.status,
                )
                for run in self.fake.runs
            ]


def _auth_names(block: Block, defaults: Mapping[str, str]) -> dict[str, str]:
    """The block's environment variable names per credential (the spec may rename them), else the defaults."""
    return {**defaults, **{key: value for key, value in block.auth.items() if key.endswith("_env")}}


def _named(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """``{ENV: value}`` for the names that are set (an empty name means "not used")."""
    return {name: value for name, value in pairs if name}


class GitLabHost(TargetHost):
    """Fake GitLab: an access token (``api`` scope) and a trigger token for the block's project, and the project
    with the ``spec:inputs`` and ``workflow:name`` of the block's ``.gitlab-ci.yml``."""

    target = "gitlab"
    label = "fake GitLab"

    def __init__(self, *, control_token: str, port: int = 0) -> None:
        super().__init__(control_token=control_token, port=port)
        self.token = "glpat-sandbox" + secrets.token_hex(10)
        self.trigger_token = ""
        self._fake: FakeGitLab | None = None

    @property
    def fake(self) -> FakeGitLab:
        if self._fake is None:
            raise MeshpipeError("the sandbox is not running")
        return self._fake

    @property
    def lock(self) -> Any:
        return self.fake.lock

    def start(self) -> None:
        from meshpipe.fakes.gitlab import FakeGitLab

        self._fake = FakeGitLab(port=self.port, control_token=self.control_token)
        self._fake.start()
        self.fake.add_access_token(self.token, scopes=("api",))

    def stop(self) -> None:
        if self._fake is not None:
            self._fake.stop()
        self._fake = None

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


class AzureHost(TargetHost):
    """Fake Azure DevOps: a PAT, the block's project and one pipeline with the ``parameters`` and ``name`` of the
    block's ``azure-pipelines.yml`` (it serves both phases: the phase is a parameter)."""

    target = "azure_devops"
    label = "fake Azure DevOps"

    def __init__(self, *, control_token: str, port: int = 0) -> None:
        super().__init__(control_token=control_token, port=port)
        self.pat = secrets.token_hex(26)
        self.pipeline_id: int | None = None
        self._fake: FakeAzureDevOps | None = None

    @property
    def fake(self) -> FakeAzureDevOps:
        if self._fake is None:
            raise MeshpipeError("the sandbox is not running")
        return self._fake

    @property
    def lock(self) -> Any:
        return self.fake.lock

    def start(self) -> None:
        from meshpipe.fakes.azure_devops import FakeAzureDevOps

        self._fake = FakeAzureDevOps(port=self.port, control_token=self.control_token)
        self._fake.start()
        self.fake.add_pat(self.pat, scopes=("vso.build_execute",))

    def stop(self) -> None:
        if self._fake is not None:
            self._fake.stop()
        self._fake = None

    def seed(self, block: Block, env: Mapping[str, str], env_file: Path) -> None:
        from meshpipe.sandbox_pipelines import load_azure_pipeline

        declared = load_azure_pipeline(block.pipeline) if block.pipeline else None
        self._project = block.repository
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
        if self.pipeline_id is None:
            return []
        return [
            dict(run.template_parameters)
            for run in self.fake.runs_for(block.repository, self.pipeline_id)
            if _phase_of(run.template_parameters, block) == phase
        ]

    def pipeline_runs(self) -> list[tuple[str, str, str]]:
        if self.pipeline_id is None or self._project is None:
            return []
        return [
            (str(run.id), str(run.name), f"{run.state}/{run.result}" if run.result else str(run.state))
            for run in self.fake.runs_for(self._project, self.pipeline_id)
        ]

    _project: str | None = None


class WebhookHost(TargetHost):
    """The webhook receiver: verifies meshpipe's signature with the sandbox's secret and runs the block's body per
    accepted delivery (a retry with the same idempotency key starts nothing); it answers a status URL, so a module
    that waits can."""

    target = "webhook"
    label = "webhook receiver"

    def __init__(self, *, control_token: str, port: int = 0) -> None:
        super().__init__(control_token=control_token, port=port)
        self.secret = secrets.token_urlsafe(24)
        self._fake: FakeWebhookReceiver | None = None

    @property
    def fake(self) -> FakeWebhookReceiver:
        if self._fake is None:
            raise MeshpipeError("the sandbox is not running")
        return self._fake

    @property
    def lock(self) -> Any:
        return self.fake.lock

    def start(self) -> None:
        from meshpipe.fakes.webhook import FakeWebhookReceiver

        self._fake = FakeWebhookReceiver(self.secret, port=self.port, control_token=self.control_token)
        self._fake.start()

    def stop(self) -> None:
        if self._fake is not None:
            self._fake.stop()
        self._fake = None

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


#: target -> its host class, in the order the banner lists them
HOSTS: dict[str, type[TargetHost]] = {
    "github": GitHubHost,
    "gitlab": GitLabHost,
    "azure_devops": AzureHost,
    "webhook": WebhookHost,
}
