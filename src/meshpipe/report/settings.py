"""Resolve the run locator, the credentials and the runner paths once, from a mapping.

The run locator is found by :mod:`meshpipe.report.locator`, the credentials by
:mod:`meshpipe.report.credential_sources` (both documented there); this module combines them with the runner's paths
and the tuning knobs into one :class:`Settings`.

Where credentials may go: only to the configured endpoint, ``MESHSTACK_ENDPOINT``, or -- when none is configured --
to the run URL's origin. ``_links.meshstackBaseUrl`` and the other links of a run object never widen that: the run
object is a workflow input that anyone who may dispatch the workflow controls. A run URL on another origin than
``MESHSTACK_ENDPOINT`` is refused unless ``--allow-foreign-run-url`` / ``MESHPIPE_ALLOW_FOREIGN_RUN_URL=true``.

State between steps: ``$MESHPIPE_STATE_DIR``, else the job's temp directory (one file, so later steps need no
flags): GitHub Actions ``$RUNNER_TEMP``; Azure Pipelines ``$AGENT_TEMPDIRECTORY`` (cleaned after every job); GitLab
CI, which has no job temp directory, a private ``meshpipe-job-$CI_JOB_ID`` directory in the runner's
``$RUNNER_TEMP_PROJECT_DIR`` (``$CI_PROJECT_DIR.tmp``: beside the working tree, so no ``artifacts:paths`` picks up the
cached login; the runner sets it since 15.x) or else in ``$CI_PROJECT_DIR/.meshpipe`` -- both on the builds volume
that ``after_script``, a separate shell (with the Docker executor even a separate container), shares with
``script``. Off a CI: a per-user directory (``$XDG_RUNTIME_DIR/meshpipe`` or ``$TMPDIR/meshpipe-<uid>``) with one
file per run URL. The CI itself is detected by :func:`meshpipe.report.ci.detect_ci`.

Extra secrets: ``MESHPIPE_REDACT_VARIABLES``, a comma-separated list of environment variable names whose values are
redacted (``***``) from everything meshpipe sends or prints, like the credentials it knows of (a name that is unset
or empty is skipped).

Tuning for tests and impatient pipelines: ``MESHPIPE_RETRY_BASE_DELAY`` (seconds, default 1),
``MESHPIPE_RETRY_ATTEMPTS`` (default 5), ``MESHPIPE_TIMEOUT`` (total seconds per request, default 30).

A time budget for one command: ``--deadline`` or ``MESHPIPE_DEADLINE_SECONDS`` bounds the time all of a command's
requests and retry pauses take together (``0``: no budget; see :mod:`meshpipe.report.transport`). Without either
there is no budget -- the per-request bounds above allow 5 x 30 s plus 4 pauses of up to 60 s -- except for
``finish`` on GitLab CI, which gets :data:`GITLAB_FINISH_DEADLINE` (240 s): ``finish`` runs in ``after_script``,
which the runner stops after 5 minutes by default (gitlab-org/gitlab-runner#2716: "The after_script timeout is
currently hardcoded to 5 minutes"; since gitlab-org/gitlab-runner!4335 the job variable ``RUNNER_AFTER_SCRIPT_TIMEOUT``
changes it, docs.gitlab.com ``ci/runners/configure_runners``, "Set script and after_script timeouts"; *unverified*:
the exact runner release, 16.4 by secondary sources), and a killed ``finish`` leaves the run IN_PROGRESS without a
word in the log. 240 s leaves a minute for fetching the bundle before it and for the error line. A job that raises
``RUNNER_AFTER_SCRIPT_TIMEOUT`` can raise ``MESHPIPE_DEADLINE_SECONDS`` with it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from meshpipe.contract import MESHSTACK_CLIENT_SECRET_ENV, MESHSTACK_ENDPOINT_ENV, RUN_URL_INPUT
from meshpipe.report.ci import detect_ci
from meshpipe.report.credential_sources import (
    CREDENTIAL_LABELS,
    TOKEN_FILE_NAME,
    Credentials,
    check_token,
    find_credentials,
    read_token_file,
)
from meshpipe.report.errors import ConfigurationError
from meshpipe.report.locator import CI_RUN_URL_VARIABLES, endpoint_url, locate_run, origin, read_state_run_url
from meshpipe.report.model import RunObject

# CREDENTIAL_LABELS, Credentials, TOKEN_FILE_NAME, check_token, origin and read_token_file are re-exported: they
# were defined here first, and callers still import them from here.
__all__ = [
    "CREDENTIAL_LABELS",
    "DEFAULT_RETRY_ATTEMPTS",
    "DEFAULT_RETRY_BASE_DELAY",
    "DEFAULT_TIMEOUT",
    "GITLAB_FINISH_DEADLINE",
    "TOKEN_FILE_NAME",
    "Credentials",
    "Settings",
    "check_token",
    "on_github_actions",
    "origin",
    "read_token_file",
]

#: total seconds for one request (connect, send, answer); a hung or dripping meshStack must not hang the pipeline.
DEFAULT_TIMEOUT = 30.0
DEFAULT_RETRY_BASE_DELAY = 1.0
DEFAULT_RETRY_ATTEMPTS = 5
#: the time budget of ``finish`` on GitLab CI, under ``after_script``'s default 5-minute limit (module docstring)
GITLAB_FINISH_DEADLINE = 240.0

#: the proxy variables the transport honours (lower or upper case)
_PROXY_VARIABLES = ("https_proxy", "http_proxy", "no_proxy")
STATE_FILE_NAME = "meshpipe_run_state.json"


@dataclass(frozen=True)
class Settings:
    """Everything the reporter needs from its environment, resolved once."""

    run_url: str | None
    run_object: RunObject | None
    locator: str
    credentials: Credentials | None
    runner_temp: Path | None
    github_output: Path | None
    github_step_summary: Path | None
    on_github_actions: bool
    external_run_id: str | None
    external_run_url: str | None
    timeout: float = DEFAULT_TIMEOUT
    retry_base_delay: float = DEFAULT_RETRY_BASE_DELAY
    retry_attempts: int = DEFAULT_RETRY_ATTEMPTS
    #: the time budget in seconds of all the command's requests together; None: no budget (module docstring)
    deadline: float | None = None
    #: ``MESHSTACK_ENDPOINT`` without a trailing slash: the only place credentials go (see the module docstring)
    endpoint: str | None = None
    allow_foreign_run_url: bool = False
    #: ``--source-id`` or ``MESHSTACK_SOURCE_ID``; None = what an earlier step recorded, else ``github``
    source_id: str | None = None
    #: ``$MESHPIPE_STATE_DIR`` or ``$RUNNER_TEMP``: a job-wide state file that also locates the run
    state_dir: Path | None = None
    #: where per-run state files live when there is no ``state_dir`` (a laptop, another CI)
    user_state_dir: Path | None = None
    #: ``HTTPS_PROXY``/``HTTP_PROXY``/``NO_PROXY`` (either case) for the transport; a proxy URL can hold a password
    proxy_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: the CI this step runs in: ``github``, ``gitlab``, ``azure`` or ``none`` (:func:`meshpipe.report.ci.detect_ci`)
    ci: str = "none"
    #: ``$MESHPIPE_DOTENV_FILE``: the GitLab job's ``artifacts:reports:dotenv`` file that outputs go to
    dotenv_file: Path | None = None
    #: whether meshpipe chose ``state_dir`` itself (GitLab's job directory) and must keep it private
    state_dir_private: bool = False
    #: the source id when neither a flag, the environment nor an earlier step names one
    default_source_id: str = "github"
    #: the values of the variables ``MESHPIPE_REDACT_VARIABLES`` names: secrets to redact like the credentials
    redact_values: tuple[str, ...] = field(default=(), repr=False)

    @property
    def state_path(self) -> Path | None:
        """Where the state of this run lives: ``{state_dir}/meshpipe_run_state.json``, else a per-run file.

        Off GitHub Actions (no ``$RUNNER_TEMP``) the guard rails still work: the state goes to a per-user directory,
        one file per run URL, so two runs on one machine never share it.
        """
        if self.state_dir is not None:
            return self.state_dir / STATE_FILE_NAME
        if self.user_state_dir is None or not self.run_url:
            return None
        import hashlib  # only off the runner

        key = hashlib.sha256(self.run_url.encode()).hexdigest()[:32]
        return self.user_state_dir / f"run-{key}.json"

    def trusted_origins(self) -> frozenset[str]:
        """The origins credentials may be sent to; refuses a run URL on a foreign origin (one line, both named)."""
        run_origin = origin(self.run_url)
        if self.endpoint is None:
            return frozenset({run_origin} if run_origin else ())
        endpoint_origin = origin(self.endpoint)
        assert endpoint_origin is not None
        if run_origin and run_origin != endpoint_origin:
            if not self.allow_foreign_run_url:
                raise ConfigurationError(
                    f"the run URL is on {run_origin}, not on the configured meshStack endpoint {endpoint_origin} "
                    "(MESHSTACK_ENDPOINT); refusing to send credentials there (allow it with --allow-foreign-run-url "
                    "or MESHPIPE_ALLOW_FOREIGN_RUN_URL=true)"
                )
            return frozenset({endpoint_origin, run_origin})
        return frozenset({endpoint_origin})

    @property
    def token_file(self) -> Path | None:
        """The official auth action's token file, ``$RUNNER_TEMP/meshstack_token.json``."""
        return self.runner_temp / TOKEN_FILE_NAME if self.runner_temp else None

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        run_url: str | None = None,
        run_b64: str | None = None,
        state_run_url: str | None = None,
        source_id: str | None = None,
        allow_foreign_run_url: bool = False,
        deadline: float | None = None,
        command: str | None = None,
    ) -> Settings:
        """Resolve from ``environ`` (a plain dict in tests) and the command-line flags.

        ``state_run_url`` is the run URL recorded by an earlier step (read by the caller from the state file).
        ``deadline`` is ``--deadline``; ``command`` the ``meshpipe run`` command, which picks the default budget.
        """
        env = {k: v for k, v in environ.items() if v != ""}
        ci = detect_ci(env)
        if ci == "azure":
            # `env: {X: $(X)}` passes the literal "$(X)" when the pipeline has no variable X: that is unset.
            env = {k: v for k, v in env.items() if not _AZURE_MACRO.fullmatch(v)}
        runner_temp, private = _job_temp_dir(ci, env)
        own_state_dir = _path(env.get("MESHPIPE_STATE_DIR"))
        state_dir = own_state_dir or runner_temp
        if state_run_url is None and state_dir is not None:
            state_run_url = read_state_run_url(state_dir / STATE_FILE_NAME)
        found = locate_run(env, run_url=run_url, run_b64=run_b64, state_run_url=state_run_url, ci=ci)
        external_run_id, external_run_url = _external_run(ci, env)
        return cls(
            run_url=found.url,
            run_object=found.run_object,
            locator=found.locator,
            credentials=_credentials(ci, env, runner_temp, found.url),
            runner_temp=runner_temp,
            github_output=_path(env.get("GITHUB_OUTPUT")),
            github_step_summary=_path(env.get("GITHUB_STEP_SUMMARY")),
            on_github_actions=on_github_actions(env),
            external_run_id=external_run_id,
            external_run_url=external_run_url,
            timeout=_number(env, "MESHPIPE_TIMEOUT", DEFAULT_TIMEOUT),
            retry_base_delay=_number(env, "MESHPIPE_RETRY_BASE_DELAY", DEFAULT_RETRY_BASE_DELAY),
            retry_attempts=int(_number(env, "MESHPIPE_RETRY_ATTEMPTS", DEFAULT_RETRY_ATTEMPTS)),
            deadline=_deadline(deadline, env, ci, command),
            endpoint=endpoint_url(env.get(MESHSTACK_ENDPOINT_ENV)),
            allow_foreign_run_url=allow_foreign_run_url or _flag(env, "MESHPIPE_ALLOW_FOREIGN_RUN_URL"),
            source_id=_source_id(source_id, env.get("MESHSTACK_SOURCE_ID")),
            state_dir=state_dir,
            user_state_dir=None if state_dir else _user_state_dir(env),
            proxy_env={key: value for key, value in env.items() if key.lower() in _PROXY_VARIABLES},
            ci=ci,
            dotenv_file=_dotenv_file(env),
            state_dir_private=private and own_state_dir is None,
            default_source_id=DEFAULT_SOURCE_IDS.get(ci, "github"),
            redact_values=_redact_values(env),
        )

    def require_run_url(self) -> str:
        """The run URL, or a configuration error that lists every place it is looked for."""
        if not self.run_url:
            where = {
                "gitlab": f"start the pipeline with the variable {RUN_URL_INPUT} (or map its input to "
                "MESHSTACK_RUN_URL)",
                "azure": f"start the run with the variable or parameter {RUN_URL_INPUT} mapped to MESHSTACK_RUN_URL "
                f"({CI_RUN_URL_VARIABLES['azure'][1]} is read too)",
            }.get(self.ci, f"declare the workflow_dispatch input {RUN_URL_INPUT}")
            raise ConfigurationError(
                "no meshStack run given: pass --run-url or --run-b64, set MESHSTACK_RUN_URL or MESHSTACK_RUN_B64, "
                f"or {where}"
            )
        return self.run_url

    def require_credentials(self) -> Credentials:
        """The credentials, or a configuration error naming where they are looked for."""
        if self.credentials is None:
            raise ConfigurationError(
                "no meshStack credentials: set MESHSTACK_RUN_TOKEN, MESHSTACK_API_TOKEN, or MESHSTACK_CLIENT_ID and "
                f"MESHSTACK_CLIENT_SECRET, {_CREDENTIAL_HINTS.get(self.ci, _CREDENTIAL_HINTS['github'])}"
            )
        return self.credentials


#: the CI -> where its credentials come from, for the "no credentials" error
_CREDENTIAL_HINTS = {
    "github": "or run meshcloud/actions-meshstack-auth first",
    "gitlab": "as masked CI/CD variables (GitLab cannot mask a value at run time)",
    "azure": "as secret variables mapped into the step with env: (Azure never puts a secret into the environment "
    "on its own)",
}
#: an Azure Pipelines macro the agent left as it was, because no such variable exists
_AZURE_MACRO = re.compile(r"\$\([A-Za-z0-9_.]+\)")
#: the CI -> the source id a job reports as by default
DEFAULT_SOURCE_IDS = {"github": "github", "gitlab": "gitlab", "azure": "azure-pipelines"}


def _credentials(ci: str, env: Mapping[str, str], runner_temp: Path | None, run_url: str | None) -> Credentials | None:
    try:
        return find_credentials(env, runner_temp, run_url)
    except ConfigurationError as exc:
        if ci != "azure" or MESHSTACK_CLIENT_SECRET_ENV in env:
            raise
        # The usual cause on Azure: the client id is a plain variable (in every environment), the secret is not.
        raise ConfigurationError(
            f"{exc} (Azure Pipelines: map the secret variable into this step with "
            f"env: {{{MESHSTACK_CLIENT_SECRET_ENV}: $({MESHSTACK_CLIENT_SECRET_ENV})}})"
        ) from None


def _dotenv_file(env: Mapping[str, str]) -> Path | None:
    """``$MESHPIPE_DOTENV_FILE``; relative to ``$CI_PROJECT_DIR`` like ``artifacts:reports:dotenv``, wherever the
    script has ``cd``-ed to."""
    path = _path(env.get("MESHPIPE_DOTENV_FILE"))
    if path is None or path.is_absolute() or not env.get("CI_PROJECT_DIR"):
        return path
    return Path(env["CI_PROJECT_DIR"]) / path


def _job_temp_dir(ci: str, env: Mapping[str, str]) -> tuple[Path | None, bool]:
    """The job's temp directory (state, token file, summaries) and whether meshpipe must keep it private."""
    if ci == "azure":
        return _path(env.get("AGENT_TEMPDIRECTORY")), False
    if ci == "gitlab":
        base = _path(env.get("RUNNER_TEMP_PROJECT_DIR"))
        if base is None and env.get("CI_PROJECT_DIR"):
            base = Path(env["CI_PROJECT_DIR"]) / ".meshpipe"
        job = env.get("CI_JOB_ID", "")
        if base is None or not job.isdigit():
            return None, False
        return base / f"meshpipe-job-{job}", True
    return _path(env.get("RUNNER_TEMP")), False


def _external_run(ci: str, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The CI's id and web URL of this job's run, sent with ``register`` so meshStack links back to it."""
    if ci == "gitlab":
        return env.get("CI_JOB_ID"), env.get("CI_JOB_URL")
    if ci == "azure":
        build_id, collection, project = (
            env.get("BUILD_BUILDID"),
            env.get("SYSTEM_COLLECTIONURI"),
            env.get("SYSTEM_TEAMPROJECT"),
        )
        if not (build_id and collection and project):
            return build_id, None
        from urllib.parse import quote

        return build_id, f"{collection.rstrip('/')}/{quote(project)}/_build/results?buildId={quote(build_id)}"
    github_server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
    gh_run_id, repo = env.get("GITHUB_RUN_ID"), env.get("GITHUB_REPOSITORY")
    return gh_run_id, f"{github_server}/{repo}/actions/runs/{gh_run_id}" if gh_run_id and repo else None


def on_github_actions(environ: Mapping[str, str]) -> bool:
    """Whether this process runs as a GitHub Actions step (``GITHUB_ACTIONS=true``): workflow commands are obeyed."""
    return environ.get("GITHUB_ACTIONS") == "true"


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise ConfigurationError(f"{name}={raw!r} is not true or false")


def _source_id(flag: str | None, env_value: str | None) -> str | None:
    value = flag if flag is not None else env_value
    if value is None:
        return None
    value = value.strip()
    if not value or not all(c.isprintable() for c in value):
        name = "--source-id" if flag is not None else "MESHSTACK_SOURCE_ID"
        raise ConfigurationError(f"{name} must be a non-empty, printable source id")
    return value


def _redact_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The values of the variables ``MESHPIPE_REDACT_VARIABLES`` names (comma-separated; unset ones skipped)."""
    names = (name.strip() for name in env.get("MESHPIPE_REDACT_VARIABLES", "").split(","))
    return tuple(env[name] for name in dict.fromkeys(names) if name and env.get(name))


def _user_state_dir(env: Mapping[str, str]) -> Path:
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "meshpipe"
    getuid = getattr(os, "getuid", None)
    user = str(getuid()) if getuid else env.get("USERNAME", "user")
    # Not tempfile.gettempdir(): it costs milliseconds at every start-up for the same answer.
    return Path(env.get("TMPDIR") or "/tmp") / f"meshpipe-{user}"


def _deadline(flag: float | None, env: Mapping[str, str], ci: str, command: str | None) -> float | None:
    """The command's time budget: ``--deadline``, else ``MESHPIPE_DEADLINE_SECONDS``, else the CI's default; 0 is
    none."""
    if flag is not None:
        if flag < 0 or flag != flag:
            raise ConfigurationError("--deadline must be a number of seconds, 0 or more")
        seconds = flag
    elif "MESHPIPE_DEADLINE_SECONDS" in env:
        seconds = _number(env, "MESHPIPE_DEADLINE_SECONDS", 0.0)
        if seconds != seconds:  # NaN would never run out
            raise ConfigurationError("MESHPIPE_DEADLINE_SECONDS='nan' is not a number")
    elif ci == "gitlab" and command == "finish":
        seconds = GITLAB_FINISH_DEADLINE
    else:
        return None
    return seconds or None


def _path(value: str | None) -> Path | None:
    return Path(value) if value else None


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        number = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a number") from None
    if number < 0:
        raise ConfigurationError(f"{name} must not be negative")
    return number
