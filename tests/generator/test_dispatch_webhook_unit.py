"""The webhook target's pure parts and bounded loops, in process: a fake clock (no waiting) and the real HTTP layer
against the fake receiver."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from meshpipe.fakes.webhook import FakeWebhookReceiver
from tests.generator.support import load_dispatcher
from tests.generator.test_dispatch_startup import NETWORK, NEVER, imported

SECRET = "whsec-unit-0123456789"


class WallClock:
    """A clock whose sleeps advance time at once; wall time starts at the real time (receivers check it)."""

    def __init__(self) -> None:
        self.offset = 0.0
        self.sleeps: list[float] = []
        self.frozen = time.time()

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.offset += seconds

    def wall(self) -> float:
        return self.frozen + self.offset

    def seam(self, dispatcher: ModuleType) -> Any:
        return dispatcher.Clock(
            sleep=self.sleep, monotonic=self.wall, wall=self.wall, jitter=lambda: 0.0, check_every=float("inf")
        )


@pytest.fixture
def dispatcher() -> Iterator[ModuleType]:
    sys.modules.pop("dispatch_webhook", None)  # bound to the siblings of an earlier copy otherwise
    yield load_dispatcher("meshpipe_dispatch_webhook_under_test")


@pytest.fixture
def receiver() -> Iterator[FakeWebhookReceiver]:
    with FakeWebhookReceiver(SECRET) as fake:
        yield fake
        fake.raise_errors()


def configuration(url: str, **overrides: Any) -> dict[str, Any]:
    webhook = {"url": url, "event": "apply", "auth": {"secret_env": "HOOK_SECRET", "token_env": ""}}
    webhook.update(overrides.pop("webhook", {}))
    data = {"version": 1, "module": "hook", "target": "webhook", "webhook": webhook, "inputs": {"a": "b"}}
    data.update(overrides)
    return data


def client_for(dispatcher: ModuleType, url: str, clock: WallClock, **overrides: Any) -> Any:
    config = dispatcher.Config(configuration(url, **overrides))
    environ = {"HOOK_SECRET": SECRET}
    return dispatcher.make_client(config, environ, 5.0, clock.seam(dispatcher))


def test_persistent_server_errors_back_off_and_stop_after_five_attempts(
    dispatcher: ModuleType, receiver: FakeWebhookReceiver
) -> None:
    clock = WallClock()
    receiver.add_fault(status=502, times=10, method="POST")
    client = client_for(dispatcher, receiver.url, clock)
    with pytest.raises(dispatcher.ApiError) as caught:
        client.dispatch({"a": "b"}, "cid-1", 0.0)
    assert caught.value.status == 502 and not caught.value.definite
    # backoff without jitter, none after the last attempt; between them at most a second for a later timestamp
    backoff = iter(clock.sleeps)
    assert all(any(slept == wanted for slept in backoff) for wanted in (0.5, 1.0, 2.0, 4.0)), clock.sleeps
    assert sum(clock.sleeps) < 7.5 + 4
    assert [r.status for r in receiver.log()] == [502] * 5


def test_rate_limit_waits_are_capped_and_bounded_in_total(
    dispatcher: ModuleType, receiver: FakeWebhookReceiver
) -> None:
    clock = WallClock()
    receiver.add_fault(status=429, retry_after=1000, times=10, method="POST")
    client = client_for(dispatcher, receiver.url, clock)
    with pytest.raises(dispatcher.ApiError, match="kept answering 429"):
        client.dispatch({"a": "b"}, "cid-1", 0.0)
    assert clock.sleeps == [120.0, 120.0]  # a third wait would pass the 300 s total
    assert receiver.jobs == []


def test_an_unusable_retry_after_falls_back_to_backoff(dispatcher: ModuleType, receiver: FakeWebhookReceiver) -> None:
    clock = WallClock()
    receiver.add_fault(status=503, method="POST", headers={"Retry-After": "nan"})
    client_for(dispatcher, receiver.url, clock).dispatch({"a": "b"}, "cid-1", 0.0)
    assert clock.sleeps[0] == 0.5 and len(receiver.jobs) == 1  # (then up to a second for a later timestamp)


def test_every_attempt_has_a_later_timestamp_even_when_no_time_passes(
    dispatcher: ModuleType, receiver: FakeWebhookReceiver
) -> None:
    clock = WallClock()
    receiver.add_fault(status=429, retry_after=0, times=2, method="POST")
    client_for(dispatcher, receiver.url, clock).dispatch({"a": "b"}, "cid-1", 0.0)
    stamps = [int(r.headers["x-meshpipe-timestamp"]) for r in receiver.log(method="POST")]
    assert stamps == sorted(set(stamps)) and len(stamps) == 3
    assert len(receiver.jobs) == 1  # no attempt was refused as a replay


@pytest.mark.parametrize(
    ("status", "limited", "action"),
    [
        (None, False, "resend"),
        (200, False, "done"),
        (202, False, "done"),
        (204, False, "done"),
        (429, True, "wait"),
        (503, True, "wait"),
        (503, False, "resend"),
        (500, False, "resend"),
        (408, False, "resend"),
        (409, False, "resend"),
        (425, False, "resend"),
        (301, False, "fail"),
        (400, False, "fail"),
        (401, False, "fail"),
        (404, False, "fail"),
        (413, False, "fail"),
        (415, False, "fail"),
        (422, False, "fail"),
    ],
)
def test_delivery_outcomes(dispatcher: ModuleType, status: int | None, limited: bool, action: str) -> None:
    webhook = dispatcher.target_module("webhook")
    assert webhook.delivery_outcome(status, limited) == action


@pytest.mark.parametrize(
    ("other", "same"),
    [
        ("https://hooks.example/jobs/1", True),
        ("https://HOOKS.example:443/jobs/1", True),
        ("http://hooks.example/jobs/1", False),
        ("https://hooks.example:8443/jobs/1", False),
        ("https://evil.example/jobs/1", False),
        ("https://hooks.example.evil.example/jobs/1", False),
        ("https://user@hooks.example/jobs/1", False),
        ("/jobs/1", False),
        ("javascript:alert(1)", False),
    ],
)
def test_status_urls_must_share_scheme_host_and_port(dispatcher: ModuleType, other: str, same: bool) -> None:
    webhook = dispatcher.target_module("webhook")
    assert webhook.same_origin("https://hooks.example/hook", other) is same


def test_settings_describe_the_delivery_and_its_credentials(dispatcher: ModuleType) -> None:
    auth = {"secret_env": "S", "token_env": "T"}
    config = dispatcher.Config(configuration("https://ci.example/hook", webhook={"auth": auth}))
    settings = config.settings
    assert config.subject == "webhook 'apply' to https://ci.example/hook"
    assert settings.secret_envs == ("S", "T")
    assert settings.identity == ("webhook", "https://ci.example/hook", "apply")
    destroy = dispatcher.Config(configuration("https://ci.example/hook", webhook={"event": None}), "destroy")
    assert not destroy.has_target


def test_a_destroy_configuration_without_a_webhook_object_still_parses(dispatcher: ModuleType) -> None:
    config = dispatcher.Config({"version": 1, "target": "webhook"}, "destroy")
    assert not config.has_target
    with pytest.raises(dispatcher.ConfigError, match="webhook: required with target webhook"):
        dispatcher.Config({"version": 1, "target": "webhook"}, "apply")


def test_github_keys_are_refused_with_target_webhook(dispatcher: ModuleType) -> None:
    with pytest.raises(dispatcher.ConfigError, match="GitHub's keys and other targets' objects are not valid"):
        dispatcher.Config(configuration("https://ci.example/hook", repository="acme/infra"))


def test_the_signature_is_what_the_receiver_library_computes(dispatcher: ModuleType) -> None:
    from meshpipe import webhook as library

    target = dispatcher.target_module("webhook")
    assert target.sign(SECRET, 1_767_000_000, b"{}") == library.sign(SECRET, 1_767_000_000, b"{}")


@pytest.mark.parametrize(
    ("phase", "config"),
    [
        ("apply", {"behavior": "DETECT"}),
        ("destroy", {"webhook": {"event": None}}),
    ],
    ids=["detect", "destroy-without-event"],
)
def test_a_path_that_sends_nothing_loads_no_network_or_hashing_code(
    tmp_path: Path, phase: str, config: dict[str, Any]
) -> None:
    loaded = imported(tmp_path, phase, configuration("https://ci.example/hook", **config), {"HOOK_SECRET": SECRET})
    assert "dispatch_webhook" in loaded  # the target's settings were parsed ...
    unwanted = NEVER | NETWORK | {"hmac", "dispatch_github", "dispatch_auth"}
    assert not loaded & unwanted, sorted(loaded & unwanted)  # ... and nothing else came along


def test_a_delivery_imports_nothing_it_does_not_use(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    loaded = imported(tmp_path, "apply", configuration(receiver.url), {"HOOK_SECRET": SECRET})
    assert len(receiver.jobs) == 1
    assert {"http.client", "hmac"} <= loaded
    assert not loaded & (NEVER | {"dispatch_github"}), sorted(loaded & NEVER)
