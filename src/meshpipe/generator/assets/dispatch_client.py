"""The dispatcher's target-independent client: the one retry loop, rate-limit waits, the search for a run whose
dispatch answer was lost, and waiting for a run to finish.

Part of the bundled dispatcher (see ``dispatch.py``). Every target module (``dispatch_github.py``,
``dispatch_gitlab.py``, ...) subclasses :class:`BaseClient` and adds what only it knows: how to dispatch
(:meth:`BaseClient.dispatch`), how to search for a run by correlation id (:meth:`BaseClient.search`), how to read a
run's state (:meth:`BaseClient.run_state`) and its hints. Nothing here imports HTTP, TLS or hashing code.
"""

from __future__ import annotations

from dispatch_base import ApiError, Clock, ConfigError, DispatchError, TransportError, log

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from dispatch import Config
    from dispatch_net import Http, Response

MAX_ATTEMPTS = 5
MAX_SINGLE_WAIT_SECONDS = 120.0
MAX_TOTAL_RATE_LIMIT_WAIT_SECONDS = 300.0
LIST_POLL_CAP_SECONDS = 15.0
PROGRESS_EVERY_SECONDS = 30.0


# --------------------------------------------------------------------------------------------- retry policy


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
    correlation id before posting again, so the pipeline never starts twice.
    """
    if status is None:
        return "check" if maybe_sent else "retry"
    if 200 <= status < 300:
        return "done"
    if rate_limited:
        return "retry"
    if status >= 500:
        return "check"
    return "fail"


def finite_seconds(text: str) -> float | None:
    """``text`` as a finite, non-negative number of seconds, or None (``nan``, ``inf``, ``-1``, ``soon``)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if 0.0 <= value < float("inf") else None  # NaN fails every comparison


def retry_after_delay(headers: Mapping[str, str], default: float | None = None) -> float | None:
    """Seconds to wait after a rate limit by ``Retry-After`` (in seconds; capped at ``MAX_SINGLE_WAIT_SECONDS``).

    ``default`` when the header is absent; None when it is unusable: the caller then backs off as after a server
    error. (An HTTP-date form is treated as unusable: the services meshpipe targets send seconds.)
    """
    if "retry-after" not in headers:
        return default
    seconds = finite_seconds(headers["retry-after"])
    return None if seconds is None else min(seconds, MAX_SINGLE_WAIT_SECONDS)


# --------------------------------------------------------------------------------------------- the client


class BaseClient:
    """Dispatch, find and wait for one run with bounded retries: the parts every target shares.

    A target subclass sets the wording (``service``, ``run_word``, ``run_title``) and implements :meth:`dispatch`,
    :meth:`search` and :meth:`run_state`; it may override :meth:`is_rate_limited`, :meth:`rate_limit_delay`,
    :meth:`hint`, :meth:`read_hint`, :meth:`failure_hint`, :meth:`correlation_hint`, :meth:`missing_run_hint`
    and :meth:`expansion`.
    """

    #: the service's name in messages ("the run continues on GitHub")
    service = "the service"
    #: what one run is called in short lines ("run 7 queued", "the pipeline continues on GitLab")
    run_word = "run"
    #: what one run is called when it failed ("workflow run 7 concluded failure")
    run_title = "run"

    def __init__(self, config: Config, http: Http, clock: Clock | None = None) -> None:
        self.config = config
        self.http = http
        self.clock = clock or Clock()
        self.rate_limit_waited = 0.0

    def log(self, message: str) -> None:
        """A progress line on stdout."""
        log(self.config, message)

    # ----------------------------------------------------------------------------------------- hooks

    def is_rate_limited(self, status: int, headers: Mapping[str, str], message: str) -> bool:
        """Whether an answer is a rate limit (waited out, not counted as a failure): by default a 429."""
        return status == 429

    def rate_limit_delay(self, headers: Mapping[str, str], now: float) -> float | None:
        """Seconds to wait after a rate limit: ``Retry-After``, else a minute; None when the header is unusable."""
        return retry_after_delay(headers, default=60.0)

    def hint(self, status: int) -> str:
        """A short hint for an error status of a dispatch or a run search."""
        if status >= 500:
            return f"{self.service} had a server error; try again later"
        return ""

    def read_hint(self, status: int) -> str:
        """A short hint for an error status when reading one run (the default of :meth:`call`)."""
        return self.hint(status)

    def rate_limit_hint(self, status: int) -> str:
        """The hint when rate-limit waits are used up."""
        return f"{self.service} rate limit exceeded; wait for the reset or reduce concurrent runs"

    def failure_hint(self, status_text: str) -> str:
        """A hint for a run that ended without success (e.g. GitLab's ``manual``); empty by default."""
        return ""

    def correlation_hint(self) -> str:
        """How to make a lost dispatch findable (ends the hint of a dispatch that is not sent again)."""
        return f"set correlation_input and put it in the {self.run_word}'s name"

    def missing_run_hint(self) -> str:
        """Why no run with the correlation id was found, when waiting needs it."""
        return f"the {self.run_word}'s name must contain the input {self.config.correlation_input}"

    # ----------------------------------------------------------------------------------------- per target

    def expansion(self) -> tuple[str, str] | None:
        """``(mark, why)``: the text the service would expand in a value and how it would, or None (the default)."""
        return None

    def check_inputs(self, inputs: Mapping[str, str]) -> None:
        """Refuse values the service would misread (a :class:`ConfigError` naming the input, never its value),
        before anything is sent or remembered: a value holding :meth:`expansion`'s mark."""
        found = self.expansion()
        if found is None:
            return
        mark, why = found
        for name, value in inputs.items():
            if isinstance(value, str) and mark in value:
                raise ConfigError(f"input {name!r}: its value contains {mark!r}, {why}")

    def dispatch(self, inputs: Mapping[str, str], correlation_id: str, settle_seconds: float) -> tuple[Any, str]:
        """Start the run at most once (modulo provably safe retries); return ``(run_id or None, html_url or "")``."""
        raise NotImplementedError

    def search(self, correlation_id: str, since: float) -> dict[str, Any] | None:
        """One look for a run whose name carries ``correlation_id``, started after ``since`` (wall time): a dict
        with at least ``id`` (and ``html_url``), or None."""
        raise NotImplementedError

    def run_state(self, run_id: Any) -> tuple[str, bool, bool, str]:
        """One look at a run: ``(status_text, done, succeeded, html_url or "")``."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------------------- requests

    def _wait_rate_limit(self, method: str, url: str, response: Response, attempt: int) -> None:
        delay = self.rate_limit_delay(response.headers, self.clock.wall())
        if delay is None:
            delay = self.clock.backoff(attempt)
        if attempt >= MAX_ATTEMPTS or self.rate_limit_waited + delay > MAX_TOTAL_RATE_LIMIT_WAIT_SECONDS:
            raise ApiError(method, url, response.status, response.message, self.rate_limit_hint(response.status))
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
        headers: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
        data: bytes | None = None,
        hint: Callable[[int], str] | None = None,
        outcome: Callable[[int | None, bool, bool], str] = repeat_outcome,
        check: Callable[[DispatchError, str], dict[str, Any] | None] | None = None,
    ) -> Any:
        """The one retry loop: send until ``outcome`` says ``done`` (return the response) or ``fail``, at most
        ``MAX_ATTEMPTS`` times, waiting out rate limits and backing off after ``retry``.

        ``headers`` and ``data`` pass through to :meth:`Http.request` (a target's auth header, a raw body);
        ``headers`` may be a function called before every attempt, for headers that must be fresh each time (a
        signature over a new timestamp).

        ``check`` is for a request that must not be repeated blindly (the dispatch): after a ``check`` outcome (the
        request may have started something) it looks for the result and returns it, or None to send again. A
        failure then carries ``hint(status)`` (by default :meth:`read_hint`); a ``fail`` of a checked request is
        ``definite``: the service refused it, nothing started.
        """
        hints = hint or self.read_hint
        attempt = 0
        failure: DispatchError
        while True:
            attempt += 1
            try:
                sent = headers() if callable(headers) else headers
                response = self.http.request(method, url, body, token=token, headers=sent, data=data)
            except TransportError as exc:
                if exc.permanent:
                    raise
                action, failure, status_text = outcome(None, exc.maybe_sent, False), exc, exc.reason
            else:
                message = response.message if response.status >= 300 else ""
                limited = self.is_rate_limited(response.status, response.headers, message)
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

    def get(self, url: str, hint: Callable[[int], str] | None = None, headers: Mapping[str, str] | None = None) -> Any:
        """GET JSON with the retries of :meth:`call`."""
        return self.call("GET", url, hint=hint, headers=headers).json()

    # ----------------------------------------------------------------------------------------- loops

    def lost_answer_check(
        self, correlation_id: str, started: float, settle_seconds: float
    ) -> Callable[[DispatchError, str], dict[str, Any] | None]:
        """The ``check`` of a dispatch POST for :meth:`call`: after an answer that may hide a started run, search
        for the correlation id for ``settle_seconds``; without a correlation input, or when the search fails,
        refuse to send again (one line saying why)."""

        def check(failure: DispatchError, status_text: str) -> dict[str, Any] | None:
            if not self.config.correlation_input:
                raise DispatchError(
                    f"{failure} (the dispatch may have started a {self.run_word}; not sent again so the "
                    f"{self.run_word} cannot start twice; hint: {self.correlation_hint()} so the dispatcher can "
                    "check)"
                )
            self.log(f"dispatch answered {status_text}; checking whether the {self.run_word} started anyway")
            try:
                return self.find_run(correlation_id, started, settle_seconds)
            except DispatchError as exc:
                raise DispatchError(
                    f"{failure} (the dispatch may have started a {self.run_word} and checking failed, so it is not "
                    f"sent again: {exc})"
                ) from None

        return check

    def find_run(self, correlation_id: str, since: float, seconds: float) -> dict[str, Any] | None:
        """Poll :meth:`search` until it finds the run carrying ``correlation_id`` or ``seconds`` pass.

        A new run shows in a list after a few seconds, sometimes much later: the polls back off from one second
        to ``LIST_POLL_CAP_SECONDS`` so that a long search stays cheap.
        """
        deadline = self.clock.monotonic() + seconds
        delay = 1.0
        while True:
            run = self.search(correlation_id, since)
            if run is not None:
                return run
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                return None
            self.clock.pause(min(delay, remaining))
            delay = min(delay * 2, LIST_POLL_CAP_SECONDS)

    def wait(self, run_id: Any, html_url: str, started: float) -> None:
        """Poll :meth:`run_state` until the run is done; raise unless it succeeded within the wait timeout.

        The first poll comes a second after the dispatch and the gaps double up to ``poll_interval``: a short run is
        seen finished within about a second, a long one costs a request per interval. A progress line is written
        when the status changes and every ``PROGRESS_EVERY_SECONDS``.
        """
        config = self.config
        deadline = started + config.wait_timeout
        last_status = None
        last_line = self.clock.monotonic()
        delay = 1.0
        while True:
            self.clock.pause(min(delay, config.poll_interval, max(deadline - self.clock.monotonic(), 0.0)))
            delay *= 2
            status, done, succeeded, url = self.run_state(run_id)
            html_url = url or html_url
            now = self.clock.monotonic()
            if done:
                if succeeded:
                    self.log(f"{self.run_word} {run_id} completed: {status} {html_url}".rstrip())
                    return
                hint = self.failure_hint(status)
                suffix = f" (hint: {hint})" if hint else ""
                failed = DispatchError(f"{self.run_title} {run_id} concluded {status}: {html_url}{suffix}")
                failed.definite = True
                raise failed
            if status != last_status or now - last_line >= PROGRESS_EVERY_SECONDS:
                self.log(f"{self.run_word} {run_id} {status} ({int(now - started)} s elapsed) {html_url}".rstrip())
                last_status, last_line = status, now
            if deadline - now <= 0:
                raise DispatchError(
                    f"timed out after {config.wait_timeout:g} s waiting for {html_url or f'{self.run_word} {run_id}'}"
                    f"; the {self.run_word} continues on {self.service}"
                )
