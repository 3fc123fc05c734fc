"""The fake meshStack's HTML status page: every run with its sources, steps, messages, outputs and warnings.

Plain HTML from a Jinja template with autoescaping on (user and system messages are untrusted; a reported
``externalRunUrl`` becomes a link only when it is http(s)), refreshed by the browser every two seconds through
``<meta http-equiv="refresh">``; no JavaScript.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jinja2

if TYPE_CHECKING:
    from meshpipe.fakes.meshstack_runs import FakeRun

__all__ = ["render_status_page"]


def _show(value: Any) -> str:
    """Strings as they are, everything else as JSON (``true``, ``3``, ``["a"]``)."""
    return value if isinstance(value, str) else json.dumps(value)


def _web_link(value: Any) -> bool:
    """Whether ``value`` may become an ``href``: autoescaping does not stop ``javascript:`` or ``data:`` URLs."""
    return isinstance(value, str) and urlsplit(value.strip()).scheme.lower() in ("http", "https")


@lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("meshpipe.fakes", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["show"] = _show
    env.tests["web_link"] = _web_link
    return env.get_template("meshstack_status.html")


def render_status_page(runs: list[FakeRun], *, base_url: str) -> str:
    """The page for ``runs`` (in the order given; the fake passes newest first)."""
    return _template().render(runs=runs, base_url=base_url)
