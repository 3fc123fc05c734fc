"""Building block runs on the sandbox, executed by the runner emulation from the example's published definition.

:class:`BlockRuns` is what ``meshpipe sandbox``, ``meshpipe demo`` and the tests use to play meshStack's part:
it reads the definition file (``examples/<name>/publish/definition.tf``), creates runs in the fake meshStack with
the inputs and the Terraform implementation meshStack would derive from it, approves DETECT runs, and lets
:class:`~meshpipe.fakes.runner.TerraformRunner` claim and execute them with real terraform.

*Sandbox wiring* (never part of what meshStack runs): the STATIC inputs that point at the real world are replaced
(``github_api_url`` -> the fake GitHub, ``gitlab_api_url``, ``azure_devops_org_url`` and the pipeline ids,
``webhook_url``, ``python`` -> this interpreter), and the definition's variables get the sandbox's credentials for
the block's target (``github_token``, ``gitlab_token``, ``azure_devops_pat``, ``meshpipe_webhook_secret``, ...: the
definition passes them to terraform as secret environment inputs under the names the spec reads).
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshpipe.errors import MeshpipeError

if TYPE_CHECKING:
    from meshpipe.fakes.meshstack_runs import FakeRun
    from meshpipe.fakes.runner import RunOutcome, TerraformDefinition, TerraformRunner
    from meshpipe.sandbox import Sandbox

__all__ = ["TERMINAL", "BlockRuns", "RunnerLoop", "add_run_routes", "definition_path", "usage"]

TERMINAL = ("SUCCEEDED", "FAILED", "ABORTED")


def definition_path(example: Path) -> Path:
    """The example's published definition (``publish/definition.tf``)."""
    path = example / "publish" / "definition.tf"
    if not path.is_file():
        raise MeshpipeError(f"{path}: no definition file; render it with `meshpipe definition render`")
    return path


class BlockRuns:
    """Runs of one example's building block definition on a running :class:`~meshpipe.sandbox.Sandbox`."""

    def __init__(
        self,
        box: Sandbox,
        *,
        definition: Path | None = None,
        wiring: Mapping[str, Any] | None = None,
        variables: Mapping[str, str] | None = None,
        work_root: Path | None = None,
        timeout: float = 600,
        liveness_seconds: float = 10.0,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        from meshpipe.fakes.runner import TerraformRunner, load_definition

        self.box = box
        self.path = definition or definition_path(box.example)
        # The definition file names each secret variable after the environment variable it fills, lower-cased.
        secrets_by_variable = {name.lower(): value for name, value in box.module_env().items()}
        self.definition: TerraformDefinition = load_definition(
            self.path, {"github_token": box.credentials.github_token, **secrets_by_variable, **(variables or {})}
        )
        statics = {name for name, item in self.definition.inputs.items() if item.assignment_type == "STATIC"}
        defaults = {"github_api_url": box.github_api_url, **box.host.wiring(box.block), "python": sys.executable}
        self.wiring = {**{k: v for k, v in defaults.items() if k in statics}, **(wiring or {})}
        # The repository the definition names is the checkout holding the example (or, for an example copied
        # elsewhere, the example itself with repository_path "module": sandbox wiring too).
        self.repository, self.repository_path = _repository(box.example, self.definition.repository_path)
        self.runner: TerraformRunner = TerraformRunner(
            self.repository, work_root=work_root, timeout=timeout, liveness_seconds=liveness_seconds, on_line=on_line
        )
        self._token = "runner-" + secrets.token_hex(12)
        box.meshstack.add_api_token(self._token, workspace="platform-team")
        box.meshstack.runner_api.add_runner(self.runner.runner_uuid)

    def create_run(
        self, behavior: str, inputs: Mapping[str, Any] | None = None, *, building_block_uuid: str | None = None
    ) -> FakeRun:
        """A run of ``behavior`` for a block ordered with ``inputs`` (a new block unless ``building_block_uuid``)."""
        run_inputs = self.definition.run_inputs(
            dict(inputs or {}), context={"workspace": "team-alpha", "project": "alpha-dev"}, overrides=self.wiring
        )
        return self.box.meshstack.create_run(
            behavior=behavior,
            inputs=run_inputs,
            building_block_uuid=building_block_uuid,
            implementation={**self.definition.implementation(), "repositoryPath": self.repository_path},
        )

    def approve(self, detect: FakeRun) -> FakeRun:
        """Approve a DETECT run's plan: the APPLY run that replays it."""
        return self.box.meshstack.runner_api.approve(detect.uuid)

    def execute_next(self) -> RunOutcome | None:
        """Let the runner claim the oldest pending run and execute it; ``None`` when nothing is pending."""
        run = self.runner.claim(self.box.meshstack.url, self._token)
        return None if run is None else self.runner.execute(run)

    def execute(self, run: FakeRun) -> RunOutcome:
        """Execute ``run``, which must be the next pending one (runs are claimed oldest first)."""
        outcome = self.execute_next()
        if outcome is None or outcome.run_uuid != run.uuid:
            raise MeshpipeError(f"run {run.uuid} was not the next pending run")
        return outcome

    def wait_terminal(self, run: FakeRun, seconds: float = 30) -> str:
        """Wait (bounded) until the run reads a terminal status; return the status it reads."""
        deadline = time.monotonic() + seconds
        while True:
            with self.box.meshstack.lock:
                status = run.status
            if status in TERMINAL or time.monotonic() > deadline:
                return status
            time.sleep(0.1)


def _repository(example: Path, repository_path: str) -> tuple[Path, str]:
    """The local "repository" and the path of the module in it."""
    for candidate in (example, *example.parents):
        if repository_path and (candidate / repository_path / "main.tf").is_file():
            return candidate, repository_path
    if (example / "module" / "main.tf").is_file():
        return example, "module"
    raise MeshpipeError(f"cannot find the module: no {repository_path!r} above {example}, no {example / 'module'}")


class RunnerLoop:
    """The runner's poll loop for ``meshpipe sandbox``: claims pending runs and executes them, one at a time."""

    def __init__(self, runs: BlockRuns, *, interval: float = 0.5, report: Callable[[str], None] | None = None) -> None:
        import threading

        self.runs = runs
        self.interval = interval
        self.report = report or (lambda _line: None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sandbox-runner", daemon=True)

    def start(self) -> RunnerLoop:
        """Start polling."""
        self._thread.start()
        return self

    def stop(self, seconds: float = 10) -> None:
        """Stop polling (a run in progress gets ``seconds`` to end; the thread is a daemon either way)."""
        self._stop.set()
        self._thread.join(seconds)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                outcome = self.runs.execute_next()
            except Exception as exc:  # one line, then keep polling: the sandbox must stay up
                self.report(f"runner: {type(exc).__name__}: {exc}")
                continue
            if outcome is not None:
                self.report(f"runner: {outcome.behavior} run {outcome.run_uuid} -> {outcome.status}")


def add_run_routes(runs: BlockRuns) -> None:
    """``POST /_fake/block-runs {"behavior", "inputs", "building_block_uuid"}`` on the fake meshStack: a run of the
    definition, for the runner loop to execute (approve a DETECT run with ``POST /_fake/runs/{uuid}/approve``)."""
    from meshpipe.fakes._http import HttpError, Request, Response
    from meshpipe.fakes.runner import DefinitionError

    fake = runs.box.meshstack
    known = {"behavior", "inputs", "building_block_uuid"}

    def create(request: Request) -> Response:
        data = request.json() or {}
        if not isinstance(data, dict) or set(data) - known:
            raise HttpError(400, f"a JSON object with the keys {sorted(known)} is required")
        if data.get("behavior") not in ("APPLY", "DETECT", "DESTROY"):
            raise HttpError(400, "behavior must be one of APPLY, DETECT, DESTROY")
        try:
            run = runs.create_run(
                data["behavior"], data.get("inputs") or {}, building_block_uuid=data.get("building_block_uuid")
            )
        except DefinitionError as exc:
            raise HttpError(400, str(exc)) from None
        return Response(status=201, body=fake.run_view(run))

    fake.control_route("POST", "/block-runs", create)


def usage(runs: BlockRuns) -> str:
    """How to order, preview, approve and delete a block on the running sandbox (printed by ``meshpipe sandbox``)."""
    base = runs.box.meshstack.url
    example = {name: "..." for name, item in runs.definition.inputs.items() if item.assignment_type == "USER_INPUT"}
    inputs = ", ".join(f'"{name}": "{value}"' for name, value in list(example.items())[:1])
    secret = f"X-Meshpipe-Fake-Control: {runs.box.meshstack.control_token}"
    post = f"curl -s -X POST -H '{secret}' -H 'Content-Type: application/json' {base}/_fake"
    return "\n".join(
        [
            f"runner emulation: runner {runs.runner.runner_uuid} executes every run of {runs.path}",
            "# a DETECT run (plan only); then approve it: an APPLY run replaying the plan",
            f'{post}/block-runs -d \'{{"behavior": "DETECT", "inputs": {{{inputs}}}}}\'',
            f"{post}/runs/<DETECT run uuid>/approve",
            "# a fresh APPLY, or a DESTROY of the same building block",
            f'{post}/block-runs -d \'{{"behavior": "APPLY", "inputs": {{{inputs}}}}}\'',
            f'{post}/block-runs -d \'{{"behavior": "DESTROY", "inputs": {{{inputs}}}, '
            '"building_block_uuid": "<uuid>"}\'',
        ]
    )
