"""The dispatcher's target-independent frame (issue 12): choosing the target module, the common keys, the nested
settings' messages, ``phase_input``, and configurations stored by modules from before targets.

The frame is exercised with a tiny target written into the test's directory (``dispatch_tiny.py``): it is not a
real target and never ships; the real ones have their own tests.
"""

from __future__ import annotations

import json
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from meshpipe.fakes.github import FakeGitHub
from tests.generator.support import load_dispatcher
from tests.generator.test_dispatch_integration import (
    CANARY,
    REPO,
    WORKFLOW_INPUTS,
    one_error_line,
    run_dispatcher,
    setup_repo,
)
from tests.generator.test_dispatch_unit import Clock

FIXTURE = Path(__file__).parent.parent / "fixtures" / "dispatch" / "github-destroy-config-pre-targets.json"
TINY_TOKEN = "tiny-CANARY-token-never-printed-0123"

#: a minimal target on the frame: nested settings with an auth object, a client recording what it was asked
TINY_TARGET = """
from dispatch_base import ConfigError, http_url, opt_string, rule, section, string
from dispatch_client import BaseClient

TARGET = "tiny"
CALLS = []


class Settings:
    def __init__(self, data, phase):
        tiny = section(data, "tiny", ("url", "ref", "auth"), phase)
        self.url = http_url(tiny, "url", path="tiny.")
        self.ref = opt_string(tiny, "ref", path="tiny.")
        auth = section(tiny, "auth", ("token_env",), phase, path="tiny.")
        self.token_env = string(auth, "token_env", "TINY_TOKEN", path="tiny.auth.")
        rule(self.ref or phase == "destroy", "tiny.ref", "required")
        self.has_target = bool(self.ref)
        self.subject = f"pipeline on {self.ref} at {self.url}"
        self.identity = (self.url, self.ref or "")
        self.secret_envs = (self.token_env,)


def parse_settings(data, phase):
    return Settings(data, phase)


class TinyClient(BaseClient):
    service = "Tiny"
    run_word = "pipeline"
    run_title = "pipeline"
    states = []

    def dispatch(self, inputs, correlation_id, settle_seconds):
        CALLS.append(("dispatch", dict(inputs), correlation_id))
        return 41, "https://tiny.example/p/41"

    def search(self, correlation_id, since):
        CALLS.append(("search", correlation_id))
        return None

    def run_state(self, run_id):
        CALLS.append(("run_state", run_id))
        return self.states.pop(0)

    def failure_hint(self, status_text):
        return "someone must start it by hand" if status_text == "manual" else ""


def make_client(config, environ, http_deadline, clock):
    token = environ.get(config.settings.token_env)
    if not token:
        raise ConfigError(f"no tiny token: set {config.settings.token_env}")
    CALLS.append(("make_client", http_deadline))
    return TinyClient(config, None, clock)
"""


@pytest.fixture
def dispatcher(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """A fresh dispatcher whose target table also knows ``tiny`` (a module in the test's directory)."""
    (tmp_path / "dispatch_tiny.py").write_text(textwrap.dedent(TINY_TARGET), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "dispatch_tiny", raising=False)
    module = load_dispatcher("meshpipe_dispatch_targets_under_test")
    monkeypatch.setitem(module.TARGET_MODULES, "tiny", "dispatch_tiny")
    monkeypatch.chdir(tmp_path)  # the intent marker is written to the working directory
    yield module
    sys.modules.pop("dispatch_tiny", None)


def tiny_config(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": 1,
        "module": "tiny-trigger",
        "target": "tiny",
        "tiny": {"url": "https://tiny.example/api", "ref": "main", "auth": {"token_env": "TINY_TOKEN"}},
        "inputs": {"name": "team-bucket"},
        "correlation_input": "correlation_id",
        "phase_input": "meshpipe_phase",
        "run_id": "0b8f2b1e-7d0a-4c39-9a57-3f2d6e1c4b80",
        "building_block_id": "a3f0e9d2-5c41-4b7e-8e21-6d0c9b7a5f33",
    }
    data.update(overrides)
    return data


def run_tiny(dispatcher: ModuleType, phase: str, data: dict[str, Any], **env: str) -> list[Any]:
    environ = {"MESHPIPE_DISPATCH": json.dumps(data), "TINY_TOKEN": TINY_TOKEN, **env}
    dispatcher.run(["dispatch.py", phase], environ, Clock().seam(dispatcher))
    calls: list[Any] = sys.modules["dispatch_tiny"].CALLS
    return calls


# ------------------------------------------------------------------------------------------------ choosing the target


def test_the_target_picks_its_module_and_only_that_one(dispatcher: ModuleType) -> None:
    for name in ("dispatch_github", "dispatch_auth", "dispatch_net", "dispatch_gitlab"):
        sys.modules.pop(name, None)
    config = dispatcher.Config(tiny_config())
    assert config.target == "tiny"
    assert type(config.settings).__module__ == "dispatch_tiny"
    assert config.subject == "pipeline on main at https://tiny.example/api"
    assert config.has_target
    assert not {"dispatch_github", "dispatch_auth", "dispatch_net", "dispatch_gitlab"} & set(sys.modules)


@pytest.mark.parametrize("target", [{}, {"target": None}, {"target": "github"}], ids=["absent", "null", "github"])
def test_a_configuration_without_target_is_githubs(dispatcher: ModuleType, target: dict[str, Any]) -> None:
    config = dispatcher.Config({"repository": "acme/infra", "workflow": "apply.yml", **target})
    assert config.target == "github"
    assert config.settings.repository == "acme/infra"
    assert config.subject == "apply.yml on main"


@pytest.mark.parametrize("phase", ["apply", "destroy"])
def test_an_unknown_target_is_a_config_error_in_both_phases(dispatcher: ModuleType, phase: str) -> None:
    # Nothing can be sent without knowing where: unlike an unknown key, an unknown target fails a destroy too.
    with pytest.raises(dispatcher.ConfigError) as info:
        dispatcher.Config(tiny_config(target="jenkins"), phase)
    assert str(info.value).startswith("MESHPIPE_DISPATCH.target: expected one of github, gitlab, azure_devops, webhook")
    assert str(info.value).endswith("got 'jenkins'")


def test_an_unknown_target_fails_main_with_one_line(dispatcher: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    environ = {"MESHPIPE_DISPATCH": json.dumps(tiny_config(target=["gitlab"]))}
    assert dispatcher.main(["dispatch.py", "destroy"], environ) == 1
    err = capsys.readouterr().err
    assert err.startswith("meshpipe-dispatch: error: MESHPIPE_DISPATCH.target: expected one of ")
    assert err.count("\n") == 1


def test_a_target_whose_file_is_not_shipped_is_a_config_error(
    dispatcher: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(dispatcher.TARGET_MODULES, "tiny", "dispatch_not_shipped")
    with pytest.raises(dispatcher.ConfigError, match=r"'tiny' needs dispatch_not_shipped\.py next to dispatch\.py"):
        dispatcher.Config(tiny_config())


@pytest.mark.parametrize("key", ["repository", "workflow", "auth", "gitlab"])
def test_githubs_flat_keys_and_other_targets_objects_are_not_valid_with_another_target(
    dispatcher: ModuleType, key: str
) -> None:
    with pytest.raises(dispatcher.ConfigError) as info:
        dispatcher.Config(tiny_config(**{key: "x"}))
    assert f"unknown key {key!r}" in str(info.value)
    assert "not valid with target 'tiny'" in str(info.value)


def test_a_nested_object_for_github_is_an_unknown_key(dispatcher: ModuleType) -> None:
    with pytest.raises(dispatcher.ConfigError, match="unknown key 'gitlab'"):
        dispatcher.Config({"repository": "acme/infra", "workflow": "apply.yml", "gitlab": {"ref": "main"}})


# ------------------------------------------------------------------------------------------------ nested settings


@pytest.mark.parametrize(
    ("nested", "message"),
    [
        ({"url": "https://tiny.example/api", "ref": 5}, "MESHPIPE_DISPATCH.tiny.ref: expected a string or null, got 5"),
        (
            {"url": "ftp://tiny.example"},
            "MESHPIPE_DISPATCH.tiny.url: expected an http(s) URL, got 'ftp://tiny.example'",
        ),
        (
            {"url": "https://user:pw@tiny.example", "ref": "main"},
            "MESHPIPE_DISPATCH.tiny.url: expected a URL without credentials (they come from the environment)",
        ),
        ({"ref": "main"}, "MESHPIPE_DISPATCH.tiny.url: expected a non-empty string, got None"),
        (
            {"url": "https://tiny.example", "ref": "main", "auth": {"token_env": ""}},
            "MESHPIPE_DISPATCH.tiny.auth.token_env: expected a non-empty string, got ''",
        ),
        (
            {"url": "https://tiny.example", "ref": "main", "auth": "TOKEN"},
            "MESHPIPE_DISPATCH.tiny.auth: expected an object, got 'str'",
        ),
        (
            {"url": "https://tiny.example", "ref": "main", "branch": "x"},
            "MESHPIPE_DISPATCH.tiny.branch: unknown key; known: url, ref, auth",
        ),
        (
            {"url": "https://tiny.example", "ref": "main", "auth": {"pat_env": "X"}},
            "MESHPIPE_DISPATCH.tiny.auth.pat_env: unknown key; known: token_env",
        ),
        ({"url": "https://tiny.example", "ref": None}, "MESHPIPE_DISPATCH.tiny.ref: required"),
    ],
)
def test_nested_settings_errors_name_the_whole_key_path(
    dispatcher: ModuleType, nested: dict[str, Any], message: str
) -> None:
    with pytest.raises(dispatcher.ConfigError) as info:
        dispatcher.Config(tiny_config(tiny=nested))
    assert str(info.value) == message


def test_an_unknown_nested_key_only_warns_in_a_destroy(
    dispatcher: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    nested = {"url": "https://tiny.example", "ref": "main", "added_later": True}
    config = dispatcher.Config(tiny_config(tiny=nested), "destroy")
    assert config.settings.ref == "main"
    assert "warning: MESHPIPE_DISPATCH.tiny.added_later: unknown key" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------ the run flow


def test_a_dispatch_sends_the_phase_and_the_correlation_id_and_waits_through_the_frame(
    dispatcher: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    sys.modules.pop("dispatch_tiny", None)
    tiny = dispatcher.target_module("tiny")
    tiny.TinyClient.states = [
        ("running", False, False, ""),
        ("success", True, True, "https://tiny.example/p/41"),
    ]
    calls = run_tiny(dispatcher, "apply", tiny_config(wait=True))
    assert [call[0] for call in calls] == ["make_client", "dispatch", "run_state", "run_state"]
    inputs, cid = calls[1][1], calls[1][2]
    assert inputs == {"name": "team-bucket", "correlation_id": cid, "meshpipe_phase": "apply"}
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "[tiny-trigger] dispatched pipeline on main at https://tiny.example/api: pipeline 41 https://tiny.example/p/41",
        "[tiny-trigger] pipeline 41 running (1 s elapsed) https://tiny.example/p/41",
        "[tiny-trigger] pipeline 41 completed: success https://tiny.example/p/41",
    ]


def test_the_destroy_phase_sends_destroy_as_the_phase(dispatcher: ModuleType) -> None:
    calls = run_tiny(dispatcher, "destroy", tiny_config())
    assert calls[1][1]["meshpipe_phase"] == "destroy"


def test_without_phase_input_no_phase_is_sent(dispatcher: ModuleType) -> None:
    calls = run_tiny(dispatcher, "apply", tiny_config(phase_input=None))
    assert "meshpipe_phase" not in calls[1][1]


@pytest.mark.parametrize("name", ["name", "correlation_id"])
def test_phase_input_may_not_name_another_input(dispatcher: ModuleType, name: str) -> None:
    with pytest.raises(
        dispatcher.ConfigError, match=rf"MESHPIPE_DISPATCH\.phase_input: names another input too, got '{name}'"
    ):
        dispatcher.Config(tiny_config(phase_input=name))


def test_a_failed_pipeline_carries_the_targets_hint_and_a_timeout_names_the_service(dispatcher: ModuleType) -> None:
    tiny = dispatcher.target_module("tiny")
    tiny.TinyClient.states = [("manual", True, False, "https://tiny.example/p/41")]
    with pytest.raises(dispatcher.DispatchError) as info:
        run_tiny(dispatcher, "apply", tiny_config(wait=True))
    assert str(info.value) == (
        "pipeline 41 concluded manual: https://tiny.example/p/41 (hint: someone must start it by hand)"
    )
    assert info.value.definite
    tiny.TinyClient.states = [("running", False, False, "")] * 20
    with pytest.raises(dispatcher.DispatchError) as info:
        run_tiny(dispatcher, "apply", tiny_config(wait=True, wait_timeout_seconds=3, run_id="another-run"))
    assert str(info.value) == (
        "timed out after 3 s waiting for https://tiny.example/p/41; the pipeline continues on Tiny"
    )


def test_a_destroy_configuration_without_a_destroy_item_sends_nothing_and_needs_no_credentials(
    dispatcher: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tiny_config(tiny={"url": "https://tiny.example", "ref": None})
    dispatcher.run(["dispatch.py", "destroy"], {"MESHPIPE_DISPATCH": json.dumps(data)})
    assert sys.modules["dispatch_tiny"].CALLS == []
    assert "nothing to fire" in capsys.readouterr().out


def test_the_targets_secret_variables_are_masked_before_anything_can_fail(
    dispatcher: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tiny_config(secret_inputs={"password": "UNSET_VARIABLE"})
    environ = {"MESHPIPE_DISPATCH": json.dumps(data), "TINY_TOKEN": TINY_TOKEN}
    assert dispatcher.main(["dispatch.py", "apply"], environ) == 1
    assert "UNSET_VARIABLE is not set" in capsys.readouterr().err
    assert dispatcher.redact(f"echo {TINY_TOKEN}") == "echo ***"


def test_the_correlation_id_hashes_the_targets_identity(dispatcher: ModuleType) -> None:
    def cid(**nested: Any) -> str:
        config = dispatcher.Config(tiny_config(tiny={"url": "https://tiny.example", "ref": "main", **nested}))
        value, deterministic = dispatcher.correlation_id(config, dispatcher.RunContext(config), "apply")
        assert deterministic
        return str(value)

    assert cid() == cid()
    assert cid() != cid(ref="release")
    assert cid() != cid(url="https://other.example")


# ------------------------------------------------------------------------------------------------ older modules


def stored() -> dict[str, Any]:
    return dict(json.loads(FIXTURE.read_text(encoding="utf-8")))


def test_a_configuration_stored_before_targets_is_githubs_with_the_same_correlation_ids(
    dispatcher: ModuleType,
) -> None:
    fixture = stored()
    config = dispatcher.Config(fixture["config"], "destroy")
    assert "target" not in fixture["config"]
    assert (config.target, config.subject, config.has_target) == ("github", "destroy.yml on main", True)
    context = dispatcher.RunContext(config)
    assert dispatcher.correlation_id(config, context, "destroy") == (fixture["correlation_ids"]["destroy"], True)
    applied = dispatcher.Config({**fixture["config"], "workflow": "apply.yml"}, "apply")
    expected = fixture["correlation_ids"]["apply (workflow apply.yml)"]
    assert dispatcher.correlation_id(applied, dispatcher.RunContext(applied), "apply") == (expected, True)


def test_a_destroy_with_a_configuration_stored_before_targets_fires_once(
    fake_github: FakeGitHub, tmp_path: Path
) -> None:
    setup_repo(fake_github)
    fake_github.add_workflow(
        REPO, "destroy.yml", inputs=WORKFLOW_INPUTS, run_name="deploy ${{ inputs.correlation_id }}"
    )
    config = {**stored()["config"], "api_url": fake_github.api_url, "poll_interval_seconds": 0.1}
    result = run_dispatcher(fake_github, tmp_path, "destroy", **config)
    assert result.returncode == 0, result.stderr
    (dispatch,) = fake_github.dispatches
    assert dispatch.workflow == "destroy.yml"
    assert set(dispatch.inputs) == {"name", "correlation_id"}
    assert CANARY not in result.stdout + result.stderr


def test_an_unknown_target_fails_the_script_with_one_line(fake_github: FakeGitHub, tmp_path: Path) -> None:
    result = run_dispatcher(fake_github, tmp_path, "destroy", target="jenkins")
    assert "MESHPIPE_DISPATCH.target: expected one of github, gitlab, azure_devops, webhook" in one_error_line(result)
    assert fake_github.log() == []


# ------------------------------------------------------------------------------------------------ HTTP for every target


class _Echo(BaseHTTPRequestHandler):
    """Answers 200 with what it received: the headers as a list of pairs (duplicates show) and the raw body."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        answer = json.dumps({"headers": list(self.headers.items()), "body": body.decode("latin-1")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def echo() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_http_sends_the_targets_base_headers_overridden_by_the_requests_and_a_raw_body(
    dispatcher: ModuleType, echo: str
) -> None:
    http = dispatcher.Http("meshpipe-dispatch/test", base_headers={"Accept": "application/json", "X-Base": "1"})
    raw = b'{"b":1,"a":"\\u00e9"}'
    headers = {"accept": "text/plain", "PRIVATE-TOKEN": "glpat-test", "Content-Type": "application/json"}
    answer = http.request("POST", f"{echo}/hook", headers=headers, data=raw).json()
    sent = [(name.lower(), value) for name, value in answer["headers"]]
    assert [value for name, value in sent if name == "accept"] == ["text/plain"]
    assert ("x-base", "1") in sent and ("private-token", "glpat-test") in sent
    assert ("user-agent", "meshpipe-dispatch/test") in sent
    assert "authorization" not in dict(sent)  # no bearer token unless one is given
    assert answer["body"].encode("latin-1") == raw


def test_http_without_base_headers_sends_nothing_of_githubs(dispatcher: ModuleType, echo: str) -> None:
    answer = dispatcher.Http("ua").request("POST", echo, {"x": 1}, token="tok-1234").json()
    sent = {name.lower(): value for name, value in answer["headers"]}
    assert not any("github" in name or "github" in value for name, value in sent.items())
    assert sent["authorization"] == "Bearer tok-1234"
    assert sent["content-type"] == "application/json"
    assert json.loads(answer["body"]) == {"x": 1}


def test_call_asks_for_fresh_headers_before_every_attempt(dispatcher: ModuleType) -> None:
    clock = Clock()
    seen: list[Any] = []

    class Recording:
        def request(self, method: str, url: str, body: Any = None, token: Any = None, **options: Any) -> Any:
            seen.append(options)
            status = 503 if len(seen) == 1 else 200
            return dispatcher.Response(status, {}, b"{}")

    config = dispatcher.Config({"repository": "acme/infra", "workflow": "apply.yml"})
    client = dispatcher.BaseClient(config, Recording(), clock.seam(dispatcher))
    stamps = iter(["1", "2"])
    client.call("POST", "https://x/hook", headers=lambda: {"X-Stamp": next(stamps)}, data=b"body")
    assert seen == [{"headers": {"X-Stamp": "1"}, "data": b"body"}, {"headers": {"X-Stamp": "2"}, "data": b"body"}]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"message": "Not Found"}, "Not Found"),
        ({"message": "Validation Failed", "errors": [{"code": "x"}]}, 'Validation Failed [{"code": "x"}]'),
        ({"message": {"base": ["Reference not found"]}}, '{"base": ["Reference not found"]}'),
        ({"error": "invalid_token", "error_description": "Token expired"}, "invalid_token Token expired"),
        ({"error": "ref is missing"}, "ref is missing"),
    ],
)
def test_error_messages_of_every_targets_form_are_one_line(
    dispatcher: ModuleType, payload: dict[str, Any], message: str
) -> None:
    assert dispatcher.Response(400, {}, json.dumps(payload).encode()).message == message


# ------------------------------------------------------------------------------------------------ credentials


def test_a_credential_is_read_by_name_stripped_and_masked(dispatcher: ModuleType) -> None:
    assert dispatcher.credential({"TINY_TOKEN": f"  {TINY_TOKEN}\n"}, "TINY_TOKEN", "tiny token") == TINY_TOKEN
    assert dispatcher.redact(f"token={TINY_TOKEN}") == "token=***"


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({}, "no GitLab access token: set the environment variable GITLAB_TOKEN"),
        ({"GITLAB_TOKEN": " \t"}, "no GitLab access token: set the environment variable GITLAB_TOKEN"),
        (
            {"GITLAB_TOKEN": "glpat-first\nsecond-CANARY"},
            "GITLAB_TOKEN contains a control character; a token is printable ASCII (value not shown)",
        ),
    ],
)
def test_a_missing_or_malformed_credential_is_one_line_naming_the_variable(
    dispatcher: ModuleType, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(dispatcher.ConfigError) as info:
        dispatcher.credential(environ, "GITLAB_TOKEN", "GitLab access token")
    assert str(info.value) == message
