"""Endpoints of the fake GitHub for a GitHub App (mixed into :class:`meshpipe.fakes.github.FakeGitHub`): the App
itself and its installations (JWT), a repository's installation, and installation access tokens."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Any

from meshpipe.fakes._http import HttpError, Request, Response
from meshpipe.fakes.github_api import paging
from meshpipe.fakes.github_models import App, Token, iso, owner_json, repository_json

if TYPE_CHECKING:
    from meshpipe.fakes.github_api import Caller
    from meshpipe.fakes.github_models import Repository

__all__ = ["AppHandlers"]


class AppHandlers:
    """``GET /app``, ``/app/installations[/{id}]``, ``/repos/{owner}/{repo}/installation`` and
    ``POST /app/installations/{id}/access_tokens``."""

    # The attributes this handler mix-in reads from the fake, for mypy; the other handler classes list theirs.
    if TYPE_CHECKING:
        repositories: dict[str, Repository]
        tokens: dict[str, Token]

        @property
        def api_url(self) -> str: ...

        @property
        def html_url(self) -> str: ...

    # -- the App itself ---------------------------------------------------------------------------------------------
    def _get_app(self, _request: Request, caller: Caller) -> Response:
        app = caller.app
        assert app is not None
        return Response(body=self._app_json(app))

    def _list_installations(self, request: Request, caller: Caller) -> Response:
        app = caller.app
        assert app is not None
        per_page, page = paging(request)
        installations = [self._installation_json(app, self._account(app))]
        return Response(body=installations[(page - 1) * per_page : page * per_page])

    def _get_app_installation(self, request: Request, caller: Caller) -> Response:
        app = caller.app
        assert app is not None
        if int(request.params["installation"]) != app.installation_id:
            raise HttpError(404, "Not Found")
        return Response(body=self._installation_json(app, self._account(app)))

    def _account(self, app: App) -> str:
        """The account the installation belongs to: the owner of its first repository (``acme`` if none)."""
        names = app.repositories if app.repositories is not None else sorted(self.repositories)
        for name in names:
            if name in self.repositories:
                return self.repositories[name].owner
        return "acme"

    def _app_json(self, app: App) -> dict[str, Any]:
        """An ``integration`` object."""
        owner = self._account(app)
        return {
            "id": app.app_id,
            "slug": app.slug,
            "node_id": f"A_kwDO{app.app_id:08d}",
            "client_id": f"Iv1.fake{app.app_id}",
            "owner": owner_json(owner, self.api_url, self.html_url),
            "name": app.slug,
            "description": "A GitHub App of the meshpipe fake",
            "external_url": f"{self.html_url}/apps/{app.slug}",
            "html_url": f"{self.html_url}/apps/{app.slug}",
            "created_at": iso(0),
            "updated_at": iso(0),
            "permissions": {"actions": "write", "contents": "write", "metadata": "read"},
            "events": [],
            "installations_count": 1,
        }

    # -- an installation and its tokens -------------------------------------------------------------------------------
    def _get_installation(self, request: Request, caller: Caller) -> Response:
        app = caller.app
        assert app is not None
        full_name = f"{request.params['owner']}/{request.params['repo']}"
        repo = self.repositories.get(full_name.lower())
        if repo is None or (app.repositories is not None and repo.full_name.lower() not in app.repositories):
            raise HttpError(404, "Not Found")
        return Response(body=self._installation_json(app, repo.owner))

    def _installation_json(self, app: App, owner: str) -> dict[str, Any]:
        return {
            "id": app.installation_id,
            # The description's list-installations schema (octokit 23.0.2) demands the account be a simple user AND
            # an enterprise (allOf); the enterprise fields satisfy it and clients ignore them.
            "account": {
                **owner_json(owner, self.api_url, self.html_url),
                "name": owner,
                "slug": owner,
                "created_at": iso(0),
                "updated_at": iso(0),
            },
            "repository_selection": "all" if app.repositories is None else "selected",
            "access_tokens_url": f"{self.api_url}/app/installations/{app.installation_id}/access_tokens",
            "repositories_url": f"{self.api_url}/installation/repositories",
            "html_url": f"{self.html_url}/organizations/{owner}/settings/installations/{app.installation_id}",
            "app_id": app.app_id,
            "client_id": f"Iv1.fake{app.app_id}",
            "target_id": 1,
            "target_type": "Organization",
            "permissions": {"actions": "write", "contents": "write", "metadata": "read"},
            "events": [],
            "created_at": iso(0),
            "updated_at": iso(0),
            "single_file_name": None,
            "app_slug": app.slug,
            "suspended_by": None,
            "suspended_at": None,
        }

    def _create_access_token(self, request: Request, caller: Caller) -> Response:
        from meshpipe.fakes.github_control import token_request

        app = caller.app
        assert app is not None
        if int(request.params["installation"]) != app.installation_id:
            raise HttpError(404, "Not Found")
        repositories, permissions = token_request(request.json() if request.body else {}, app, self.repositories)
        token = "ghs_" + secrets.token_urlsafe(27)[:36]
        expires = time.time() + 3600
        self.tokens[token] = Token(
            token,
            repositories,
            "write" if permissions.get("actions", "write") == "write" else "read",
            kind="installation",
            installation_id=app.installation_id,
            expires=expires,
        )
        body: dict[str, Any] = {
            "token": token,
            "expires_at": iso(expires),
            "permissions": permissions,
            "repository_selection": "all" if repositories is None else "selected",
        }
        if repositories is not None:
            body["repositories"] = [
                repository_json(self.repositories[name], self.api_url, self.html_url)
                for name in repositories
                if name in self.repositories
            ]
        return Response(status=201, body=body)
