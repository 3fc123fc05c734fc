"""pytest fixtures for the fakes; opt in with ``-p meshpipe.fakes.pytest_plugin`` (meshpipe's own ``addopts``) or
``pytest_plugins = ["meshpipe.fakes.pytest_plugin"]`` in your top-level ``conftest.py``.

One server per test session and flavour, reset before each test; handler failures inside a fake are re-raised
in the test that caused them.

* ``fake_github`` – :class:`~meshpipe.fakes.github.FakeGitHub`, flavour ``github`` (api.github.com)
* ``fake_ghes`` – :class:`~meshpipe.fakes.github.FakeGitHub`, flavour ``ghes`` (``/api/v3``, GHES 3.19 rules)
* ``fake_meshstack`` – :class:`~meshpipe.fakes.meshstack.FakeMeshStack`
* ``fake_gitlab`` – :class:`~meshpipe.fakes.gitlab.FakeGitLab` (REST v4 under ``/api/v4``)
* ``fake_azure_devops`` – :class:`~meshpipe.fakes.azure_devops.FakeAzureDevOps`
* ``fake_webhook`` – :class:`~meshpipe.fakes.webhook.FakeWebhookReceiver` (its secret: ``fake_webhook.secret``,
  random per session)

Their Python API needs no credentials; HTTP calls to a fixture's control plane (``/_fake/...``) send
``fake.control_headers()`` (the per-server secret and the JSON media type).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, TypeVar

import pytest

if TYPE_CHECKING:
    from meshpipe.fakes._http import FakeServer
    from meshpipe.fakes.azure_devops import FakeAzureDevOps
    from meshpipe.fakes.github import FakeGitHub
    from meshpipe.fakes.gitlab import FakeGitLab
    from meshpipe.fakes.meshstack import FakeMeshStack
    from meshpipe.fakes.webhook import FakeWebhookReceiver

_Server = TypeVar("_Server", bound="FakeServer")


def _clean(server: _Server) -> Iterator[_Server]:
    """The session's server reset for one test; a handler's failure during the test is raised after it."""
    server.reset()
    yield server
    server.raise_errors()


@pytest.fixture(scope="session")
def _fake_github_session() -> Iterator[FakeGitHub]:
    from meshpipe.fakes.github import FakeGitHub

    with FakeGitHub(flavour="github") as server:
        yield server


@pytest.fixture(scope="session")
def _fake_ghes_session() -> Iterator[FakeGitHub]:
    from meshpipe.fakes.github import FakeGitHub

    with FakeGitHub(flavour="ghes") as server:
        yield server


@pytest.fixture(scope="session")
def _fake_meshstack_session() -> Iterator[FakeMeshStack]:
    from meshpipe.fakes.meshstack import FakeMeshStack

    with FakeMeshStack() as server:
        yield server


@pytest.fixture
def fake_github(_fake_github_session: FakeGitHub) -> Iterator[FakeGitHub]:
    """A clean fake github.com API (flavour ``github``)."""
    yield from _clean(_fake_github_session)


@pytest.fixture
def fake_ghes(_fake_ghes_session: FakeGitHub) -> Iterator[FakeGitHub]:
    """A clean fake GitHub Enterprise Server 3.19 API (flavour ``ghes``)."""
    yield from _clean(_fake_ghes_session)


@pytest.fixture
def fake_meshstack(_fake_meshstack_session: FakeMeshStack) -> Iterator[FakeMeshStack]:
    """A clean fake meshStack API."""
    yield from _clean(_fake_meshstack_session)


@pytest.fixture(scope="session")
def _fake_gitlab_session() -> Iterator[FakeGitLab]:
    from meshpipe.fakes.gitlab import FakeGitLab

    with FakeGitLab() as server:
        yield server


@pytest.fixture
def fake_gitlab(_fake_gitlab_session: FakeGitLab) -> Iterator[FakeGitLab]:
    """A clean fake GitLab REST v4 API (``.api_url`` ends in ``/api/v4``)."""
    yield from _clean(_fake_gitlab_session)


@pytest.fixture(scope="session")
def _fake_azure_devops_session() -> Iterator[FakeAzureDevOps]:
    from meshpipe.fakes.azure_devops import FakeAzureDevOps

    with FakeAzureDevOps() as server:
        yield server


@pytest.fixture
def fake_azure_devops(_fake_azure_devops_session: FakeAzureDevOps) -> Iterator[FakeAzureDevOps]:
    """A clean fake Azure DevOps organization (``fake_azure_devops.org_url``)."""
    yield from _clean(_fake_azure_devops_session)


@pytest.fixture(scope="session")
def _fake_webhook_session() -> Iterator[FakeWebhookReceiver]:
    import secrets

    from meshpipe.fakes.webhook import FakeWebhookReceiver

    with FakeWebhookReceiver(secrets.token_urlsafe(32)) as server:
        yield server


@pytest.fixture
def fake_webhook(_fake_webhook_session: FakeWebhookReceiver) -> Iterator[FakeWebhookReceiver]:
    """A clean fake webhook receiver (default options; change them with ``configure``)."""
    yield from _clean(_fake_webhook_session)
