"""The dispatcher's Azure Pipelines target: its settings (the ``azure_devops`` object of the configuration), its
credentials and hints, and :class:`AzureClient`, which runs a pipeline (``Runs - Run Pipeline``, api-version 7.1),
finds a run whose answer was lost by its name and waits on the run's ``state``/``result``.

Part of the bundled dispatcher (see ``dispatch.py``). The wire, per ``pipelines.json`` 7.1
(``MicrosoftDocs/vsts-rest-api-specs``)::

    POST {org_url}/{project}/_apis/pipelines/{pipeline_id}/runs?api-version=7.1
         {"resources": {"repositories": {"self": {"refName": REF}}}, "templateParameters": {name: "string"}}
    GET  {org_url}/{project}/_apis/pipelines/{pipeline_id}/runs?api-version=7.1          newest first
    GET  {org_url}/{project}/_apis/pipelines/{pipeline_id}/runs/{run_id}?api-version=7.1

A PAT goes as ``Authorization: Basic base64(":" + PAT)``, an Entra ID access token as ``Bearer``. Every request says
``X-TFS-FedAuthRedirect: Suppress``, so a bad credential answers 401 instead of the sign-in page with status 203;
a 203 that arrives anyway is treated as a 401 (it is never a success). The correlation id travels as a template
parameter that the pipeline's ``name:`` contains, so the run list finds a run whose answer was lost.

A value holding ``$(`` is refused before anything is sent: the pipeline makes each parameter a variable, and Azure
Pipelines expands ``$(NAME)`` macros in variable values
(https://learn.microsoft.com/azure/devops/pipelines/process/variables#macro-syntax-variables), so a value such as
``$(System.AccessToken)`` could read a secret into a step. Unverified (no Azure DevOps here): whether the agent
expands a macro inside a value that came from a template parameter; the refusal assumes it does.
"""

from __future__ import annotations

import time

from dispatch_base import (
    AZURE_AUTH_MODES,
    DEFAULT_AZURE_AUTH,
    ConfigError,
    _percent,
    add_secret,
    credential,
    http_url,
    rule,
    section,
    string,
)
from dispatch_client import BaseClient, post_outcome, repeat_outcome, retry_after_delay

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from dispatch import Config
    from dispatch_base import Clock
    from dispatch_net import Http

__all__ = [
    "API_VERSION",
    "KEYS",
    "TARGET",
    "AzureClient",
    "Settings",
    "authorization",
    "make_client",
    "match_run",
    "parse_settings",
]

TARGET = "azure_devops"
API_VERSION = "7.1"
#: the keys of the configuration's ``azure_devops`` object
KEYS = ("org_url", "project", "pipeline_id", "ref", "auth")
DEFAULT_REF = "refs/heads/main"
#: Azure DevOps refuses longer project names
MAX_PROJECT_LENGTH = 64
#: the largest pipeline id the API takes (``int32``)
MAX_PIPELINE_ID = 2**31 - 1
LIST_LOOKBACK_SECONDS = 120
#: the status of the sign-in page a request without usable credentials may get; never a success
SIGN_IN_STATUS = 203
BASE_HEADERS = {"Accept": "application/json", "X-TFS-FedAuthRedirect": "Suppress"}


# --------------------------------------------------------------------------------------------- settings


class Settings:
    """The ``azure_devops`` part of the configuration: which pipeline of which project, on which ref, with which
    credentials (by environment variable name)."""

    def __init__(self, data: Mapping[str, Any], phase: str) -> None:
        path = "azure_devops."
        rule(data.get(TARGET) is not None, TARGET, "required with target azure_devops")
        values = section(data, TARGET, KEYS, phase)
        self.org_url = http_url(values, "org_url", path=path, base=True)
        self.project = string(values, "project", path=path)
        rule(
            len(self.project) <= MAX_PROJECT_LENGTH and all(" " <= char != "\x7f" for char in self.project),
            path + "project",
            f"expected a project name or id of at most {MAX_PROJECT_LENGTH} characters without control characters",
            self.project,
        )
        pipeline_id = values.get("pipeline_id")
        ok = pipeline_id is None or (
            isinstance(pipeline_id, int) and not isinstance(pipeline_id, bool) and 0 < pipeline_id <= MAX_PIPELINE_ID
        )
        rule(
            ok, path + "pipeline_id", "expected a positive integer (the pipeline's definition id) or null", pipeline_id
        )
        self.pipeline_id: int | None = pipeline_id
        # Only the destroy phase may have no pipeline: the module then has no destroy pipeline and fires nothing.
        rule(self.has_target or phase == "destroy", path + "pipeline_id", "required to run a pipeline")
        self.ref = string(values, "ref", default=DEFAULT_REF, path=path)
        rule(
            all("\x21" <= char <= "\x7e" for char in self.ref), path + "ref", "expected a ref without spaces", self.ref
        )
        auth = section(values, "auth", DEFAULT_AZURE_AUTH, phase, path=path)
        self.auth = {
            key: string(auth, key, default=default, path=path + "auth.") for key, default in DEFAULT_AZURE_AUTH.items()
        }
        rule(
            self.auth["mode"] in AZURE_AUTH_MODES, path + "auth.mode", f"expected one of {', '.join(AZURE_AUTH_MODES)}"
        )

    @property
    def has_target(self) -> bool:
        """Whether there is a pipeline to run."""
        return self.pipeline_id is not None

    @property
    def subject(self) -> str:
        """What is run, for log lines."""
        return f"pipeline {self.pipeline_id} on {self.ref} of project {self.project}"

    @property
    def identity(self) -> tuple[str, ...]:
        """What the correlation id hashes besides phase, run and fingerprint."""
        return (self.org_url, self.project, str(self.pipeline_id), self.ref)

    @property
    def secret_envs(self) -> tuple[str, ...]:
        """The variables holding credentials: the PAT and the Entra ID token."""
        return (self.auth["pat_env"], self.auth["token_env"])


def parse_settings(data: Mapping[str, Any], phase: str) -> Settings:
    """Validate the configuration's ``azure_devops`` object for ``phase`` (ConfigError naming the key path)."""
    return Settings(data, phase)


# --------------------------------------------------------------------------------------------- credentials


def authorization(settings: Settings, environ: Mapping[str, str]) -> tuple[str, str, str]:
    """``(kind, variable, Authorization header)`` from the environment: ``pat`` (Basic) or ``entra`` (Bearer).

    Mode ``auto`` takes the PAT when its variable is set and non-empty, else the Entra ID token. The credential and
    the header's base64 form are registered as secrets before anything can print them.
    """
    mode = settings.auth["mode"]
    pat_env, token_env = settings.auth["pat_env"], settings.auth["token_env"]
    if mode == "pat" or (mode == "auto" and environ.get(pat_env)):
        kind, variable = "pat", pat_env
    elif mode == "entra" or environ.get(token_env):
        kind, variable = "entra", token_env
    else:
        raise ConfigError(
            f"no Azure DevOps credential: set {pat_env} (a personal access token with the scope Build (Read & "
            f"execute)) or {token_env} (an Entra ID access token for Azure DevOps)"
        )
    what = "Azure DevOps personal access token" if kind == "pat" else "Entra ID access token for Azure DevOps"
    value = credential(environ, variable, what)
    if kind == "entra":
        return kind, variable, f"Bearer {value}"
    import binascii

    basic = binascii.b2a_base64((":" + value).encode("utf-8"), newline=False).decode("ascii")
    add_secret(basic)
    return kind, variable, f"Basic {basic}"


def make_client(config: Config, environ: Mapping[str, str], http_deadline: float, clock: Clock) -> AzureClient:
    """An Azure Pipelines client with its credential from the environment."""
    from dispatch_net import Http

    kind, variable, header = authorization(config.settings, environ)
    headers = {**BASE_HEADERS, "Authorization": header}
    http = Http(config.user_agent, environ=environ, deadline=http_deadline, clock=clock, base_headers=headers)
    return AzureClient(config, http, kind, variable, clock)


# --------------------------------------------------------------------------------------------- retry policy


def _signed_out(outcome: Callable[[int | None, bool, bool], str]) -> Callable[[int | None, bool, bool], str]:
    """``outcome`` with the 203 sign-in page as a failure: it is a 2xx, and nothing was done."""

    def decide(status: int | None, maybe_sent: bool, rate_limited: bool) -> str:
        return "fail" if status == SIGN_IN_STATUS else outcome(status, maybe_sent, rate_limited)

    return decide


def match_run(runs: list[Any], correlation_id: str, since: float) -> dict[str, Any] | None:
    """The first run (the list is newest first) whose ``name`` contains the correlation id and that was created
    after ``since`` minus a lookback (runs whose ``createdDate`` cannot be read are not excluded)."""
    for run in runs:
        if not isinstance(run, dict) or run.get("id") is None or correlation_id not in str(run.get("name") or ""):
            continue
        created = _epoch(run.get("createdDate"))
        if created is not None and created < since - LIST_LOOKBACK_SECONDS:
            continue
        return {"id": run["id"], "html_url": web_url(run)}
    return None


def web_url(run: Mapping[str, Any]) -> str:
    """The run's page (``_links.web.href``), or ``""``."""
    links = run.get("_links")
    web = links.get("web") if isinstance(links, dict) else None
    href = web.get("href") if isinstance(web, dict) else None
    return href if isinstance(href, str) else ""


def _epoch(text: Any) -> float | None:
    """An ISO-8601 UTC timestamp (``2026-12-02T17:48:26.1234567Z``) as epoch seconds, or None."""
    if not isinstance(text, str) or len(text) < 19:
        return None
    try:
        import calendar

        return float(calendar.timegm(time.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


# --------------------------------------------------------------------------------------------- the client


class AzureClient(BaseClient):
    """Run an Azure Pipelines pipeline, find its run and wait for it."""

    service = "Azure DevOps"
    run_word = "run"
    run_title = "pipeline run"

    def __init__(self, config: Config, http: Http, kind: str, variable: str, clock: Clock | None = None) -> None:
        super().__init__(config, http, clock)
        self.settings: Settings = config.settings
        self.kind = kind
        self.variable = variable
        settings = self.settings
        self.pipeline_url = (
            f"{settings.org_url}/{_percent(settings.project, '')}/_apis/pipelines/{settings.pipeline_id}"
        )

    # ----------------------------------------------------------------------------------------- hooks

    def rate_limit_delay(self, headers: Mapping[str, str], now: float) -> float | None:
        """``Retry-After``; else until ``X-RateLimit-Reset``; else a minute."""
        if "retry-after" not in headers and headers.get("x-ratelimit-reset"):
            reset = _seconds(headers["x-ratelimit-reset"])
            if reset is not None:
                return retry_after_delay({"retry-after": str(max(reset - now, 0.0) + 1.0)})
        return retry_after_delay(headers, default=60.0)

    def hint(self, status: int) -> str:
        settings = self.settings
        if status in (401, SIGN_IN_STATUS):
            what = "personal access token" if self.kind == "pat" else "Entra ID access token"
            return f"the {what} in {self.variable} is invalid or expired"
        if status == 403:
            if self.kind == "pat":
                return (
                    f"the personal access token in {self.variable} lacks the scope Build (Read & execute), or its "
                    f"user may not queue pipeline {settings.pipeline_id}"
                )
            return f"the identity of the token in {self.variable} may not queue pipeline {settings.pipeline_id}"
        if status == 404:
            return (
                f"project {settings.project!r} or pipeline {settings.pipeline_id} not found at {settings.org_url}, or "
                "the credential cannot see it"
            )
        if status == 400:
            return (
                "Azure DevOps refused the run: every template parameter must be declared in the pipeline's "
                f"parameters: (and typed as it says), and ref {settings.ref!r} must exist"
            )
        return super().hint(status)

    def read_hint(self, status: int) -> str:
        if status == 403 and self.kind == "pat":
            return f"the personal access token in {self.variable} lacks the scope Build (Read)"
        return self.hint(status)

    def correlation_hint(self) -> str:
        return "set correlation_input and put ${{ parameters.<that input> }} in the pipeline's name:"

    def missing_run_hint(self) -> str:
        return f"the pipeline's name: must contain ${{{{ parameters.{self.config.correlation_input} }}}}"

    # ----------------------------------------------------------------------------------------- per target

    def expansion(self) -> tuple[str, str] | None:
        """``$(``, which Azure Pipelines would expand as a macro in the parameter's variable."""
        why = "which Azure Pipelines expands as a macro in the pipeline's variables; remove the '$(' from the value"
        return "$(", why

    def dispatch(self, inputs: Mapping[str, str], correlation_id: str, settle_seconds: float) -> tuple[Any, str]:
        """Run the pipeline once: after an answer that may hide a started run (5xx, timeout, dropped connection)
        look for the correlation id first, never run it twice; return ``(run_id, run page)``."""
        settings = self.settings
        body = {
            "resources": {"repositories": {"self": {"refName": settings.ref}}},
            "templateParameters": dict(inputs),
        }
        check = self.lost_answer_check(correlation_id, self.clock.wall(), settle_seconds)
        answer = self.call(
            "POST",
            f"{self.pipeline_url}/runs?api-version={API_VERSION}",
            body,
            hint=self.hint,
            outcome=_signed_out(post_outcome),
            check=check,
        )
        if isinstance(answer, dict):  # found by the check after a lost answer
            return answer["id"], str(answer.get("html_url") or "")
        run = answer.json()
        if not isinstance(run, dict) or run.get("id") is None:
            return None, ""
        return run["id"], web_url(run)

    def read(self, url: str, hint: Callable[[int], str] | None = None) -> Any:
        """GET JSON with the retries of :meth:`call`; the sign-in page fails like a 401."""
        return self.call("GET", url, hint=hint, outcome=_signed_out(repeat_outcome)).json()

    def search(self, correlation_id: str, since: float) -> dict[str, Any] | None:
        """One look at the pipeline's runs (newest first) for a run whose name carries ``correlation_id``."""
        data = self.read(f"{self.pipeline_url}/runs?api-version={API_VERSION}", self.read_hint)
        runs = data.get("value") if isinstance(data, dict) else data
        return match_run(runs if isinstance(runs, list) else [], correlation_id, since)

    def run_state(self, run_id: Any) -> tuple[str, bool, bool, str]:
        """The run's ``state`` (its ``result`` once ``completed``), whether it is done and succeeded."""
        run = self.read(f"{self.pipeline_url}/runs/{_percent(str(run_id), '')}?api-version={API_VERSION}")
        run = run if isinstance(run, dict) else {}
        if run.get("state") == "completed":
            result = str(run.get("result"))
            return result, True, result == "succeeded", web_url(run)
        return str(run.get("state")), False, False, web_url(run)


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value < float("inf") else None
