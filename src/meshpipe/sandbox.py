"""The sandbox: fake meshStack and the fakes of every target (GitHub, GitLab, Azure DevOps, a webhook receiver)
started together and seeded with a building block (the team-bucket example unless told otherwise).

:class:`Sandbox` is the one place that starts and seeds the fakes; ``meshpipe sandbox`` (a long-running
process for developing a building block), ``meshpipe demo`` (:mod:`meshpipe.demo`; both commands live in
:mod:`meshpipe.sandbox_cli`) and the tests all use it.

Seeding mirrors what a platform team sets up once: credentials the module may use (a GitHub token, a GitLab access
token and trigger token, an Azure DevOps PAT, a webhook secret), a meshStack API key for the pipelines to report
with, and, in the fake of the block's target (:mod:`meshpipe.sandbox_targets`), the block's pipeline as its
definition declares it, whose body is the block's ``pipeline.py`` run with the environment a real pipeline would get
from its secrets.
"""

from __future__ import annotations

import os
import secrets
import signal
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from meshpipe.errors import MeshpipeError

if TYPE_CHECKING:
    from meshpipe.fakes.azure_devops import FakeAzureDevOps
    from meshpipe.fakes.github import FakeGitHub
    from meshpipe.fakes.gitlab import FakeGitLab
    from meshpipe.fakes.meshstack import FakeMeshStack
    from meshpipe.fakes.webhook import FakeWebhookReceiver
    from meshpipe.sandbox_block import Block
    from meshpipe.sandbox_targets import GitHubHost, TargetHost
    from meshpipe.sandbox_targets_ci import AzureHost, GitLabHost, WebhookHost

__all__ = [
    "DEFAULT_EXAMPLE",
    "REPOSITORY_ROOT",
    "SANDBOX_REPOSITORY",
    "Sandbox",
    "StopSignal",
    "WorkflowFile",
    "find_example",
    "load_workflow",
]

#: The source checkout this package runs from (``make demo`` installs it editable, so this is the clone).
REPOSITORY_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_EXAMPLE = "team-bucket"
#: the repository of the default example (its spec names it; kept for callers)
SANDBOX_REPOSITORY = "acme/team-bucket"
PLATFORM_WORKSPACE = "platform-team"
#: where the examples' pipelines keep what they "create" (a directory per resource), so a demo can look
STATE_DIR_ENV = ("TEAM_BUCKET_STATE_DIR", "MESHPIPE_EXAMPLE_STATE_DIR")
#: target -> the module variable naming the block's repository or project (an export line for a shell)
PROJECT_VARIABLES = {
    "github": "TF_VAR_github_repository",
    "gitlab": "TF_VAR_gitlab_project",
    "azure_devops": "TF_VAR_azure_devops_project",
}


def find_example(name_or_path: str | Path = DEFAULT_EXAMPLE) -> Path:
    """The directory of an example: a path, a name under ``examples/`` of the checkout (or of the current directory),
    or the name of an example shipped inside the package (an installed wheel)."""
    from meshpipe.sandbox_block import packaged_example

    candidates = [Path(name_or_path)] + [
        root / "examples" / str(name_or_path) for root in (REPOSITORY_ROOT, Path.cwd())
    ]
    candidate = next((path for path in candidates if (path / "pipeline.py").is_file()), None)
    # An installed wheel has no examples/ directory: the example's files ship inside the package.
    candidate = candidate or packaged_example(str(name_or_path))
    if candidate is None:
        raise MeshpipeError(
            f"example not found: {name_or_path} (expected a directory with pipeline.py, or the name of an example "
            f"shipped with meshpipe: {DEFAULT_EXAMPLE}); to host your own block use --block DIR"
        )
    return candidate.resolve()


@dataclass(frozen=True)
class WorkflowFile:
    """What the sandbox needs from a GitHub workflow file: its name, run-name and workflow_dispatch inputs."""

    file: str
    name: str | None
    run_name: str | None
    inputs: dict[str, dict[str, Any]]


def load_workflow(path: Path) -> WorkflowFile:
    """Read a workflow file's ``name``, ``run-name`` and ``on.workflow_dispatch.inputs``."""
    import yaml

    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(document, dict):
        raise MeshpipeError(f"{path}: not a workflow (expected a mapping)")
    # YAML 1.1 reads the bare key `on` as the boolean true.
    triggers = document.get("on", document.get(True))
    dispatch = triggers.get("workflow_dispatch") if isinstance(triggers, dict) else None
    if not isinstance(dispatch, dict):
        raise MeshpipeError(f"{path}: the workflow has no workflow_dispatch trigger with inputs")
    inputs: dict[str, dict[str, Any]] = {}
    for name, declared in (dispatch.get("inputs") or {}).items():
        declared = declared or {}
        entry: dict[str, Any] = {
            "type": declared.get("type", "string"),
            "required": bool(declared.get("required", False)),
        }
        if "default" in declared:
            default = declared["default"]
            entry["default"] = str(default).lower() if isinstance(default, bool) else str(default)
        if "options" in declared:
            entry["options"] = [str(option) for option in declared["options"]]
        inputs[str(name)] = entry
    return WorkflowFile(path.name, document.get("name"), document.get("run-name"), inputs)


@dataclass
class Credentials:
    """The sandbox's credentials, random per start (they are fake, so printing them is the point)."""

    client_id: str = field(default_factory=lambda: "sandbox-key-" + secrets.token_hex(4))
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    control_token: str = field(default_factory=lambda: secrets.token_urlsafe(24))  # every fake's /_fake/ secret
    #: set by :class:`Sandbox` to its GitHub host's token (kept here for the callers that read it)
    github_token: str = ""


class Sandbox:
    """Fake meshStack and every target's fake on 127.0.0.1, the block's target seeded with the block's pipeline.

    Use it as a context manager::

        with Sandbox() as box:
            run = box.meshstack.create_run(behavior="APPLY", inputs={...})
            ...  # terraform apply with box.module_env() and box.github_api_url

        with Sandbox("gitlab-namespace") as box:  # a block of another target: box.host is its fake's host
            ...  # box.module_env() holds GITLAB_TOKEN, box.host.wiring(box.block) the fake's API URL

    ``ports`` pins the other fakes' ports (``{"gitlab": 8082, "azure_devops": 8083, "webhook": 8084}``).
    """

    def __init__(
        self,
        example: str | Path = DEFAULT_EXAMPLE,
        *,
        github_port: int = 0,
        meshstack_port: int = 0,
        flavour: str = "github",
        repository: str | None = None,
        state_dir: Path | None = None,
        block: Block | None = None,
        ports: dict[str, int] | None = None,
    ) -> None:
        self._owned_stage: Any = None
        if block is None:
            block = self._example_block(find_example(example), repository)
        self.block = block
        #: where the runner emulation finds the definition and the module (see :class:`Block`)
        self.example = block.root
        self.flavour = flavour
        self.repository = repository or block.repository
        self.credentials = Credentials()
        #: Where the example's pipeline keeps its "buckets" (a directory per bucket), so a demo can look.
        self.state_dir = state_dir
        self._meshstack_port = meshstack_port
        self._meshstack: FakeMeshStack | None = None
        self._owned_state_dir: Any = None
        self._owned_env_dir: Any = None
        self.hosts: dict[str, TargetHost[Any]] = self._hosts(flavour, {"github": github_port, **(ports or {})})
        self.credentials.github_token = self.github_host.token

    def _hosts(self, flavour: str, ports: dict[str, int]) -> dict[str, TargetHost[Any]]:
        from meshpipe.sandbox_targets import GitHubHost, host_classes

        token = self.credentials.control_token
        hosts: dict[str, TargetHost[Any]] = {
            "github": GitHubHost(control_token=token, port=ports["github"], flavour=flavour)
        }
        for target, host in host_classes().items():
            if target != "github":
                hosts[target] = host(control_token=token, port=ports.get(target, 0))
        return hosts

    def _example_block(self, path: Path, repository: str | None) -> Block:
        """An example as a block: used in place in a clone, staged (module and definition rendered) when packaged."""
        import tempfile

        from meshpipe.sandbox_block import stage_block

        self._owned_stage = tempfile.TemporaryDirectory(prefix="meshpipe-example-")
        return stage_block(path, Path(self._owned_stage.name), repository=repository)

    # -- lifecycle -------------------------------------------------------------------------------------------
    def start(self) -> Sandbox:
        """Start the fakes and seed them; stops whatever started if seeding fails."""
        import tempfile

        from meshpipe.fakes.meshstack import FakeMeshStack

        if self.state_dir is None:
            self._owned_state_dir = tempfile.TemporaryDirectory(prefix="meshpipe-sandbox-")
            self.state_dir = Path(self._owned_state_dir.name)
        self._owned_env_dir = tempfile.TemporaryDirectory(prefix="meshpipe-sandbox-env-")
        try:
            for host in self.hosts.values():
                host.start()
            self._meshstack = FakeMeshStack(port=self._meshstack_port, control_token=self.credentials.control_token)
            self._meshstack.start()
            self.seed()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the fakes (idempotent)."""
        for host in self.hosts.values():
            host.stop()
        if self._meshstack is not None:
            self._meshstack.stop()
        self._meshstack = None
        if self._owned_env_dir is not None:
            self._owned_env_dir.cleanup()
            self._owned_env_dir = None
        if self._owned_state_dir is not None:
            self._owned_state_dir.cleanup()
            self._owned_state_dir = None
        if self._owned_stage is not None:
            self._owned_stage.cleanup()
            self._owned_stage = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    # -- accessors -------------------------------------------------------------------------------------------
    @property
    def host(self) -> TargetHost[Any]:
        """The host of the block's target (its fake runs the block's pipeline)."""
        return self.hosts[self.block.target]

    @property
    def github_host(self) -> GitHubHost:
        """The fake GitHub's host (its token, its flavour)."""
        return self.hosts["github"]  # type: ignore[return-value]

    @property
    def github(self) -> FakeGitHub:
        """The running fake GitHub."""
        return self.github_host.fake

    @property
    def gitlab(self) -> FakeGitLab:
        """The running fake GitLab."""
        host: GitLabHost = self.hosts["gitlab"]  # type: ignore[assignment]
        return host.fake

    @property
    def azure(self) -> FakeAzureDevOps:
        """The running fake Azure DevOps."""
        host: AzureHost = self.hosts["azure_devops"]  # type: ignore[assignment]
        return host.fake

    @property
    def webhook(self) -> FakeWebhookReceiver:
        """The running webhook receiver."""
        host: WebhookHost = self.hosts["webhook"]  # type: ignore[assignment]
        return host.fake

    @property
    def meshstack(self) -> FakeMeshStack:
        """The running fake meshStack."""
        if self._meshstack is None:
            raise MeshpipeError("the sandbox is not running")
        return self._meshstack

    @property
    def status_url(self) -> str:
        """The fake meshStack's status page (runs, sources, steps, messages, outputs; refreshes itself)."""
        return self.meshstack.url.rstrip("/") + "/"

    def workflows(self) -> list[WorkflowFile]:
        """The block's GitHub workflow files (``.github/workflows/*.yml``), sorted by file name."""
        return [load_workflow(path) for path in self.block.workflows]

    # -- seeding ---------------------------------------------------------------------------------------------
    def workflow_env(self) -> dict[str, str]:
        """What a real workflow would get from the repository's secrets and variables, plus a usable PATH.

        The venv's bin directory goes first so that ``meshpipe`` in the body is this installation.
        """
        bin_dir = str(Path(sys.executable).parent)
        return {
            "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", os.defpath)]),
            "PYTHONUNBUFFERED": "1",
            "MESHSTACK_ENDPOINT": self.meshstack.url,
            "MESHSTACK_CLIENT_ID": self.credentials.client_id,
            "MESHSTACK_CLIENT_SECRET": self.credentials.client_secret,
            **{name: str(self.state_dir) for name in STATE_DIR_ENV},
        }

    def seed(self) -> None:
        """API key, and the block's pipeline in its target's fake (body: e.g. ``pipeline.py job <phase>``, run in the
        block's directory as in a checkout)."""
        from meshpipe.sandbox_targets import write_env_file

        meshstack = self.meshstack
        meshstack.add_api_key(self.credentials.client_id, self.credentials.client_secret, workspace=PLATFORM_WORKSPACE)
        env = self.workflow_env()
        env_file = write_env_file(Path(self._owned_env_dir.name) / "pipeline-env.json", env)
        self.host.seed(self.block, env, env_file)

    # -- what a shell or terraform needs ---------------------------------------------------------------------
    @property
    def github_api_url(self) -> str:
        """The module's ``github_api_url`` (``/api/v3`` on the ghes flavour)."""
        return self.github.api_url

    def exports(self) -> dict[str, str]:
        """Environment for a shell that runs terraform against the sandbox and ``meshpipe run`` by hand: every
        target's credentials and URL, the block's repository or project, and meshStack's API key (last)."""
        exports: dict[str, str] = {}
        for host in self.hosts.values():
            exports.update(host.exports())
        exports.update(self.host.secret_env(self.block))
        if self.block.target in PROJECT_VARIABLES:
            exports[PROJECT_VARIABLES[self.block.target]] = self.repository
        return {
            **exports,
            "MESHPIPE_FAKE_CONTROL_TOKEN": self.credentials.control_token,
            "MESHSTACK_ENDPOINT": self.meshstack.url,
            "MESHSTACK_CLIENT_ID": self.credentials.client_id,
            "MESHSTACK_CLIENT_SECRET": self.credentials.client_secret,
        }

    def module_env(self) -> dict[str, str]:
        """The secret environment of terraform (what meshStack passes as environment inputs): the credentials of
        the block's target, under the names its spec reads."""
        return self.host.secret_env(self.block)

    def describe(self) -> str:
        """The banner ``meshpipe sandbox`` prints."""
        import shlex

        lines = [line for host in self.hosts.values() for line in host.describe()]
        if self.block.target == "github":
            pipeline = ", ".join(w.file for w in self.workflows())
        else:
            pipeline = str(self.block.pipeline) if self.block.pipeline else "(the webhook receiver above)"
        lines += [
            f"fake meshStack:            {self.meshstack.url}",
            f"status page:               {self.status_url}",
            f"hosted block:              {self.block.name or self.repository} (target {self.block.target})",
            f"repository:                {self.repository}",
            f"pipeline definition:       {pipeline}",
            f"pipeline body:             {shlex.join(self.block.body)} (in {self.block.source})",
            f"meshStack API key:         {self.credentials.client_id} / {self.credentials.client_secret}"
            f" (workspace {PLATFORM_WORKSPACE})",
            f"control secret:            {self.credentials.control_token} (header X-Meshpipe-Fake-Control, /_fake/)",
            "",
            "# paste into a shell:",
        ]
        lines += [f"export {name}={shlex.quote(value)}" for name, value in self.exports().items()]
        return "\n".join(lines)


class StopSignal:
    """Catches SIGINT and SIGTERM (Ctrl-C, a service manager) from ``__enter__`` on; :meth:`wait` blocks for one.

    Installing the handlers before anything is printed means a signal sent right after the banner still ends the
    process cleanly instead of as a KeyboardInterrupt.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self._event = threading.Event()
        self._received: list[str] = []
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        self._received.append(signal.Signals(signum).name)
        self._event.set()

    def __enter__(self) -> StopSignal:
        self._previous = {signum: signal.signal(signum, self._handle) for signum in self.SIGNALS}
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def wait(self) -> str:
        """Block until a signal arrives; return its name."""
        while not self._event.wait(0.5):
            pass
        return self._received[0]
