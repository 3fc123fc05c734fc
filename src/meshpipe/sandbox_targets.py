"""The sandbox's CI/CD fakes, one host per target: started together, the hosted block's one seeded with its pipeline.

This module holds the frame and GitHub's host; :mod:`meshpipe.sandbox_targets_ci` those of GitLab, Azure DevOps and
the webhook receiver.

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
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from meshpipe.errors import MeshpipeError

if TYPE_CHECKING:
    from meshpipe.fakes._http import FakeServer
    from meshpipe.fakes.github import FakeGitHub
    from meshpipe.sandbox_block import Block

__all__ = ["GitHubHost", "TargetHost", "host_classes", "in_directory", "write_env_file"]

FakeT = TypeVar("FakeT", bound="FakeServer")

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


class TargetHost(Generic[FakeT]):
    """One target's fake in the sandbox (see the module docstring); subclasses create the fake in :meth:`_create`."""

    target = ""
    label = ""

    def __init__(self, *, control_token: str, port: int = 0) -> None:
        self.control_token = control_token
        self.port = port
        self._fake: FakeT | None = None

    def _create(self) -> FakeT:
        """Start the fake and create its credentials."""
        raise NotImplementedError

    def start(self) -> None:
        """Start the fake and create its credentials."""
        self._fake = self._create()

    def stop(self) -> None:
        """Stop the fake (idempotent)."""
        if self._fake is not None:
            self._fake.stop()
        self._fake = None

    @property
    def fake(self) -> FakeT:
        """The running fake."""
        if self._fake is None:
            raise MeshpipeError("the sandbox is not running")
        return self._fake

    @property
    def lock(self) -> Any:
        """The fake's state lock."""
        return self.fake.lock

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


class GitHubHost(TargetHost["FakeGitHub"]):
    """Fake GitHub (github.com or GHES): a token for the block's repository and its workflows."""

    target = "github"
    label = "fake GitHub"

    def __init__(self, *, control_token: str, port: int = 0, flavour: str = "github") -> None:
        super().__init__(control_token=control_token, port=port)
        self.flavour = flavour
        self.token = "ghp_sandbox" + secrets.token_hex(16)

    def _create(self) -> FakeGitHub:
        from meshpipe.fakes.github import FakeGitHub

        return FakeGitHub(flavour=self.flavour, port=self.port, control_token=self.control_token).start()

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


def host_classes() -> dict[str, type[TargetHost[Any]]]:
    """Target -> its host class, in the order the banner lists them."""
    from meshpipe.sandbox_targets_ci import AzureHost, GitLabHost, WebhookHost

    return {"github": GitHubHost, "gitlab": GitLabHost, "azure_devops": AzureHost, "webhook": WebhookHost}
