"""Build the HTTP transport a run reports through, from its settings: credentials, masking, the cached login.

Imported only when the first request is sent, so ``meshpipe run ... --help`` never loads the HTTP layer.
"""

from __future__ import annotations

from typing import Any

from meshpipe.report.ci import CiRunner
from meshpipe.report.credentials import ApiKeyLogin, StaticToken
from meshpipe.report.redact import Redactor
from meshpipe.report.settings import Settings
from meshpipe.report.state import read_cached_login, write_token_file
from meshpipe.report.transport import Transport

__all__ = ["build_transport"]


def build_transport(settings: Settings, runner: CiRunner, redactor: Redactor | None = None, **seams: Any) -> Transport:
    """The transport for ``settings``: authenticated as its credentials, sending only to its trusted origins.

    Tokens are masked on the runner and redacted from errors (``redactor`` is shared with the run); an API key
    login reuses and refreshes the cached token file. ``seams`` (``sleep``, ``random``) go to the transport.
    """
    credentials = settings.require_credentials()

    def progress(line: str) -> None:
        runner.stderr.write(runner.printable(line) + "\n")  # it can quote meshStack's answer
        runner.stderr.flush()

    transport = Transport(
        timeout=settings.timeout,
        attempts=settings.retry_attempts,
        base_delay=settings.retry_base_delay,
        trusted_origins=settings.trusted_origins(),
        on_retry=progress,
        credential_label=credentials.label,
        redactor=redactor,
        proxy_env=settings.proxy_env,
        deadline=settings.deadline,
        **seams,
    )
    if credentials.kind == "api_key":
        assert credentials.client_id and credentials.client_secret and credentials.login_base
        token_file = settings.token_file
        cached = read_cached_login(token_file)
        if cached:
            runner.mask(cached[0])
            transport.add_secret(cached[0])

        def on_token(token: str, expires_at: float) -> None:
            runner.mask(token)
            if token_file is not None:
                write_token_file(token_file, token, base_url=credentials.login_base, expires_at=expires_at)

        transport.auth = ApiKeyLogin(
            transport,
            credentials.login_base,
            credentials.client_id,
            credentials.client_secret,
            on_token=on_token,
            cached=cached,
        )
    else:
        assert credentials.token
        if credentials.needs_mask:
            runner.mask(credentials.token)
        transport.add_secret(credentials.token)
        transport.auth = StaticToken(credentials.token)
    return transport
