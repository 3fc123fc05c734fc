"""Run object parsing, output typing and message capping."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from meshpipe.report import ConfigurationError, Output, RunObject
from meshpipe.report.model import (
    SYSTEM_MESSAGE_LIMIT,
    USER_MESSAGE_LIMIT,
    cap_system_message,
    cap_user_message,
    decode_run_b64,
    parse_output_flag,
    parse_outputs_json,
)

BASE = "https://mesh.example"
URL = f"{BASE}/api/meshobjects/meshbuildingblockruns/r1"


def _run(**links: Any) -> dict[str, Any]:
    return {
        "kind": "meshBuildingBlockRun",
        "metadata": {"uuid": "r1"},
        "spec": {
            "behavior": "DETECT",
            "buildingBlock": {
                "spec": {
                    "inputs": [
                        {"key": "name", "value": "b", "type": "STRING", "isSensitive": False, "isEnvironment": False},
                        {"key": "days", "value": 30, "type": "INTEGER", "isSensitive": False, "isEnvironment": False},
                        {
                            "key": "MESHSTACK_RUN_TOKEN",
                            "value": "enc",
                            "type": "STRING",
                            "isSensitive": True,
                            "isEnvironment": True,
                        },
                    ]
                }
            },
        },
        "status": "IN_PROGRESS",
        "_links": {"self": {"href": URL, "templated": None}, **links},
    }


def test_parses_behavior_inputs_and_links_with_templated_null() -> None:
    run = RunObject.parse(
        _run(
            registerSource={"href": URL + "/status/source", "templated": None},
            updateSource={"href": URL + "/status/source/{sourceId}", "templated": True},
            meshstackBaseUrl={"href": BASE, "templated": None},
        )
    )
    assert (run.url, run.uuid, run.behavior, run.status, run.base_url) == (URL, "r1", "DETECT", "IN_PROGRESS", BASE)
    assert run.inputs["days"].value == 30 and run.inputs["days"].type == "INTEGER"
    assert run.inputs["MESHSTACK_RUN_TOKEN"].is_sensitive and run.inputs["MESHSTACK_RUN_TOKEN"].is_environment
    assert run.register_url() == URL + "/status/source"
    assert run.update_url("github") == URL + "/status/source/github"


def test_sensitive_input_values_never_appear_in_a_repr() -> None:
    # A base64 run object is the runner-facing one: its sensitive inputs arrive decrypted.
    data = _run()
    data["spec"]["buildingBlock"]["spec"]["inputs"][2]["value"] = "canary-run-token-77"
    run = RunObject.parse(data)
    assert run.inputs["MESHSTACK_RUN_TOKEN"].value == "canary-run-token-77"
    assert "canary-run-token-77" not in repr(run)
    assert "canary-run-token-77" not in repr(run.inputs["MESHSTACK_RUN_TOKEN"])
    assert "'b'" in repr(run.inputs["name"])  # plain inputs stay readable


def test_links_win_over_the_fallback() -> None:
    run = RunObject.parse(
        _run(
            updateSource={"href": "https://other.example/u/{sourceId}/x", "templated": True},
            registerSource={"href": "https://other.example/r"},
        )
    )
    assert run.update_url("my source") == "https://other.example/u/my%20source/x"
    assert run.register_url() == "https://other.example/r"


def test_falls_back_to_run_url_paths_without_links() -> None:
    run = RunObject.parse({"spec": {}}, url=URL + "/")
    assert run.register_url() == URL + "/status/source"
    assert run.update_url("github") == URL + "/status/source/github"
    assert run.behavior == "APPLY"


def test_unknown_behavior_and_missing_url_are_errors() -> None:
    with pytest.raises(ConfigurationError, match="behavior"):
        RunObject.parse({"spec": {"behavior": "EXPLODE"}}, url=URL)
    with pytest.raises(ConfigurationError, match=r"self\.href"):
        RunObject.parse({"spec": {}})


@pytest.mark.parametrize("padding", [True, False])
def test_decodes_base64_run_object_with_or_without_padding(padding: bool) -> None:
    text = base64.b64encode(json.dumps(_run()).encode()).decode()
    if not padding:
        text = text.rstrip("=")
    assert RunObject.parse(decode_run_b64(text)).url == URL


def test_bad_base64_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="base64"):
        decode_run_b64("not base64 at all!")
    with pytest.raises(ConfigurationError, match="JSON object"):
        decode_run_b64(base64.b64encode(b"[1]").decode())


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("text", {"value": "text", "type": "STRING", "isSensitive": False}),
        (3, {"value": 3, "type": "INTEGER", "isSensitive": False}),
        (True, {"value": True, "type": "BOOLEAN", "isSensitive": False}),
        ({"b": [1, 2], "a": None}, {"value": '{"a": null, "b": [1, 2]}', "type": "CODE", "isSensitive": False}),
        ([1, "x"], {"value": '[1, "x"]', "type": "CODE", "isSensitive": False}),
        (1.5, {"value": "1.5", "type": "CODE", "isSensitive": False}),
    ],
)
def test_output_types_are_inferred_from_python_values(value: Any, wire: dict[str, Any]) -> None:
    assert Output.infer(value).to_wire() == wire


def test_explicit_output_types_convert_and_validate() -> None:
    assert Output.infer("7", "INTEGER") == Output(7, "INTEGER")
    assert Output.infer("TRUE", "boolean") == Output(True, "BOOLEAN")
    assert Output.infer('{"a": 1}', "CODE") == Output('{"a": 1}', "CODE")
    assert Output.infer(5, "STRING") == Output("5", "STRING")
    for value, type_ in [("x", "INTEGER"), ("yes", "BOOLEAN"), ("{", "CODE"), ("x", "FILE")]:
        with pytest.raises(ConfigurationError):
            Output.infer(value, type_)


def test_output_flag_keeps_colons_that_are_not_types() -> None:
    assert parse_output_flag("url=https://x.example:8443/a") == ("url", Output("https://x.example:8443/a", "STRING"))
    assert parse_output_flag("n=3:INTEGER") == ("n", Output(3, "INTEGER"))
    assert parse_output_flag("ok=true:BOOLEAN") == ("ok", Output(True, "BOOLEAN"))
    assert parse_output_flag("empty=") == ("empty", Output("", "STRING"))
    with pytest.raises(ConfigurationError, match="NAME=VALUE"):
        parse_output_flag("novalue")


def test_user_message_is_capped_with_a_visible_marker() -> None:
    assert cap_user_message("short") == "short"
    exact = "x" * USER_MESSAGE_LIMIT
    assert cap_user_message(exact) == exact
    capped = cap_user_message("y" * 2000)
    assert len(capped) == USER_MESSAGE_LIMIT
    assert capped.endswith("… [truncated]")


def test_system_message_keeps_the_tail_within_its_bound() -> None:
    log = "".join(f"line {i}\n" for i in range(5000))
    capped = cap_system_message(log)
    assert len(capped) == SYSTEM_MESSAGE_LIMIT
    assert capped.startswith("[… truncated")
    assert capped.endswith("line 4999\n")
    assert cap_system_message("small") == "small"


def test_outputs_json_accepts_plain_values_and_the_official_action_shape() -> None:
    parsed = parse_outputs_json(
        '{"url": "https://x", "n": 2, "cfg": {"a": 1}, "typed": {"value": "5", "type": "INTEGER"},'
        ' "official": {"value": "https://y", "type": "STRING", "isSensitive": false}}'
    )
    assert parsed == {
        "url": Output("https://x", "STRING"),
        "n": Output(2, "INTEGER"),
        "cfg": Output('{"a": 1}', "CODE"),
        "typed": Output(5, "INTEGER"),
        "official": Output("https://y", "STRING"),
    }
    assert parse_outputs_json("") == {}
    for bad in ("[1]", "{", '{"s": {"value": 1, "isSensitive": true}}'):
        with pytest.raises(ConfigurationError):
            parse_outputs_json(bad)


def _typed_inputs(*items: tuple[str, str, Any]) -> dict[str, Any]:
    inputs = [
        {"key": key, "type": type_, "value": value, "isSensitive": False, "isEnvironment": False}
        for key, type_, value in items
    ]
    data = _run()
    data["spec"]["buildingBlock"]["spec"]["inputs"] = inputs
    return {key: item.value for key, item in RunObject.parse(data).inputs.items()}


def test_input_values_sent_as_strings_read_like_json_values() -> None:
    """Issue 14 item 1: the API description types every input ``value`` as a string; the reporter handed the
    string ``"30"`` of an INTEGER input on as text, so ``show --json`` typed it differently from a run object that
    carries JSON numbers (what was observed)."""
    as_strings = _typed_inputs(
        ("days", "INTEGER", "30"),
        ("big", "INTEGER", " 1e3 "),
        ("on", "BOOLEAN", "true"),
        ("off", "BOOLEAN", "False"),
        ("zones", "MULTI_SELECT", '["a", "b"]'),
        ("name", "STRING", "30"),
        ("code", "CODE", '{"a": 1}'),
        ("choice", "SINGLE_SELECT", "true"),
    )
    as_json = _typed_inputs(
        ("days", "INTEGER", 30),
        ("big", "INTEGER", 1000),
        ("on", "BOOLEAN", True),
        ("off", "BOOLEAN", False),
        ("zones", "MULTI_SELECT", ["a", "b"]),
        ("name", "STRING", "30"),
        ("code", "CODE", '{"a": 1}'),
        ("choice", "SINGLE_SELECT", "true"),
    )
    assert as_strings == as_json
    assert [type(as_strings[k]) for k in ("days", "big", "on", "zones")] == [int, int, bool, list]


@pytest.mark.parametrize(
    ("type_", "value"), [("INTEGER", "thirty"), ("INTEGER", "nan"), ("BOOLEAN", "yes"), ("MULTI_SELECT", "[nope")]
)
def test_input_strings_that_do_not_parse_as_their_type_are_kept_as_they_are(type_: str, value: str) -> None:
    assert _typed_inputs(("x", type_, value)) == {"x": value}


@pytest.mark.parametrize(
    "broken",
    [
        {"spec": ["APPLY"]},
        {"spec": {"buildingBlock": "x"}},
        {"spec": {"buildingBlock": {"spec": {"inputs": {"key": "a"}}}}},
        {"metadata": "uuid"},
        {"_links": ["self"]},
    ],
)
def test_a_run_object_of_the_wrong_shape_is_read_or_refused_never_a_crash(broken: dict[str, Any]) -> None:
    """A base64 run object is a workflow input: ``{"spec": ["APPLY"]}`` crashed with an AttributeError traceback."""
    data = {**_run(), **broken}
    try:
        obj = RunObject.parse(data, url=URL)
    except ConfigurationError:
        return
    assert obj.url == URL
