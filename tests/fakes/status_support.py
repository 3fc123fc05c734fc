"""Helpers for the status page tests: a showcase run reported over HTTP, headless Chromium, a small DOM reader."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import requests

from meshpipe.fakes.github import FakeGitHub
from meshpipe.fakes.meshstack import MEDIA_TYPE, FakeMeshStack, FakeRun

CHROMIUM = os.environ.get("MESHPIPE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_TIMEOUT = 90.0
TOKEN = "status-page-token"
LONG_MESSAGE = "\n".join(f"error_detail line {n}: terraform_data.apply_trigger failed" for n in range(40))

# When each recorded event of the showcase run happened, in seconds after the run's creation (in recording order).
SCHEDULE = (0.2, 0.4, 1.0, 2.0, 2.5, 2.6, 5.0, 5.2, 6.0, 8.0)


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "Accept": MEDIA_TYPE, "Content-Type": MEDIA_TYPE}


def report(run: FakeRun, source: str, body: dict[str, Any], *, register: bool = False) -> None:
    """Register a source or PATCH it, over HTTP, as a pipeline would."""
    if register:
        response = requests.post(f"{run.url}/status/source", json=body, headers=_headers(), timeout=5)
    else:
        response = requests.patch(f"{run.url}/status/source/{source}", json=body, headers=_headers(), timeout=5)
    assert response.status_code == 200, response.text


def github_run_url(fake_github: FakeGitHub) -> tuple[str, str]:
    """Dispatch a workflow on the fake GitHub; the run's ``html_url`` and id, as the reporter would send them."""
    from tests.fakes.test_github_runs import dispatch, setup

    setup(fake_github, duration=None)
    run_id = dispatch(fake_github, correlation_id="orders-1")
    fake_github.complete_run(run_id, "failure")
    run = fake_github.run(run_id)
    return run.html_url, str(run_id)


def showcase_run(fake: FakeMeshStack, external_url: str, external_id: str) -> FakeRun:
    """A run with two sources and steps in every status, ``orders_db`` in every monospace cell and a long message.

    Its recorded event times are pinned to :data:`SCHEDULE`, so the page's layout is the same on every run.
    """
    fake.add_api_token(TOKEN)
    run = fake.create_run(display_name="orders-db", inputs={"db_name": "orders_db"})
    runner_steps = [{"id": "init", "displayName": "Init"}, {"id": "execute", "displayName": "Execute"},
                    {"id": "cleanup", "displayName": "Clean up"}]  # fmt: skip
    github_steps = [{"id": "checkout", "displayName": "Checkout"}, {"id": "plan", "displayName": "Plan"},
                    {"id": "apply", "displayName": "Apply"}, {"id": "notify", "displayName": "Notify"}]  # fmt: skip
    report(run, "runner", {"source": {"id": "runner"}, "steps": runner_steps}, register=True)
    report(run, "runner", {"steps": [{"id": "init", "status": "IN_PROGRESS"}]})
    source = {"id": "github", "externalRunUrl": external_url, "externalRunId": external_id}
    report(run, "github", {"source": source, "steps": github_steps}, register=True)
    report(
        run, "runner", {"steps": [{"id": "init", "status": "SUCCEEDED"}, {"id": "execute", "status": "IN_PROGRESS"}]}
    )
    report(
        run, "github", {"steps": [{"id": "checkout", "status": "SUCCEEDED", "userMessage": "checked out orders_db"}]}
    )
    report(run, "github", {"steps": [{"id": "plan", "status": "IN_PROGRESS"}]})
    output = {"db_name": {"value": "orders_db", "type": "STRING"}}
    report(run, "github", {"steps": [{"id": "plan", "status": "SUCCEEDED", "outputs": output}]})
    report(run, "github", {"steps": [{"id": "apply", "status": "IN_PROGRESS"}]})
    report(run, "runner", {"steps": [{"id": "cleanup", "status": "ABORTED", "systemMessage": "kept orders_db"}]})
    failed = {"id": "apply", "status": "FAILED", "userMessage": "Could not create the database.",
              "systemMessage": "orders_db: migration failed\n" + LONG_MESSAGE}  # fmt: skip
    report(run, "github", {"status": "FAILED", "steps": [failed]})
    assert len(run.events) == len(SCHEDULE)
    for event, offset in zip(run.events, SCHEDULE, strict=True):
        event["at"] = run.created_at + offset
    return run


def hide_underscores(run: FakeRun) -> None:
    """Replace the ``_`` of every ``orders_db`` with a no-break space: same width, same line breaks, no ink."""

    def swap(value: Any) -> Any:
        return value.replace("orders_db", "orders\u00a0db") if isinstance(value, str) else value

    for item in run.inputs:
        item["value"] = swap(item["value"])
    for source in run.sources.values():
        for step in source["steps"]:
            step["userMessage"] = swap(step["userMessage"])
            step["systemMessage"] = swap(step["systemMessage"])
            for output in step["outputs"].values():
                output["value"] = swap(output["value"])
    for output in run.outputs.values():
        output["value"] = swap(output["value"])


def chromium(url: str, *args: str, size: tuple[int, int] = (1280, 1800)) -> str:
    """Run headless Chromium once against ``url`` with ``args`` (``--screenshot=F`` or ``--dump-dom``); its stdout."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: run 'make browser' (Debian's chromium), as .ci/run does")
    with tempfile.TemporaryDirectory(prefix="meshpipe-chromium-") as profile:
        command = [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--hide-scrollbars", "--force-device-scale-factor=1", f"--user-data-dir={profile}",
            f"--window-size={size[0]},{size[1]}", *args, url,
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, timeout=CHROMIUM_TIMEOUT, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-2000:]
    return result.stdout.decode()


def screenshot(url: str, path: Path, size: tuple[int, int] = (1280, 1800)) -> Path:
    """A PNG of ``url`` as Chromium draws it."""
    chromium(url, f"--screenshot={path}", size=size)
    assert path.is_file()
    return path


@dataclass
class Element:
    """A parsed element: tag, attributes, children, and text."""

    tag: str
    attrs: dict[str, str]
    children: list[Element] = field(default_factory=list)
    parts: list[str | Element] = field(default_factory=list)

    @property
    def text(self) -> str:
        """All text inside, as a browser's ``textContent``."""
        return "".join(p if isinstance(p, str) else p.text for p in self.parts)

    def classes(self) -> set[str]:
        """The element's classes."""
        return set(self.attrs.get("class", "").split())

    def find_all(self, tag: str | None = None, cls: str | None = None) -> list[Element]:
        """Descendants with ``tag`` and/or class ``cls``, in document order."""
        found = []
        for child in self.children:
            if (tag is None or child.tag == tag) and (cls is None or cls in child.classes()):
                found.append(child)
            found.extend(child.find_all(tag, cls))
        return found


_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class _Builder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Element("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(element)
        self.stack[-1].parts.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self.stack) - 1, 0, -1):
            if self.stack[index].tag == tag:
                del self.stack[index:]
                return

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def parse_dom(html: str) -> Element:
    """The document Chromium dumped (``--dump-dom``), as a tree."""
    builder = _Builder()
    builder.feed(html)
    builder.close()
    return builder.root
