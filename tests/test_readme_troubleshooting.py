"""The README's Troubleshooting table quotes what the dispatcher really prints for the GitLab, Azure DevOps and
webhook targets: each error is produced against the fakes (with the helpers of ``tests/generator/test_dispatch_*``)
and must match a row's quote, in which ``...`` stands for the parts that differ per setup (URLs, names, ids).
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from meshpipe.fakes import webhook as fake_webhook_module
from meshpipe.fakes.azure_devops import FakeAzureDevOps
from meshpipe.fakes.gitlab import FakeGitLab
from meshpipe.fakes.webhook import FakeWebhookReceiver
from meshpipe.webhook import verify
from tests.generator.test_dispatch_azure import one_error_line as azure_error
from tests.generator.test_dispatch_azure import run_dispatcher as azure_dispatch
from tests.generator.test_dispatch_azure import setup_pipeline
from tests.generator.test_dispatch_gitlab import PROJECT as GITLAB_PROJECT
from tests.generator.test_dispatch_gitlab import one_error_line as gitlab_error
from tests.generator.test_dispatch_gitlab import run_dispatcher as gitlab_dispatch
from tests.generator.test_dispatch_gitlab import setup_project
from tests.generator.test_dispatch_webhook import SECRET_CANARY
from tests.generator.test_dispatch_webhook import one_error_line as webhook_error
from tests.generator.test_dispatch_webhook import run_dispatcher as webhook_dispatch

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def troubleshooting_quotes(text: str = README) -> list[str]:
    """The code span opening the first cell of each row of the README's Troubleshooting table."""
    section = text.split("\n## Troubleshooting\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([^`]+)`", section, flags=re.MULTILINE)


def quote_pattern(quote: str) -> re.Pattern[str]:
    """A row's quote as a pattern: literal text, ``...`` for any text in between."""
    return re.compile(".+?".join(re.escape(part) for part in quote.split("...")))


def quoted_by(line: str, needle: str) -> str:
    """The README quote that matches ``line`` and names ``needle`` (what makes the row this target's)."""
    quotes = [quote for quote in troubleshooting_quotes() if needle in quote and quote_pattern(quote).search(line)]
    assert quotes, f"no Troubleshooting row naming {needle!r} quotes:\n{line}"
    return quotes[0]


# ------------------------------------------------------------------------------------------------ GitLab


def _gitlab_401(fake: FakeGitLab, cwd: Path) -> str:
    setup_project(fake)
    return gitlab_error(gitlab_dispatch(fake, cwd, access="glpat-unknown"))


def _gitlab_403(fake: FakeGitLab, cwd: Path) -> str:
    setup_project(fake)
    fake.add_access_token("glpat-reader", projects=[GITLAB_PROJECT], scopes=["read_api"])
    return gitlab_error(gitlab_dispatch(fake, cwd, access="glpat-reader"))


def _gitlab_404(fake: FakeGitLab, cwd: Path) -> str:
    setup_project(fake)
    return gitlab_error(gitlab_dispatch(fake, cwd, gitlab={"project": "acme/none"}))


def _gitlab_400_ref(fake: FakeGitLab, cwd: Path) -> str:
    setup_project(fake)
    return gitlab_error(gitlab_dispatch(fake, cwd, gitlab={"ref": "nope"}))


def _gitlab_400_variables(fake: FakeGitLab, cwd: Path) -> str:
    setup_project(fake, ci_inputs=None, allow_pipeline_variables=False)
    return gitlab_error(gitlab_dispatch(fake, cwd, gitlab={"values": "variables"}))


def _gitlab_no_token(fake: FakeGitLab, cwd: Path) -> str:
    setup_project(fake)
    return gitlab_error(gitlab_dispatch(fake, cwd, access=None))


GITLAB_CASES: dict[str, tuple[Callable[[FakeGitLab, Path], str], str]] = {
    "401": (_gitlab_401, "GITLAB_TOKEN is invalid"),
    "403": (_gitlab_403, "lacks the api scope"),
    "404": (_gitlab_404, "404 Project Not Found"),
    "400 unknown ref": (_gitlab_400_ref, "check that ref"),
    "400 variables refused": (_gitlab_400_variables, "Insufficient permissions"),
    "no token": (_gitlab_no_token, "no GitLab token"),
}


@pytest.mark.parametrize("case", list(GITLAB_CASES))
def test_gitlab_errors_are_quoted(case: str, fake_gitlab: FakeGitLab, tmp_path: Path) -> None:
    produce, needle = GITLAB_CASES[case]
    quoted_by(produce(fake_gitlab, tmp_path), needle)


# ------------------------------------------------------------------------------------------------ Azure DevOps


def _azure_401(fake: FakeAzureDevOps, cwd: Path) -> str:
    pipeline_id = setup_pipeline(fake)
    return azure_error(azure_dispatch(fake, cwd, pipeline_id, pat="azdoWRONGpat0000000000000000000000000000000000000"))


def _azure_403(fake: FakeAzureDevOps, cwd: Path) -> str:
    pipeline_id = setup_pipeline(fake)
    fake.add_pat("azdoREADONLYpat", scopes=["vso.build"])
    return azure_error(azure_dispatch(fake, cwd, pipeline_id, pat="azdoREADONLYpat"))


def _azure_404(fake: FakeAzureDevOps, cwd: Path) -> str:
    setup_pipeline(fake)
    return azure_error(azure_dispatch(fake, cwd, 4242))


def _azure_400(fake: FakeAzureDevOps, cwd: Path) -> str:
    pipeline_id = setup_pipeline(fake)
    return azure_error(azure_dispatch(fake, cwd, pipeline_id, inputs={"name": "x", "surprise": "1"}))


def _azure_no_credential(fake: FakeAzureDevOps, cwd: Path) -> str:
    pipeline_id = setup_pipeline(fake)
    return azure_error(azure_dispatch(fake, cwd, pipeline_id, pat=None))


AZURE_CASES: dict[str, tuple[Callable[[FakeAzureDevOps, Path], str], str]] = {
    "401": (_azure_401, "AZURE_DEVOPS_PAT is invalid"),
    "403": (_azure_403, "Build (Read & execute)"),
    "404": (_azure_404, "not found."),
    "400": (_azure_400, "Unexpected parameter"),
    "no credential": (_azure_no_credential, "no Azure DevOps credential"),
}


@pytest.mark.parametrize("case", list(AZURE_CASES))
def test_azure_devops_errors_are_quoted(case: str, fake_azure_devops: FakeAzureDevOps, tmp_path: Path) -> None:
    produce, needle = AZURE_CASES[case]
    quoted_by(produce(fake_azure_devops, tmp_path), needle)


# ------------------------------------------------------------------------------------------------ webhook


@pytest.fixture
def receiver() -> Iterator[FakeWebhookReceiver]:
    """A receiver whose secret is the helpers' canary, so signatures verify."""
    with FakeWebhookReceiver(SECRET_CANARY) as fake:
        yield fake


def test_a_wrong_webhook_secret_is_quoted(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    line = webhook_error(webhook_dispatch(receiver, tmp_path, env={"HOOK_SECRET": "whsec-wrong-value-42"}))
    assert "signature-mismatch" not in line  # the receiver's message, not its rule name
    quoted_by(line, "does not match the body")


def test_a_skewed_clock_is_quoted(
    receiver: FakeWebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The receiver's clock runs ten minutes ahead of the runner's (the fake's only, not the dispatcher's)."""

    def ahead(*args: Any, **kwargs: Any) -> Any:
        return verify(*args, **kwargs, now=time.time() + 600)

    monkeypatch.setattr(fake_webhook_module, "verify", functools.update_wrapper(ahead, verify))
    line = webhook_error(webhook_dispatch(receiver, tmp_path))
    quoted_by(line, "skewed clock")


def test_a_refused_webhook_body_is_quoted(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    receiver.add_fault(status=422, method="POST", body={"message": "unknown job template"})
    quoted_by(webhook_error(webhook_dispatch(receiver, tmp_path)), "refused the body")


def test_a_webhook_without_its_secret_is_quoted(receiver: FakeWebhookReceiver, tmp_path: Path) -> None:
    line = webhook_error(webhook_dispatch(receiver, tmp_path, webhook={"auth": {"secret_env": "UNSET_SECRET"}}))
    quoted_by(line, "no HMAC secret")


# ------------------------------------------------------------------------------------------------ the checker


def test_a_row_that_does_not_quote_the_message_is_not_accepted() -> None:
    """The matcher itself: a row with other text, or the right text without its hint, does not count."""
    line = "meshpipe-dispatch: error: POST http://x/p -> 401: nope (hint: the access token in GITLAB_TOKEN is invalid)"
    table = (
        "\n## Troubleshooting\n\n| `... -> 401: ... (hint: the access token in GITLAB_TOKEN is expired)` | a | b |\n"
    )
    quotes = troubleshooting_quotes(table)
    assert quotes and not any(quote_pattern(quote).search(line) for quote in quotes)
    assert quote_pattern("... -> 401: ... (hint: the access token in GITLAB_TOKEN is invalid)").search(line)
