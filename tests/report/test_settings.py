"""Settings are resolved once from a plain mapping: run locator and credential precedence."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from meshpipe.report import ConfigurationError, Settings

RUN = "https://mesh.example/api/meshobjects/meshbuildingblockruns/r1"


def _b64(url: str, base: str = "https://base.example") -> str:
    obj = {
        "metadata": {"uuid": "x"},
        "spec": {"behavior": "DESTROY"},
        "_links": {"self": {"href": url}, "meshstackBaseUrl": {"href": base}},
    }
    return base64.b64encode(json.dumps(obj).encode()).decode()


def _event(tmp_path: Path, **inputs: str) -> str:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"inputs": inputs}))
    return str(path)


def test_run_url_flag_wins_over_everything(tmp_path: Path) -> None:
    env = {"MESHSTACK_RUN_URL": RUN + "env", "GITHUB_EVENT_PATH": _event(tmp_path, buildingBlockRunUrl=RUN + "ev")}
    settings = Settings.from_env(env, run_url=RUN + "flag", run_b64=_b64(RUN + "b64"))
    assert (settings.run_url, settings.locator) == (RUN + "flag", "--run-url")


def test_env_run_url_beats_event_input_and_b64(tmp_path: Path) -> None:
    env = {
        "MESHSTACK_RUN_URL": RUN,
        "GITHUB_EVENT_PATH": _event(tmp_path, buildingBlockRunUrl=RUN + "ev"),
        "MESHSTACK_RUN_B64": _b64(RUN + "b64"),
    }
    assert Settings.from_env(env).run_url == RUN


def test_event_input_run_url_beats_b64(tmp_path: Path) -> None:
    env = {"GITHUB_EVENT_PATH": _event(tmp_path, buildingBlockRunUrl=RUN + "/"), "MESHSTACK_RUN_B64": _b64("x")}
    settings = Settings.from_env(env)
    assert (settings.run_url, settings.locator) == (RUN, "input buildingBlockRunUrl")


@pytest.mark.parametrize("where", ["flag", "env", "input"])
def test_b64_run_object_gives_url_and_object(tmp_path: Path, where: str) -> None:
    b64 = _b64(RUN)
    env: dict[str, str] = {}
    if where == "env":
        env["MESHSTACK_RUN_B64"] = b64
    if where == "input":
        env["GITHUB_EVENT_PATH"] = _event(tmp_path, buildingBlockRun=b64)
    settings = Settings.from_env(env, run_b64=b64 if where == "flag" else None)
    assert settings.run_url == RUN
    assert settings.run_object is not None and settings.run_object.behavior == "DESTROY"


def test_state_in_runner_temp_is_the_last_resort(tmp_path: Path) -> None:
    (tmp_path / "meshpipe_run_state.json").write_text(json.dumps({"run_url": RUN}))
    settings = Settings.from_env({"RUNNER_TEMP": str(tmp_path)})
    assert (settings.run_url, settings.locator) == (RUN, "the state of an earlier step")
    other = Settings.from_env({"RUNNER_TEMP": str(tmp_path), "MESHSTACK_RUN_URL": RUN + "2"})
    assert other.run_url == RUN + "2"


def test_missing_run_names_every_place_it_looks() -> None:
    with pytest.raises(ConfigurationError, match=r"--run-url.*MESHSTACK_RUN_URL.*buildingBlockRunUrl"):
        Settings.from_env({}).require_run_url()


def test_empty_variables_count_as_unset() -> None:
    settings = Settings.from_env({"MESHSTACK_RUN_URL": "", "MESHSTACK_RUN_TOKEN": "", "MESHSTACK_API_TOKEN": "t"})
    assert settings.run_url is None
    assert settings.credentials is not None and settings.credentials.kind == "api_token"


def test_bad_run_url_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not an http"):
        Settings.from_env({"MESHSTACK_RUN_URL": "mesh.example/run"})


def test_credentials_precedence(tmp_path: Path) -> None:
    (tmp_path / "meshstack_token.json").write_text(json.dumps({"token": "file-token"}))
    full = {
        "MESHSTACK_RUN_URL": RUN,
        "RUNNER_TEMP": str(tmp_path),
        "MESHSTACK_RUN_TOKEN": "run",
        "MESHSTACK_API_TOKEN": "api",
        "MESHSTACK_CLIENT_ID": "id",
        "MESHSTACK_CLIENT_SECRET": "secret",
    }
    kinds = []
    for drop in (
        [],
        ["MESHSTACK_RUN_TOKEN"],
        ["MESHSTACK_API_TOKEN"],
        ["MESHSTACK_CLIENT_ID", "MESHSTACK_CLIENT_SECRET"],
    ):
        for key in drop:
            full.pop(key)
        creds = Settings.from_env(full).credentials
        assert creds is not None
        kinds.append((creds.kind, creds.token, creds.needs_mask))
    assert kinds == [
        ("run_token", "run", True),
        ("api_token", "api", True),
        ("api_key", None, False),
        ("token_file", "file-token", True),
    ]


def test_login_base_is_the_endpoint_else_the_run_url_origin_never_the_run_objects_base_url() -> None:
    """Issue 8 item 2: ``_links.meshstackBaseUrl`` (a workflow input anyone who can dispatch controls) overrode
    ``MESHSTACK_ENDPOINT`` for the login, so the API key secret went wherever the run object pointed."""
    key = {"MESHSTACK_CLIENT_ID": "id", "MESHSTACK_CLIENT_SECRET": "s"}
    from_object = Settings.from_env({**key, "MESHSTACK_ENDPOINT": "https://mesh.example/"}, run_b64=_b64(RUN))
    without_endpoint = Settings.from_env(key, run_b64=_b64(RUN))
    from_url = Settings.from_env({**key, "MESHSTACK_RUN_URL": RUN})
    assert [s.credentials.login_base for s in (from_object, without_endpoint, from_url)] == [  # type: ignore[union-attr]
        "https://mesh.example",
        "https://mesh.example",
        "https://mesh.example",
    ]


def test_half_an_api_key_is_an_error() -> None:
    with pytest.raises(ConfigurationError, match="must be set together"):
        Settings.from_env({"MESHSTACK_CLIENT_ID": "id"})


def test_secrets_are_not_in_the_settings_repr() -> None:
    settings = Settings.from_env({"MESHSTACK_RUN_TOKEN": "canary-token-123", "MESHSTACK_RUN_URL": RUN})
    assert "canary-token-123" not in repr(settings)
    key = Settings.from_env({"MESHSTACK_CLIENT_ID": "id", "MESHSTACK_CLIENT_SECRET": "canary-secret"})
    assert "canary-secret" not in repr(key)


def test_retry_tuning_and_github_context_come_from_the_mapping() -> None:
    settings = Settings.from_env(
        {
            "MESHPIPE_RETRY_BASE_DELAY": "0.01",
            "MESHPIPE_RETRY_ATTEMPTS": "2",
            "GITHUB_RUN_ID": "42",
            "GITHUB_REPOSITORY": "acme/blocks",
            "GITHUB_SERVER_URL": "https://ghe.example",
            "GITHUB_ACTIONS": "true",
        }
    )
    assert (settings.retry_base_delay, settings.retry_attempts) == (0.01, 2)
    assert settings.external_run_url == "https://ghe.example/acme/blocks/actions/runs/42"
    assert settings.on_github_actions


def test_retry_tuning_rejects_nonsense() -> None:
    with pytest.raises(ConfigurationError, match="MESHPIPE_RETRY_BASE_DELAY"):
        Settings.from_env({"MESHPIPE_RETRY_BASE_DELAY": "soon"})


def test_proxies_come_from_the_mapping_and_stay_out_of_the_repr() -> None:
    """The transport reads its proxies from the settings, not from ``os.environ`` (issue 11 item 8)."""
    proxy = "http://user:canary-proxy-pw@proxy.example:3128"
    settings = Settings.from_env(
        {"MESHSTACK_RUN_URL": RUN, "HTTPS_PROXY": proxy, "no_proxy": "internal.example", "PATH": "/bin"}
    )
    assert settings.proxy_env == {"HTTPS_PROXY": proxy, "no_proxy": "internal.example"}
    assert "canary-proxy-pw" not in repr(settings)
