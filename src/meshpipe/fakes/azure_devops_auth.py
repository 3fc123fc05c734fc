"""Who may call the fake Azure DevOps: a PAT as ``Authorization: Basic base64(USER:PAT)`` (any user part) or an Entra ID
access token as ``Bearer``; PAT scopes per operation; a rate limit answering 429 with ``Retry-After`` and
``X-RateLimit-*`` (mixed into :class:`meshpipe.fakes.azure_devops.FakeAzureDevOps`).

Without usable credentials the real service serves its sign-in page with status 203 (Non-Authoritative Information)
unless the request says ``X-TFS-FedAuthRedirect: Suppress`` (the official clients do), which gets a 401. A wrong or
expired PAT is a 401. What is unverified about these answers is listed in ``unverified.md``.
"""

from __future__ import annotations

import base64
import binascii
import html
import threading
import time
from typing import TYPE_CHECKING

from meshpipe.fakes._wire import HttpError, Request, Response

if TYPE_CHECKING:
    from meshpipe.fakes.azure_devops_models import Credential

__all__ = ["SIGN_IN_MARKER", "AuthPreamble", "DirectAnswer"]

#: A string on the fake's sign-in page (tests and clients recognise the HTML answer by it).
SIGN_IN_MARKER = "Azure DevOps Services | Sign In"
_CHALLENGE = 'Bearer authorization_uri=https://login.microsoftonline.com/common, Basic realm="https://dev.azure.com/"'


class DirectAnswer(Exception):
    """Raised by the credential check: answer with ``response`` (HTML, not Azure's JSON error shape)."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


class AuthPreamble:
    """``_authenticate(request, scope)`` finds the caller's credential or raises; ``_count`` applies the rate limit."""

    if TYPE_CHECKING:
        credentials: dict[str, Credential]
        lock: threading.RLock
        rate_limit: int
        rate_window: float
        _usage: dict[str, tuple[float, int]]

    def _authenticate(self, request: Request, scope: str | None) -> Credential:
        """The caller's credential, checked for ``scope`` (None: any valid credential will do)."""
        value = (request.header("authorization") or "").strip()
        scheme, _, rest = value.partition(" ")
        token: str | None = None
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(rest.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            _, colon, password = decoded.partition(":")
            token = password if colon and password else None
            kind = "pat"
        elif scheme.lower() == "bearer" and rest.strip():
            token, kind = rest.strip(), "entra"
        if token is None:
            if (request.header("x-tfs-fedauthredirect") or "").lower() == "suppress":
                raise _unauthorized(
                    "TF400813: Resource not available for anonymous access. Client authentication required."
                )
            raise DirectAnswer(sign_in_page(request.path))
        credential = self.credentials.get(token)
        if credential is None or credential.kind != kind:
            raise _unauthorized("Access Denied: The credentials used are not valid.")
        if credential.expired:
            raise _unauthorized("Access Denied: The Personal Access Token used has expired.")
        self._count(token)
        if scope is not None and not credential.allows(scope):
            raise HttpError(
                403,
                f"Access Denied: the Personal Access Token used does not carry the scope {scope!r} this operation "
                "needs (Build: Read for vso.build, Build: Read & execute for vso.build_execute).",
                typeName="Microsoft.VisualStudio.Services.Common.VssUnauthorizedException, "
                "Microsoft.VisualStudio.Services.Common",
                typeKey="VssUnauthorizedException",
            )
        return credential

    def _count(self, token: str) -> None:
        with self.lock:
            now = time.time()
            start, used = self._usage.get(token, (now, 0))
            if now >= start + self.rate_window:
                start, used = now, 0
            if used >= self.rate_limit:
                reset = start + self.rate_window
                delay = max(1, int(reset - now + 0.999))
                raise HttpError(
                    429,
                    "Request was blocked due to exceeding usage of resource 'Build' in namespace 'ATCPU'.",
                    headers={
                        "Retry-After": str(delay),
                        "X-RateLimit-Resource": "ATCPU",
                        "X-RateLimit-Delay": str(delay),
                        "X-RateLimit-Limit": str(self.rate_limit),
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": str(int(reset)),
                    },
                )
            self._usage[token] = (start, used + 1)


def _unauthorized(message: str) -> DirectAnswer:
    """A 401 as the service sends it: an HTML page, not the JSON error shape (so the official Python client raises
    ``AzureDevOpsAuthenticationError``, as users report for a wrong PAT: azure-devops-python-api#399, #493)."""
    page = f"<!DOCTYPE html><html><head><title>Access Denied</title></head><body>{html.escape(message)}</body></html>"
    response = Response(
        status=401, body=page, content_type="text/html; charset=utf-8", headers={"WWW-Authenticate": _CHALLENGE}
    )
    return DirectAnswer(response)


def sign_in_page(url: str) -> Response:
    """The 203 answer with an HTML sign-in page (what a browser would be redirected to)."""
    page = (
        "<!DOCTYPE html><html><head><title>"
        + SIGN_IN_MARKER
        + "</title></head><body><h1>Sign in to Azure DevOps</h1><p>You need to sign in to see "
        + html.escape(url)
        + ".</p></body></html>"
    )
    return Response(status=203, body=page, content_type="text/html; charset=utf-8")
