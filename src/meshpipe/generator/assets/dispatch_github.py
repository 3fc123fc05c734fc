"""The dispatcher's GitHub client: the retry policy, the hints for error statuses, and :class:`Client`, which
dispatches, finds and waits for one run through one retry loop.

Part of the bundled dispatcher (see ``dispatch.py``).
"""

from __future__ import annotations

import time

from dispatch_base import ApiError, Clock, DispatchError, TransportError, _percent, log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from dispatch import Config
    from dispatch_net import Http, Response

MAX_ATTEMPTS = 5
MAX_SINGLE_WAIT_SECONDS = 120.0
MAX_TOTAL_RATE_LIMIT_WAIT_SECONDS = 300.0
SECONDARY_RATE_LIMIT_WAIT_SECONDS = 60.0
LIST_POLL_CAP_SECONDS = 15.0
PROGRESS_EVERY_SECONDS = 30.0
LIST_LOOKBACK_SECONDS = 120


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
        seconds = _finite(headers["retry-after"])
        return None if seconds is None else min(seconds, MAX_SINGLE_WAIT_SECONDS)
    if headers.get("x-ratelimit-remaining") == "0" and headers.get("x-ratelimit-reset"):
        reset = _finite(headers["x-ratelimit-reset"])
        return None if reset is None else min(max(reset - now, 0.0) + 1.0, MAX_SINGLE_WAIT_SECONDS)
    return SECONDARY_RATE_LIMIT_WAIT_SECONDS


def _finite(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value < float("inf") else None  # NaN fails every comparison


def should_retry_get(status: int | None) -> bool:
    """GETs are safe to repeat: connection errors (``None``), 429 and 5xx."""
    return status is None or status == 429 or status >= 500


def repeat_outcome(status: int | None, maybe_sent: bool, rate_limited: bool) -> str:
    """What to do after a request that is safe to repeat (a GET, creating an installation token): ``done``,
    ``retry`` (connection errors, rate limits, 429, 5xx) or ``fail``."""
    if status is not None and 200 <= status < 300:
        return "done"
    return "retry" if rate_limited or should_retry_get(status) else "fail"


def post_outcome(status: int | None, maybe_sent: bool, rate_limited: bool) -> str:
    """What to do after a dispatch POST: ``done``, ``fail``, ``retry`` (provably not started) or ``check``.

    ``check`` means the POST may have started a run (5xx, timeout, dropped connection): look for a run with the
    correlation id before posting again, so the workflow never starts twice.
    """
    if status is None:
        return "check" if maybe_sent else "retry"
    if status in (200, 201, 204):
        return "done"
    if rate_limited:
        return "retry"
    if status >= 500:
        return "check"
    return "fail"


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
        return f"the run is not visible; the token needs `actions: read` on {config.repository}"
    return hint_for(status, config, auth_kind)


def hint_for(status: int, config: Config, auth_kind: str, *, rate_limited: bool = False) -> str:
    """A short hint for an error status of a dispatch or a run search (GitHub's usual causes)."""
    if rate_limited:
        return "GitHub rate limit exceeded; wait for the reset or reduce concurrent runs"
    if status == 401:
        if auth_kind == "app":
            return "the installation token was rejected: check the GitHub App credentials and the runner's clock"
        return f"the token in {config.auth['token_env']} is invalid or expired"
    if status == 403:
        permission = "contents: write" if config.event == "repository_dispatch" else "actions: write"
        return f"the token lacks the `{permission}` permission on {config.repository} (or a rate limit applies)"
    if status == 404:
        if config.event == "repository_dispatch":
            return (
                f"repository {config.repository} not found, or the token cannot see it (private repositories "
                "answer 404)"
            )
        return (
            f"repository {config.repository} or workflow file {config.workflow} not found, or the token cannot see "
            "the repository (private repositories answer 404); the workflow file must exist on the default branch"
        )
    if status == 422:
        return (
            "GitHub rejected the dispatch: check for unexpected or missing inputs, that ref "
            f"{config.ref!r} exists, and that the workflow has a workflow_dispatch trigger on the default branch"
        )
    if status == 400:
        return "GitHub rejected the request body or the API version header"
    if status in (301, 302, 307, 308):
        return f"the repository {config.repository} moved or was renamed; use its new owner/name"
    if status >= 500:
        return "GitHub had a server error; try again later"
    return ""


# --------------------------------------------------------------------------------------------- the client


class Client:
    """Dispatch, find and wait for one run, with bounded retries."""

    def __init__(self, config: Config, http: Http, auth_kind: str, clock: Clock | None = None) -> None:
        self.config = config
        self.http = http
        self.clock = clock or Clock()
        self.auth_kind = auth_kind
        self.rate_limit_waited = 0.0
        owner, repo = config.repository.split("/", 1)
        self.repo_url = f"{config.api_url}/repos/{_q(owner)}/{_q(repo)}"

    def log(self, message: str) -> None:
        """A progress line on stdout."""
        log(self.config, message)

    def _wait_rate_limit(self, method: str, url: str, response: Response, attempt: int) -> None:
        delay = rate_limit_delay(response.headers, self.clock.wall())
        if delay is None:
            delay = self.clock.backoff(attempt)
        if attempt >= MAX_ATTEMPTS or self.rate_limit_waited + delay > MAX_TOTAL_RATE_LIMIT_WAIT_SECONDS:
            hint = hint_for(response.status, self.config, self.auth_kind, rate_limited=True)
            raise ApiError(method, url, response.status, response.message, hint)
        self.log(f"rate limited ({response.status}); retrying in {delay:g} s")
        self.rate_limit_waited += delay
        self.clock.pause(delay)

    def call(
        self,
        method: str,
        url: str,
        body: Any = None,
        *,
        token: str | None = None,
        hint: Callable[[int], str] | None = None,
        outcome: Callable[[int | None, bool, bool], str] = repeat_outcome,
        check: Callable[[DispatchError, str], dict[str, Any] | None] | None = None,
    ) -> Any:
        """The one retry loop: send until ``outcome`` says ``done`` (return the response) or ``fail``, at most
        ``MAX_ATTEMPTS`` times, waiting out rate limits and backing off after ``retry``.

        ``check`` is for a request that must not be repeated blindly (the dispatch): after a ``check`` outcome (the
        request may have started something) it looks for the result and returns it, or None to send again. A
        failure then carries ``hint(status)`` (by default the hints for reading a run); a ``fail`` of a checked
        request is ``definite``: GitHub refused it, nothing started.
        """
        hints = hint or (lambda status: run_hint(status, self.config, self.auth_kind))
        attempt = 0
        failure: DispatchError
        while True:
            attempt += 1
            try:
                response = self.http.request(method, url, body, token=token)
            except TransportError as exc:
                if exc.permanent:
                    raise
                action, failure, status_text = outcome(None, exc.maybe_sent, False), exc, exc.reason
            else:
                message = response.message if response.status >= 300 else ""
                limited = is_rate_limited(response.status, response.headers, message)
                action = outcome(response.status, True, limited)
                if action == "done":
                    return response
                if action == "retry" and limited:
                    self._wait_rate_limit(method, url, response, attempt)
                    continue
                failure = ApiError(method, url, response.status, message, hints(response.status))
                failure.definite = action == "fail" and check is not None
                status_text = str(response.status)
            if action == "fail":
                raise failure
            if action == "check" and check is not None:
                found = check(failure, status_text)
                if found is not None:
                    return found
            if attempt >= MAX_ATTEMPTS:
                raise failure
            if action == "retry":
                self.clock.pause(self.clock.backoff(attempt))
            if check is not None:
                self.log(f"sending the dispatch again (attempt {attempt + 1} of {MAX_ATTEMPTS})")

    def get(self, url: str, hint: Callable[[int], str] | None = None) -> Any:
        """GET JSON with the retries of :meth:`call`."""
        return self.call("GET", url, hint=hint).json()

    def dispatch(self, inputs: Mapping[str, str], correlation_id: str, settle_seconds: float) -> tuple[Any, str]:
        """POST the dispatch once (modulo provably safe retries); return ``(run_id or None, html_url or "")``."""
        config = self.config
        if config.event == "workflow_dispatch":
            url = f"{self.repo_url}/actions/workflows/{_q(config.workflow or '')}/dispatches"
            body: dict[str, Any] = {"ref": config.ref, "inputs": dict(inputs)}
            if config.return_run_details:
                body["return_run_details"] = True
        else:
            url = f"{self.repo_url}/dispatches"
            body = {"event_type": config.event_type, "client_payload": dict(inputs)}
        started = self.clock.wall()

        def check(failure: DispatchError, status_text: str) -> dict[str, Any] | None:
            if not config.correlation_input:
                raise DispatchError(
                    f"{failure} (the dispatch may have started a run; not sent again so the workflow cannot "
                    "start twice; hint: set correlation_input and use it in the workflow's run-name so the "
                    "dispatcher can check)"
                )
            self.log(f"dispatch answered {status_text}; checking whether the run started anyway")
            try:
                return self.find_run(correlation_id, started, settle_seconds)
            except DispatchError as exc:
                raise DispatchError(
                    f"{failure} (the dispatch may have started a run and checking failed, so it is not sent "
                    f"again: {exc})"
                ) from None

        while True:
            try:
                answer = self.call("POST", url, body, hint=self._dispatch_hint, outcome=post_outcome, check=check)
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

    def _dispatch_hint(self, status: int) -> str:
        return hint_for(status, self.config, self.auth_kind)

    def runs_url(self, since: float) -> str:
        """The run list to search for the dispatched run, filtered by event, ref and creation time."""
        config = self.config
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since - LIST_LOOKBACK_SECONDS))
        query: dict[str, Any] = {"event": config.event, "created": f">={created}", "per_page": 50}
        if config.event == "workflow_dispatch":
            # A run's head_branch is the short name even when the dispatch named refs/heads/... or refs/tags/...
            ref = config.ref
            for prefix in ("refs/heads/", "refs/tags/"):
                ref = ref[len(prefix) :] if ref.startswith(prefix) else ref
            query["branch"] = ref
        base = (
            f"{self.repo_url}/actions/workflows/{_q(config.workflow)}/runs"
            if config.workflow
            else f"{self.repo_url}/actions/runs"
        )
        return f"{base}?{'&'.join(f'{key}={_q(str(value))}' for key, value in query.items())}"

    def find_run(self, correlation_id: str, since: float, seconds: float) -> dict[str, Any] | None:
        """Poll the run list until a run's title carries ``correlation_id`` or ``seconds`` pass.

        A new run shows in the list after a few seconds, sometimes much later: the polls back off from one second
        to ``LIST_POLL_CAP_SECONDS`` so that a long search stays cheap.
        """
        url = self.runs_url(since)
        deadline = self.clock.monotonic() + seconds
        delay = 1.0
        while True:
            data = self.get(url, self._dispatch_hint)
            runs = data.get("workflow_runs") if isinstance(data, dict) else None
            run = match_run(runs or [], correlation_id)
            if run is not None:
                return run
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                return None
            self.clock.pause(min(delay, remaining))
            delay = min(delay * 2, LIST_POLL_CAP_SECONDS)

    def wait(self, run_id: Any, html_url: str, started: float) -> None:
        """Poll the run until ``completed``; raise unless it concludes ``success`` within the wait timeout.

        The first poll comes a second after the dispatch and the gaps double up to ``poll_interval``: a short run is
        seen finished within about a second, a long one costs a request per interval.
        """
        config = self.config
        url = f"{self.repo_url}/actions/runs/{_q(str(run_id))}"
        deadline = started + config.wait_timeout
        last_status = None
        last_line = self.clock.monotonic()
        delay = 1.0
        while True:
            self.clock.pause(min(delay, config.poll_interval, max(deadline - self.clock.monotonic(), 0.0)))
            delay *= 2
            run = self.get(url)
            run = run if isinstance(run, dict) else {}
            html_url = str(run.get("html_url") or html_url)
            status = run.get("status")
            now = self.clock.monotonic()
            if status == "completed":
                conclusion = run.get("conclusion")
                if conclusion == "success":
                    self.log(f"run {run_id} completed: success {html_url}")
                    return
                failed = DispatchError(f"workflow run {run_id} concluded {conclusion}: {html_url}")
                failed.definite = True
                raise failed
            if status != last_status or now - last_line >= PROGRESS_EVERY_SECONDS:
                self.log(f"run {run_id} {status} ({int(now - started)} s elapsed) {html_url}")
                last_status, last_line = status, now
            remaining = deadline - now
            if remaining <= 0:
                raise DispatchError(
                    f"timed out after {config.wait_timeout:g} s waiting for {html_url or url}; "
                    "the run continues on GitHub"
                )


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
