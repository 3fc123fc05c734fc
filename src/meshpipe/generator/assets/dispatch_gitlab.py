"""The dispatcher's GitLab target: its settings (the configuration's ``gitlab`` object), its credentials and
:class:`GitLabClient`, which creates one pipeline on a ref of a project, finds it again by its name after a lost
answer and waits on its ``status``, on top of the shared :class:`BaseClient`.

GitLab's REST v4 (https://docs.gitlab.com/api/pipelines/, https://docs.gitlab.com/api/pipeline_triggers/):

* an access token (project, group or personal, ``glpat-...``) creates with ``POST {api}/projects/{id}/pipeline``
  and ``PRIVATE-TOKEN``, JSON ``{"ref", "inputs": {...}}`` or ``{"ref", "variables": [{"key", "value",
  "variable_type": "env_var"}]}``; it needs the ``api`` scope and the Developer role. It also reads pipelines
  (``read_api`` is enough), so it can wait and can check whether a lost answer started a pipeline;
* a pipeline trigger token (``glptt-...``) creates with ``POST {api}/projects/{id}/trigger/pipeline``, the token in
  the JSON body with ``ref`` and ``inputs`` or ``variables`` (an object of strings); it cannot read pipelines.
  Mode ``auto`` creates with the trigger token when one is set and reads with the access token.

Both answers are the pipeline (``id``, ``web_url``, ``status``), so no search is needed after a normal dispatch.
After a lost answer, a 5xx or a timeout the pipeline may exist: it is looked up by its ``name`` (the project's
``workflow:name`` renders the correlation input into it) with the access token before anything is sent again; with
only a trigger token nothing is sent again and the dispatch fails with one line saying why. The search reads at most
``SEARCH_PAGES`` pages of ``per_page=100`` pipelines (GitLab's largest page,
https://docs.gitlab.com/api/rest/#pagination), newest first, following ``X-Next-Page``. Input values go as strings:
GitLab reads a string given to a ``number``, ``boolean`` or ``array`` input as JSON (``BaseInput``).

With ``values: variables`` a value holding ``$`` is refused before anything is sent: GitLab expands ``$NAME`` in a
CI/CD variable's value unless the variable is raw (https://docs.gitlab.com/ci/variables/#prevent-cicd-variable-expansion),
and the pipeline API's ``variables`` take only ``key``, ``value`` and ``variable_type``
(https://docs.gitlab.com/api/pipelines/#create-a-new-pipeline; the trigger API an object of strings), so a value
cannot be sent raw. Unverified (no GitLab here): in which places GitLab expands a pipeline variable created through
the API; the refusal assumes the worst. ``values: inputs`` is not affected (the pipeline declares the variables it
makes of inputs ``expand: false``).
"""

from __future__ import annotations

import time

from dispatch_base import (
    DEFAULT_GITLAB_AUTH,
    GITLAB_AUTH_MODES,
    Clock,
    ConfigError,
    DispatchError,
    _percent,
    credential,
    http_url,
    opt_string,
    printable,
    rule,
    section,
    string,
)
from dispatch_client import MAX_SINGLE_WAIT_SECONDS, BaseClient, finite_seconds, post_outcome

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

    from dispatch import Config
    from dispatch_net import Http

__all__ = [
    "DEFAULT_API_URL",
    "GITLAB_KEYS",
    "PER_PAGE",
    "SEARCH_PAGES",
    "TARGET",
    "GitLabClient",
    "Settings",
    "make_client",
    "parse_settings",
]

TARGET = "gitlab"
DEFAULT_API_URL = "https://gitlab.com/api/v4"
#: the keys of the configuration's ``gitlab`` object
GITLAB_KEYS = ("api_url", "project", "ref", "values", "auth")
VALUE_MODES = ("inputs", "variables")
BASE_HEADERS = {"Accept": "application/json"}
#: statuses after which a pipeline does not move on by itself (``manual`` waits for a person)
SUCCEEDED = ("success",)
ENDED = ("success", "failed", "canceled", "skipped", "manual")
#: how far before the dispatch the search for a lost pipeline looks (clock skew between runner and GitLab)
LIST_LOOKBACK_SECONDS = 120
#: the search for a lost pipeline reads at most this many pages of PER_PAGE pipelines (newest first)
SEARCH_PAGES = 5
PER_PAGE = 100
_PROJECT_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/")


# --------------------------------------------------------------------------------------------- settings


class Settings:
    """GitLab's part of the configuration: where to create the pipeline, how values travel, which credentials."""

    @property
    def typed_inputs(self) -> bool:
        """spec:inputs are typed (number, boolean, array); CI/CD variables are strings."""
        return self.values == "inputs"

    def __init__(self, data: Mapping[str, Any], phase: str) -> None:
        gitlab = section(data, "gitlab", GITLAB_KEYS, phase)
        self.api_url = http_url(gitlab, "api_url", DEFAULT_API_URL, path="gitlab.", base=True)
        rule(
            self.api_url.endswith("/api/v4"),
            "gitlab.api_url",
            "expected the REST API URL ending in /api/v4",
            self.api_url,
        )
        self.project = string(gitlab, "project", path="gitlab.")
        parts = self.project.split("/")
        is_path = len(parts) >= 2 and all(parts) and set(self.project) <= _PROJECT_CHARS
        rule(self.project.isdigit() or is_path, "gitlab.project", "expected 'group/project' or an id", self.project)
        # Only the destroy configuration may have no ref: the module then has no destroy pipeline, fires nothing.
        self.ref = opt_string(gitlab, "ref", path="gitlab.")
        rule(self.ref or phase == "destroy", "gitlab.ref", "required (the branch or tag to run the pipeline on)")
        rule(self.ref is None or printable(self.ref), "gitlab.ref", "expected a branch or tag name", self.ref)
        self.values = string(gitlab, "values", default="inputs", path="gitlab.")
        rule(self.values in VALUE_MODES, "gitlab.values", f"expected one of {', '.join(VALUE_MODES)}", self.values)
        auth = section(gitlab, "auth", tuple(DEFAULT_GITLAB_AUTH), phase, path="gitlab.")
        self.auth = {
            key: string(auth, key, default=default, path="gitlab.auth.") for key, default in DEFAULT_GITLAB_AUTH.items()
        }
        mode = self.auth["mode"]
        rule(mode in GITLAB_AUTH_MODES, "gitlab.auth.mode", f"expected one of {', '.join(GITLAB_AUTH_MODES)}", mode)

    @property
    def has_target(self) -> bool:
        """Whether there is a pipeline to create (a destroy configuration without a ref has none)."""
        return bool(self.ref)

    @property
    def subject(self) -> str:
        """What is dispatched, for log lines."""
        return f"pipeline on {self.ref} of {self.project}"

    @property
    def identity(self) -> tuple[str, ...]:
        """What the correlation id hashes besides phase, run and fingerprint."""
        return (self.api_url, self.project, self.ref or "")

    @property
    def secret_envs(self) -> tuple[str, ...]:
        """The variables holding credentials: the trigger token and the access token."""
        return (self.auth["trigger_token_env"], self.auth["token_env"])


def parse_settings(data: Mapping[str, Any], phase: str) -> Settings:
    """Validate the configuration's ``gitlab`` object for ``phase`` (ConfigError naming the key path)."""
    return Settings(data, phase)


def _credential(environ: Mapping[str, str], name: str, required: bool, why: str) -> str | None:
    """The GitLab token in ``name`` (registered as a secret, checked), None when unset and not ``required``."""
    if not (environ.get(name) or "").strip():
        if required:
            raise ConfigError(f"no GitLab token: set the environment variable {name} ({why})")
        return None
    return credential(environ, name, "GitLab token")


def make_client(config: Config, environ: Mapping[str, str], http_deadline: float, clock: Clock) -> GitLabClient:
    """A GitLab client with its tokens from the environment, by the names in ``gitlab.auth``.

    ``trigger_token``: the trigger token creates, an access token (optional) reads; ``access_token``: the access
    token does both; ``auto``: the trigger token creates when set, else the access token. Waiting needs an access
    token in every mode: a trigger token cannot read pipelines.
    """
    from dispatch_net import Http

    settings: Settings = config.settings
    mode, trigger_env, token_env = (settings.auth[k] for k in ("mode", "trigger_token_env", "token_env"))
    trigger = None
    if mode != "access_token":
        trigger = _credential(environ, trigger_env, mode == "trigger_token", "gitlab.auth.mode is trigger_token")
    if mode == "access_token":
        why = "gitlab.auth.mode access_token creates the pipeline with it"
    elif config.wait:
        why = "waiting reads the pipeline, which a trigger token cannot"
    elif trigger is None:
        why = f"neither {trigger_env} nor {token_env} holds a GitLab token"
    else:
        why = ""  # a trigger token alone creates; without an access token a lost answer is not checked
    access = _credential(environ, token_env, bool(why), why)
    http = Http(config.user_agent, environ=environ, deadline=http_deadline, clock=clock, base_headers=BASE_HEADERS)
    return GitLabClient(config, http, trigger_token=trigger, access_token=access, clock=clock)


# --------------------------------------------------------------------------------------------- the client


class GitLabClient(BaseClient):
    """Create one GitLab pipeline, find it after a lost answer and wait for it."""

    service = "GitLab"
    run_word = "pipeline"
    run_title = "pipeline"

    def __init__(
        self,
        config: Config,
        http: Http,
        *,
        trigger_token: str | None,
        access_token: str | None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(config, http, clock)
        self.settings: Settings = config.settings
        self.trigger_token = trigger_token
        self.access_token = access_token
        self.project_url = f"{self.settings.api_url}/projects/{_percent(self.settings.project, '')}"

    # ----------------------------------------------------------------------------------------- hooks

    def rate_limit_delay(self, headers: Mapping[str, str], now: float) -> float | None:
        """``Retry-After``, else until ``RateLimit-Reset`` (epoch seconds), else a minute."""
        if "retry-after" in headers:
            seconds = finite_seconds(headers["retry-after"])
            return None if seconds is None else min(seconds, MAX_SINGLE_WAIT_SECONDS)
        reset = finite_seconds(headers.get("ratelimit-reset", ""))
        if reset is not None:
            return min(max(reset - now, 0.0) + 1.0, MAX_SINGLE_WAIT_SECONDS)
        return 60.0

    def hint(self, status: int) -> str:
        """GitLab's usual causes of an error status when creating a pipeline or listing pipelines."""
        settings = self.settings
        token_env, trigger_env = settings.auth["token_env"], settings.auth["trigger_token_env"]
        if status == 401:
            return f"the access token in {token_env} is invalid, expired or revoked"
        if status == 403:
            return (
                f"the access token in {token_env} lacks the api scope (read_api only reads) or the Developer role "
                f"on {settings.project}"
            )
        if status == 404:
            which = f"the trigger token in {trigger_env} is not one of its" if self.trigger_token else "private ones"
            return (
                f"project {settings.project} not found at {settings.api_url}, or not visible to the token "
                f"({which} answer 404)"
            )
        if status == 400:
            if settings.values == "inputs":
                return (
                    f"GitLab refused the pipeline: check that ref {settings.ref!r} exists and that the inputs match "
                    "the .gitlab-ci.yml's spec:inputs"
                )
            return (
                f"GitLab refused the pipeline: check that ref {settings.ref!r} exists, that the variable names are "
                "letters, digits and '_', and that the project's 'Minimum role to use pipeline variables' allows them"
            )
        if status == 415:
            return "GitLab refused the request's media type"
        return super().hint(status)

    def read_hint(self, status: int) -> str:
        """A 404 on one pipeline: the token cannot read it (or it was deleted)."""
        if status == 404:
            return f"the pipeline is not visible to the access token in {self.settings.auth['token_env']}"
        return self.hint(status)

    def failure_hint(self, status_text: str) -> str:
        if status_text == "manual":
            return "the pipeline waits for a manual job; start it in GitLab or drop `when: manual` from the job"
        return ""

    def correlation_hint(self) -> str:
        reference = "$[[ inputs.NAME ]]" if self.settings.values == "inputs" else "$NAME"
        return f"set correlation_input and put it in the .gitlab-ci.yml's workflow:name as {reference}"

    def missing_run_hint(self) -> str:
        name = self.config.correlation_input
        reference = f"$[[ inputs.{name} ]]" if self.settings.values == "inputs" else f"${name}"
        return f"the .gitlab-ci.yml's workflow:name must contain {reference}"

    # ----------------------------------------------------------------------------------------- requests

    def _read_headers(self) -> dict[str, str]:
        if self.access_token is None:
            raise DispatchError(
                f"reading pipelines needs an access token in {self.settings.auth['token_env']} (scope read_api); "
                "a trigger token cannot read them"
            )
        return {"PRIVATE-TOKEN": self.access_token}

    def _request(self, inputs: Mapping[str, str]) -> tuple[str, dict[str, Any], dict[str, str]]:
        """URL, body and headers of the create request for the chosen credential and value mode."""
        settings = self.settings
        if self.trigger_token is not None:
            body: dict[str, Any] = {"token": self.trigger_token, "ref": settings.ref}
            body[settings.values] = dict(inputs)  # inputs: an object; variables: an object of strings
            return f"{self.project_url}/trigger/pipeline", body, {}
        body = {"ref": settings.ref}
        if settings.values == "inputs":
            body["inputs"] = dict(inputs)
        else:
            body["variables"] = [{"key": k, "value": v, "variable_type": "env_var"} for k, v in inputs.items()]
        return f"{self.project_url}/pipeline", body, self._read_headers()

    def _no_check(self) -> Callable[[DispatchError, str], dict[str, Any] | None]:
        """The lost-answer check without an access token: never send again, say why and what to set."""
        token_env = self.settings.auth["token_env"]

        def refuse(failure: DispatchError, status_text: str) -> dict[str, Any] | None:
            raise DispatchError(
                f"{failure} (the pipeline may have started; not sent again, because a trigger token cannot list "
                f"pipelines to check; hint: set {token_env} to an access token with read_api so the dispatcher "
                "can check before sending again)"
            )

        return refuse

    def expansion(self) -> tuple[str, str] | None:
        """``values: variables``: ``$``, which GitLab would expand as a variable reference."""
        if self.settings.values != "variables":
            return None
        why = "which GitLab expands in a CI/CD variable (the pipeline API cannot send it raw)"
        return "$", f"{why}; remove the '$' or use gitlab.values: inputs"

    def dispatch(self, inputs: Mapping[str, str], correlation_id: str, settle_seconds: float) -> tuple[Any, str]:
        """Create the pipeline once (modulo provably safe retries); return ``(pipeline id, web_url)``."""
        url, body, headers = self._request(inputs)
        if self.access_token is not None:
            check = self.lost_answer_check(correlation_id, self.clock.wall(), settle_seconds)
        else:
            check = self._no_check()
        answer = self.call("POST", url, body, headers=headers, hint=self.hint, outcome=post_outcome, check=check)
        if isinstance(answer, dict):  # found by the check after a lost answer
            return answer["id"], str(answer.get("web_url") or "")
        pipeline = answer.json()
        if not isinstance(pipeline, dict) or pipeline.get("id") is None:
            raise DispatchError(f"POST {url} -> {answer.status}: GitLab answered without a pipeline id")
        web_url = str(pipeline.get("web_url") or "")
        if pipeline.get("yaml_errors"):
            # A trigger keeps a pipeline whose configuration failed (bad inputs): created, failed, runs nothing.
            failed = DispatchError(
                f"GitLab created pipeline {pipeline['id']} but its configuration failed: {pipeline['yaml_errors']}: "
                f"{web_url} (hint: the {self.settings.values} must match the .gitlab-ci.yml's spec:inputs)"
            )
            failed.definite = True
            raise failed
        return pipeline["id"], web_url

    def search(self, correlation_id: str, since: float) -> dict[str, Any] | None:
        """One look at the project's recent pipelines on the ref for one whose ``name`` carries the correlation id:
        at most ``SEARCH_PAGES`` pages of ``PER_PAGE``, newest first (a busy ref pushes the pipeline off page 1)."""
        ref = self.settings.ref or ""
        for prefix in ("refs/heads/", "refs/tags/"):
            ref = ref[len(prefix) :] if ref.startswith(prefix) else ref
        after = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(since - LIST_LOOKBACK_SECONDS))
        query = f"ref={_percent(ref, '')}&updated_after={_percent(after, '')}&per_page={PER_PAGE}"
        headers = self._read_headers()
        for page in range(1, SEARCH_PAGES + 1):
            url = f"{self.project_url}/pipelines?{query}&page={page}"
            answer = self.call("GET", url, hint=self.hint, headers=headers)
            pipelines = answer.json()
            pipelines = pipelines if isinstance(pipelines, list) else []
            for pipeline in pipelines:
                named = isinstance(pipeline, dict) and correlation_id in str(pipeline.get("name") or "")
                if named and pipeline.get("id") is not None:
                    web_url = str(pipeline.get("web_url") or "")
                    return {"id": pipeline["id"], "html_url": web_url, "web_url": web_url}
            next_page = answer.headers.get("x-next-page")  # empty on the last page; absent: go by the page size
            if len(pipelines) < PER_PAGE or (next_page is not None and not next_page.strip()):
                return None
        return None

    def run_state(self, run_id: Any) -> tuple[str, bool, bool, str]:
        """The pipeline's ``status``; done once it ended (``manual`` counts as ended: it waits for a person)."""
        pipeline = self.get(f"{self.project_url}/pipelines/{_percent(str(run_id), '')}", headers=self._read_headers())
        pipeline = pipeline if isinstance(pipeline, dict) else {}
        status = str(pipeline.get("status"))
        return status, status in ENDED, status in SUCCEEDED, str(pipeline.get("web_url") or "")
