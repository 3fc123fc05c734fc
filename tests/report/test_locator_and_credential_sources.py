"""The two halves of ``Settings.from_env``, each on its own: finding the run and finding the credentials."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from meshpipe.report import ConfigurationError
from meshpipe.report.credential_sources import find_credentials
from meshpipe.report.locator import Located, endpoint_url, locate_run, origin

RUN = "https://mesh.example/api/meshobjects/meshbuildingblockruns/r1"


def test_locate_run_names_what_located_it_and_trims_the_url() -> None:
    found = locate_run({"MESHSTACK_RUN_URL": f" {RUN}/ "})
    assert found == Located("MESHSTACK_RUN_URL", RUN)


def test_locate_run_decodes_a_base64_run_object(tmp_path: Path) -> None:
    obj = {"metadata": {"uuid": "x"}, "spec": {"behavior": "DETECT"}, "_links": {"self": {"href": RUN}}}
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"inputs": {"buildingBlockRun": base64.b64encode(json.dumps(obj).encode()).decode()}}))
    found = locate_run({"GITHUB_EVENT_PATH": str(event)}, state_run_url="https://elsewhere.example/run")
    assert (found.locator, found.url) == ("input buildingBlockRun", RUN)
    assert found.run_object is not None and found.run_object.behavior == "DETECT"


def test_locate_run_without_any_locator_finds_nothing() -> None:
    assert locate_run({}) == Located("none", None, None)


def test_origin_and_endpoint_are_normalised() -> None:
    assert origin("HTTPS://Mesh.Example:443/api/x") == "https://mesh.example"
    assert origin("http://[::1]:8080/x") == "http://[::1]:8080"
    assert endpoint_url("https://mesh.example/ ") == "https://mesh.example"
    with pytest.raises(ConfigurationError, match="MESHSTACK_ENDPOINT='ftp://x' is not an http"):
        endpoint_url("ftp://x")


def test_find_credentials_logs_in_at_the_run_urls_origin_without_an_endpoint() -> None:
    env = {"MESHSTACK_CLIENT_ID": "id", "MESHSTACK_CLIENT_SECRET": "s3cr3t-value"}
    credentials = find_credentials(env, None, f"{RUN}")
    assert credentials is not None
    assert (credentials.kind, credentials.login_base) == ("api_key", "https://mesh.example")


def test_find_credentials_reads_the_token_file_last(tmp_path: Path) -> None:
    (tmp_path / "meshstack_token.json").write_text(json.dumps({"token": " file-token-value "}))
    credentials = find_credentials({}, tmp_path, RUN)
    assert credentials is not None and (credentials.kind, credentials.token) == ("token_file", "file-token-value")
    assert find_credentials({}, None, RUN) is None
