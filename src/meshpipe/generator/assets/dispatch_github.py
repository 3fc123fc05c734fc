"""The dispatcher's GitHub target: its settings (the flat GitHub keys of the configuration), its rate limits and
hints, and :class:`GitHubClient`, which dispatches a ``workflow_dispatch`` or ``repository_dispatch``, finds the run
by its title and reads its state on top of the shared :class:`BaseClient`.

Part of the bundled dispatcher (see ``dispatch.py``); the credentials (tokens, GitHub App JWTs) live in
``dispatch_auth.py``, imported only when a client is made.
"""

from __future__ import annotations

import time

from dispatch_base import (
    _NAME_CHARS,
    AUTH_MODES,
    DEFAULT_AUTH,
    EVENTS,
    ApiError,
    Clock,
    _percent,
    http_url,
    opt_string,
    rule,
    string,
)
from dispatch_client import (
    MAX_ATTEMPTS,
    MAX_SINGLE_WAIT_SECONDS,
    MAX_TOTAL_RATE_LIMIT_WAIT_SECONDS,
    BaseClient,
    finite_seconds,
    post_outcome,
    repeat_outcome,
    should_retry_get,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from dispatch import Config
    from dispatch_net import Http

__all__ = [
    "DEFAULT_API_URL",
    "GITHUB_KEYS",
    "MAX_ATTEMPTS",
    "MAX_SINGLE_WAIT_SECONDS",
    "MAX_TOTAL_RATE_LIMIT_WAIT_SECONDS",
    "TARGET",
    "Client",
    "GitHubClient",
    "Settings",
    "app_token_hint",
    "hint_for",
    "is_rate_limited",
    "make_client",
    "match_run",
    "parse_settings",
    "post_outcome",
    "rate_limit_delay",
    "repeat_outcome",
    "run_hint",
    "should_retry_get",
]

TARGET = "github"
DEFAULT_API_URL = "https://api.github.com"
#: the GitHub settings' keys: flat in the configuration (older modules wrote them so), valid with target github only
GITHUB_KEYS = ("api_url", "repository", "ref", "event", "workflow", "event_type", "return_run_details", "auth")
API_VERSION = "2022-11-28"
#: GitHub's media type and API version, sent with every request
BASE_HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": API_VERSION}
SECONDARY_RATE_LIMIT_WAIT_SECONDS = 60.0
LIST_LOOKBACK_SECONDS = 120


# --------------------------------------------------------------------------------------------- settings


class Settings:
    """GitHub's part of the configuration: where to dispatch, what, and with which credentials."""

    def __init__(self, data: Mapping[str, Any], phase: str) -> None:
        self.api_url = http_url(data, "api_url", DEFAULT_API_URL, base=True)
        self.repository = string(data, "repository")
        owner, _, repo = self.repository.partition("/")
        rule(
            owner and repo and set(owner + repo) <= _NAME_CHARS, "repository", "expected 'owner/repo'", self.repository
        )
        self.event = string(data, "event", default="workflow_dispatch")
        rule(self.event in EVENTS, "event", f"expected one of {', '.join(EVENTS)}", self.event)
        self.ref = string(data, "ref", default="main")
        self.workflow, self.event_type = opt_string(data, "workflow"), opt_string(data, "event_type")
        # Only the destroy phase may have no destroy item: the module then has no destroy workflow, fires nothing.
        item = "workflow" if self.event == "workflow_dispatch" else "event_type"
        rule(self.has_target or phase == "destroy", item, f"required for event {self.event}")
        # GHES up to 3.20 rejects the key with a 400; the module knows the flavour, so GHES gets one POST, not two.
        self.return_run_details = data.get("return_run_details", True)
        rule(isinstance(self.return_run_details, bool), "return_run_details", "expected true or false")
        auth = data.get("auth") or {}
        rule(isinstance(auth, dict), "auth", "expected an object")
        unknown = sorted(set(auth) - set(DEFAULT_AUTH))
        rule(not unknown, f"auth.{''.join(unknown[:1])}", f"unknown key; known: {', '.join(DEFAULT_AUTH)}")
        self.auth = {key: string(auth, key, default=default, path="auth.") for key, default in DEFAULT_AUTH.items()}
        rule(self.auth["mode"] in AUTH_MODES, "auth.mode", f"expected one of {', '.join(AUTH_MODES)}")

    @property
    def has_target(self) -> bool:
        """Whether there is something to dispatch: a workflow file or a repository_dispatch event type."""
        return bool(self.workflow if self.event == "workflow_dispatch" else self.event_type)

    @property
    def subject(self) -> str:
        """What is dispatched, for log lines: the workflow file or the repository_dispatch event type."""
        if self.event == "workflow_dispatch":
            return f"{self.workflow} on {self.ref}"
        return f"repository_dispatch {self.event_type!r} to {self.repository}"

    @property
    def identity(self) -> tuple[str, ...]:
        """What the correlation id hashes besides phase, run and fingerprint (the same parts as before targets)."""
        return (self.api_url, self.repository, self.subject)

    @property
    def secret_envs(self) -> tuple[str, ...]:
        """The variables holding credentials: the token and the App's private key."""
        return (self.auth["token_env"], self.auth["private_key_env"])


def parse_settings(data: Mapping[str, Any], phase: str) -> Settings:
    """Validate GitHub's flat keys of the configuration ``data`` for ``phase`` (ConfigError naming the key)."""
    return Settings(data, phase)


def make_client(config: Config, environ: Mapping[str, str], http_deadline: float, clock: Clock) -> GitHubClient:
    """A GitHub client with its credentials: a token from the environment, or a GitHub App installation token."""
    from dispatch_auth import choose_auth, resolve_token
    from dispatch_net import Http

    auth_kind = choose_auth(config, environ)
    http = Http(config.user_agent, environ=environ, deadline=http_deadline, clock=clock, base_headers=BASE_HEADERS)
    client = GitHubClient(config, http, auth_kind, clock)
    http.token = resolve_token(config, environ, client, auth_kind)
    return client


# --------------------------------------------------------------------------------------------- retry policy


def is_rate_limited(status: int, headers: Mapping[str, str], message: str) -> bool:
    """GitHub's primary and secondary rate limits: 429, or 403 with rate-limit headers or message."""
    if status == 429:
        return True
    if status != 403:
        return False
    return headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers or "rate limit" in message.lower()


def rate_limit_delay(headers: Mapping[str, str], now: float) -> float | None:
    """Seconds to wait after a rate limit: ``Retry-After``, else until ``x-ratelimit-reset``, else a minute.

    None when the header GitHub sent is not a finite, non-negative number (``nan``, ``inf``, ``-1``, ``soon``):
    the caller then backs off as after a server error.
    """
    if "retry-after" in headers:
        seconds = finite_seconds(headers["retry-after"])
        return None if seconds is None else min(seconds, MAX_SINGLE_WAIT_SECONDS)
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        reset = finite_seconds(headers["x-ratelimit-reset"])
        return None if reset is None else min(max(reset - now, 0.0) + 1.0, MAX_SINGLE_WAIT_SECONDS)
    return SECONDARY_RATE_LIMIT_WAIT_SECONDS


#: hints for creating a GitHub App installation token
APP_TOKEN_HINTS = {
    401: "the GitHub App JWT was rejected: check the App id, the private key and the runner's clock (JWT clock skew)",
    403: "the GitHub App is not allowed to create installation tokens here",
    404: "GitHub App installation not found: check the installation id and that the App is installed",
}


def app_token_hint(status: int) -> str:
    """A short hint for an error status when creating an installation token."""
    return APP_TOKEN_HINTS.get(status, "")


def run_hint(status: int, config: Config, auth_kind: str) -> str:
    """A short hint for an error status when reading one run: a 404 there means the token cannot read Actions."""
    if status == 404:
        return f"the run is not visible; the token needs `actions: read` on {config.settings.repository}"
    return hint_for(status, config, auth_kind)


def hint_for(status: int, config: Config, auth_kind: str, *, rate_limited: bool = False) -> str:
    """A short hint for an error status of a dispatch or a run search (GitHub's usual causes)."""
    settings = config.settings
    if rate_limited:
        return "GitHub rate limit exceeded; wait for the reset or reduce concurrent runs"
    if status == 401:
        if auth_kind == "app":
            return "the installation token was rejected: check the GitHub App credentials and the runner's clock"
        return f"the token in {settings.auth['token_env']} is invalid or expired"
    if status == 403:
        permission = "contents: write" if settings.event == "repository_dispatch" else "actions: write"
        return f"the token lacks the `{permission}` permission on {settings.repository} (or a rate limit applies)"
    if status == 404:
        if settings.event == "repository_dispatch":
            return (
                f"repository {settings.repository} not found, or the token cannot see it (private repositories "
                "answer 404)"
            )
        return (
            f"repository {settings.repository} or workflow file {settings.workflow} not found, or the token cannot "
            "see the repository (private repositories answer 404); the workflow file must exist on the default branch"
        )
    if status == 422:
        return (
            "GitHub rejected the dispatch: check for unexpected or missing inputs, that ref "
            f"{settings.ref!r} exists, and that the workflow has a workflow_dispatch trigger on the default branch"
        )
    if status == 400:
        return "GitHub rejected the request body or the API version header"
    if status in (301, 302, 307, 308):
        return f"the repository {settings.repository} moved or was renamed; use its new owner/name"
    if status >= 500:
        return "GitHub had a server error; try again later"
    return ""


# --------------------------------------------------------------------------------------------- the client


class GitHubClient(BaseClient):
    """Dispatch a GitHub workflow (or repository_dispatch event), find its run and wait for it."""

    service = "GitHub"
    run_word = "run"
    run_title = "workflow run"

    def __init__(self, config: Config, http: Http, auth_kind: str, clock: Clock | None = None) -> None:
        super().__init__(config, http, clock)
        self.settings: Settings = config.settings
        self.auth_kind = auth_kind
        owner, repo = self.settings.repository.split("/", 1)
        self.repo_url = f"{self.settings.api_url}/repos/{_q(owner)}/{_q(repo)}"

    def is_rate_limited(self, status: int, headers: Mapping[str, str], message: str) -> bool:
        return is_rate_limited(status, headers, message)

    def rate_limit_delay(self, headers: Mapping[str, str], now: float) -> float | None:
        return rate_limit_delay(headers, now)

    def hint(self, status: int) -> str:
        return hint_for(status, self.config, self.auth_kind)

    def read_hint(self, status: int) -> str:
        return run_hint(status, self.config, self.auth_kind)

    def rate_limit_hint(self, status: int) -> str:
        return hint_for(status, self.config, self.auth_kind, rate_limited=True)

    def correlation_hint(self) -> str:
        return "set correlation_input and use it in the workflow's run-name"

    def missing_run_hint(self) -> str:
        source = "inputs" if self.settings.event == "workflow_dispatch" else "github.event.client_payload"
        return f"the workflow's run-name must contain ${{{{ {source}.{self.config.correlation_input} }}}}"

    def dispatch(self, inputs: Mapping[str, str], correlation_id: str, settle_seconds: float) -> tuple[Any, str]:
        """POST the dispatch once (modulo provably safe retries); return ``(run_id or None, html_url or "")``."""
        settings = self.settings
        if settings.event == "workflow_dispatch":
            url = f"{self.repo_url}/actions/workflows/{_q(settings.workflow or '')}/dispatches"
            body: dict[str, Any] = {"ref": settings.ref, "inputs": dict(inputs)}
            if settings.return_run_details:
                body["return_run_details"] = True
        else:
            url = f"{self.repo_url}/dispatches"
            body = {"event_type": settings.event_type, "client_payload": dict(inputs)}
        check = self.lost_answer_check(correlation_id, self.clock.wall(), settle_seconds)
        while True:
            try:
                answer = self.call("POST", url, body, hint=self.hint, outcome=post_outcome, check=check)
                break
            except ApiError as exc:
                # GHES before 3.21 rejects the key; resent once without it (the module says so up front for GHES).
                unsupported = exc.status in (400, 422) and "return_run_details" in exc.message
                if not unsupported or body.pop("return_run_details", None) is None:
                    raise
                self.log("the server does not support return_run_details; resending without it")
        if isinstance(answer, dict):  # found by the check after a lost answer
            return answer["id"], str(answer.get("html_url") or "")
        details = answer.json() if answer.status == 200 else None
        if isinstance(details, dict) and details.get("workflow_run_id") is not None:
            return details["workflow_run_id"], str(details.get("html_url") or "")
        return None, ""

    def runs_url(self, since: float) -> str:
        """The run list to search for the dispatched run, filtered by event, ref and creation time."""
        settings = self.settings
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since - LIST_LOOKBACK_SECONDS))
        query: dict[str, Any] = {"event": settings.event, "created": f">={created}", "per_page": 50}
        if settings.event == "workflow_dispatch":
            # A run's head_branch is the short name even when the dispatch named refs/heads/... or refs/tags/...
            ref = settings.ref
            for prefix in ("refs/heads/", "refs/tags/"):
                ref = ref[len(prefix) :] if ref.startswith(prefix) else ref
            query["branch"] = ref
        base = (
            f"{self.repo_url}/actions/workflows/{_q(settings.workflow)}/runs"
            if settings.workflow
            else f"{self.repo_url}/actions/runs"
        )
        return f"{base}?{'&'.join(f'{key}={_q(str(value))}' for key, value in query.items())}"

    def search(self, correlation_id: str, since: float) -> dict[str, Any] | None:
        """One look at the run list for a run whose title carries ``correlation_id``."""
        data = self.get(self.runs_url(since), self.hint)
        runs = data.get("workflow_runs") if isinstance(data, dict) else None
        return match_run(runs or [], correlation_id)

    def run_state(self, run_id: Any) -> tuple[str, bool, bool, str]:
        """The run's ``status`` (its ``conclusion`` once ``completed``), whether it is done and succeeded."""
        run = self.get(f"{self.repo_url}/actions/runs/{_q(str(run_id))}")
        run = run if isinstance(run, dict) else {}
        html_url = str(run.get("html_url") or "")
        if run.get("status") == "completed":
            conclusion = run.get("conclusion")
            return str(conclusion), True, conclusion == "success", html_url
        return str(run.get("status")), False, False, html_url


#: the name tests and older callers use
Client = GitHubClient


def match_run(runs: list[Any], correlation_id: str) -> dict[str, Any] | None:
    """The first run whose ``display_title`` (or ``name``) contains the correlation id."""
    for run in runs:
        if not isinstance(run, dict):
            continue
        title = str(run.get("display_title") or "") + " " + str(run.get("name") or "")
        if correlation_id in title and run.get("id") is not None:
            return run
    return None


def _q(value: str) -> str:
    return _percent(value, "")
