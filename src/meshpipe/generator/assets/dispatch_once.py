"""Exactly once: the correlation id of a logical dispatch, the intent marker that tells a later process it is a
later attempt, and picking up what an earlier attempt started (see "Exactly once" in ``dispatch.py``).

Part of the bundled dispatcher (see ``dispatch.py``); hashing is imported only for a deterministic id.
"""

from __future__ import annotations

import json
import os

from dispatch_base import MAX_RUN_FILE_BYTES, DispatchError, _reason, warn

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from dispatch import Config, RunContext
    from dispatch_client import BaseClient

FIND_DEADLINE_SECONDS = 300.0


def correlation_id(config: Config, context: RunContext, phase: str) -> tuple[str, bool]:
    """The correlation id of this logical dispatch and whether it is deterministic.

    Derived from the building block, the meshStack run, the fingerprint and the target's identity (GitHub: API
    URL, repository and what is dispatched) when the run is known, so that every attempt at the same dispatch (a
    retry, a re-apply, a new process) carries the same id; random otherwise.
    """
    if not context.run_id:
        return os.urandom(16).hex(), False
    import hashlib

    parts = (phase, *config.settings.identity, context.building_block_id, context.run_id)
    basis = "\n".join(["meshpipe-dispatch/1", *(part or "" for part in parts), config.fingerprint or ""])
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:32], True


class Marker:
    """The intent marker of one logical dispatch, a file in terraform's working directory.

    Written before the POST and updated once the run is known; removed when the outcome is certain (success, a
    refused dispatch, a failed run). A process that finds it is a later attempt at the same dispatch.
    """

    def __init__(self, correlation_id: str) -> None:
        self.path = f".meshpipe-dispatch-{correlation_id}.json"

    def load(self) -> dict[str, Any] | None:
        """The earlier attempt's record, or None."""
        try:
            with open(self.path, "rb") as handle:
                data = json.loads(handle.read(MAX_RUN_FILE_BYTES).decode("utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            warn(f"{self.path}: unreadable ({type(exc).__name__}); treated as an attempt whose outcome is unknown")
            return {"state": "intent", "created": 0.0}
        return data if isinstance(data, dict) else {"state": "intent", "created": 0.0}

    def save(self, **record: Any) -> None:
        """Record the attempt (atomically, mode 0600); a read-only directory only costs the protection."""
        temporary = f"{self.path}.{os.getpid()}.tmp"
        try:
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump({"version": 1, **record}, handle)
            os.replace(temporary, self.path)
        except OSError as exc:
            warn(f"cannot write {self.path} ({_reason(exc)}): a later attempt could not recognise this dispatch")

    def forget(self) -> None:
        """The outcome is certain: a later apply is a new dispatch."""
        import contextlib

        with contextlib.suppress(OSError):
            os.unlink(self.path)


def locate_run(client: BaseClient, correlation_id: str, dispatched_at: float) -> tuple[Any, str]:
    """Find the dispatched run by correlation id, to wait for it."""
    config = client.config
    find_for = min(config.wait_timeout, FIND_DEADLINE_SECONDS)
    found = client.find_run(correlation_id, dispatched_at, find_for)
    if found is None:
        raise DispatchError(
            f"dispatched {config.subject} but found no {client.run_word} with correlation id {correlation_id} within "
            f"{find_for:g} s (hint: {client.missing_run_hint()})"
        )
    return found["id"], str(found.get("html_url") or "")


def resume(client: BaseClient, marker: Marker, earlier: Mapping[str, Any], cid: str, settle: float) -> tuple[Any, str]:
    """Continue a dispatch an earlier process started; ``(None, "")`` when it provably started nothing yet."""
    config = client.config
    if earlier.get("run_id") is not None:
        client.log(f"an earlier attempt already dispatched this (correlation id {cid}): run {earlier['run_id']}")
        return earlier["run_id"], str(earlier.get("html_url") or "")
    if earlier.get("state") == "sent":
        client.log(f"an earlier attempt already dispatched this (correlation id {cid}); not sending it again")
        return None, ""
    if not config.correlation_input:
        raise DispatchError(
            f"an earlier attempt at this dispatch may have started a {client.run_word} ({marker.path}), and without "
            f"correlation_input it cannot be checked: not sent again so the {client.run_word} cannot start twice "
            f"(hint: set correlation_input, or delete {marker.path} to send it anyway)"
        )
    created = float(earlier.get("created") or 0.0)
    client.log(
        f"an earlier attempt at this dispatch may have started a {client.run_word}; looking for correlation id {cid}"
    )
    found = client.find_run(cid, created, max(created + settle - client.clock.wall(), 0.0))
    return (found["id"], str(found.get("html_url") or "")) if found else (None, "")
