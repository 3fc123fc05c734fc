"""The fake meshStack's HTML status page: every run with its timeline, sources, steps, messages, outputs and warnings.

Plain HTML and CSS from a Jinja template with autoescaping on (user and system messages are untrusted; a reported
``externalRunUrl`` becomes a link only when it is http(s)), refreshed by the browser every two seconds through
``<meta http-equiv="refresh">``; no JavaScript and no external assets, so it works offline. The timeline's bars are
computed in :mod:`meshpipe.fakes.status_timeline`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jinja2

from meshpipe.fakes.status_timeline import Timeline, build_timeline

if TYPE_CHECKING:
    from meshpipe.fakes.meshstack_runs import FakeRun

__all__ = ["RunView", "page_template", "render_status_page", "run_title"]


def _show(value: Any) -> str:
    """Strings as they are, everything else as JSON (``true``, ``3``, ``["a"]``)."""
    return value if isinstance(value, str) else json.dumps(value)


def _web_link(value: Any) -> bool:
    """Whether ``value`` may become an ``href``: autoescaping does not stop ``javascript:`` or ``data:`` URLs."""
    return isinstance(value, str) and urlsplit(value.strip()).scheme.lower() in ("http", "https")


@dataclass(frozen=True)
class RunView:
    """What the template shows of one run: the run, its title and its timeline."""

    run: FakeRun
    title: str
    timeline: Timeline


def run_title(run: FakeRun) -> str:
    """The building block's display name, else the building block's UUID, else the run's."""
    if run.display_name:
        return run.display_name
    return f"building block {run.building_block_uuid or run.uuid}"


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("meshpipe.fakes", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["show"] = _show
    env.tests["web_link"] = _web_link
    return env


def page_template(name: str) -> jinja2.Template:
    """A template of the fakes' web pages (``fakes/templates/NAME``), autoescaped, with ``show`` and ``web_link``."""
    return _environment().get_template(name)


def render_status_page(runs: list[FakeRun], *, base_url: str, now: float | None = None) -> str:
    """The page for ``runs`` (in the order given; the fake passes newest first) as of ``now`` (epoch seconds)."""
    moment = time.time() if now is None else now
    views = [RunView(run, run_title(run), build_timeline(run, now=moment)) for run in runs]
    return page_template("meshstack_status.html").render(runs=views, base_url=base_url)
