"""The receiving side of a webhook Trigger Module: a standard-library receiver sketch for meshpipe's signed webhook.

The protocol (contract: ``X-Meshpipe-Signature-256: sha256=HMAC-SHA256(secret, "<timestamp>.<body>")``,
``X-Meshpipe-Timestamp``, ``Idempotency-Key`` = the correlation id, the same for every retry of one dispatch) is
meshpipe's own. The sketch verifies the signature in constant time, refuses a timestamp older than five minutes,
runs one job per idempotency key (a retry gets the first answer; the key is remembered only once the job
started, so a failed start is retried, not lost), and starts the job with the payload in its
environment (``MESHPIPE_EVENT``, ``MESHPIPE_PHASE``, ``MESHSTACK_RUN_URL``, each input as ``MESHPIPE_INPUT_<NAME>``),
never in a command line. It names the inputs the module sends, so a receiver written from it refuses anything else.
"""

from __future__ import annotations

from meshpipe.contract import (
    DEFAULT_WEBHOOK_AUTH,
    RUN_URL_INPUT,
    WEBHOOK_EVENT_HEADER,
    WEBHOOK_IDEMPOTENCY_HEADER,
    WEBHOOK_SIGNATURE_HEADER,
    WEBHOOK_TIMESTAMP_HEADER,
)
from meshpipe.generator.spec import ModuleSpec
from meshpipe.generator.workflow import module_inputs

__all__ = ["render_webhook_receiver"]

_TEMPLATE = '''\
{header}
"""Receiver sketch for the {name!r} Trigger Module's signed webhook (standard library only).

Run: {secret_env}=... python3 receiver.py [PORT] -- JOB_COMMAND...   (put TLS in front of it)
"""

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = os.environb.pop(b"{secret_env}")  # popped: the jobs this starts never inherit it
EVENTS = {events!r}
#: the inputs the module sends: anything else is refused
INPUTS = {inputs!r}
TOLERANCE_SECONDS = 300
JOBS: dict[str, str] = {{}}  # idempotency key -> job id (keep this in a database in production)
LOCK = threading.Lock()


def verified(headers, body: bytes) -> bool:
    """The signature covers "<timestamp>.<body>"; a stale timestamp is refused (replays)."""
    stamp = headers.get("{timestamp_header}", "")
    if not stamp.isdigit() or abs(time.time() - int(stamp)) > TOLERANCE_SECONDS:
        return False
    wanted = "sha256=" + hmac.new(SECRET, stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(wanted, headers.get("{signature_header}", ""))


class Receiver(BaseHTTPRequestHandler):
    def answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 1 << 20))
        if not verified(self.headers, body):
            return self.answer(401, {{"message": "bad signature or stale timestamp"}})
        try:
            payload = json.loads(body)
            inputs = payload.get("inputs") or {{}}
        except (ValueError, AttributeError):
            return self.answer(400, {{"message": "the body is not a JSON object"}})
        event = payload.get("event")
        if event not in EVENTS or event != self.headers.get("{event_header}") or set(inputs) - set(INPUTS):
            return self.answer(422, {{"message": "unknown event or undeclared inputs"}})
        key = self.headers.get("{idempotency_header}") or payload["correlation_id"]
        env = dict(os.environ, MESHPIPE_EVENT=payload["event"], MESHPIPE_PHASE=payload["phase"])
        env["MESHSTACK_RUN_URL"] = str(inputs.get("{run_url_input}") or "")
        # Strings as they are; numbers, booleans, lists and maps as JSON text (true, not Python's True).
        text = {{name: value if isinstance(value, str) else json.dumps(value) for name, value in inputs.items()}}
        env.update({{f"MESHPIPE_INPUT_{{name.upper()}}": value for name, value in text.items()}})
        with LOCK:  # held while starting: two deliveries of one key never start two jobs
            if key in JOBS:  # a retry of a dispatch already accepted: never a second job
                return self.answer(202, {{"id": JOBS[key], "duplicate": True}})
            try:
                subprocess.Popen(COMMAND, env=env)  # argv, never a shell: inputs are untrusted
            except OSError as exc:  # not started, so not remembered: the dispatcher's retry starts it
                return self.answer(500, {{"message": f"cannot start the job: {{exc.strerror}}"}})
            # Remembered only after the start: a crash in between must not turn the delivery into a "duplicate".
            JOBS[key] = job = str(uuid.uuid4())
        self.answer(202, {{"id": job}})


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 8080
    COMMAND = sys.argv[sys.argv.index("--") + 1 :] if "--" in sys.argv else ["true"]
    ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
'''


def render_webhook_receiver(spec: ModuleSpec, *, header: str) -> str:
    """A receiver sketch (Python, standard library) that accepts exactly what ``spec``'s module sends."""
    events = [value for value in (spec.apply.value, spec.destroy.value) if isinstance(value, str)]
    auth = dict(getattr(spec, "target_auth", ()) or ()) or DEFAULT_WEBHOOK_AUTH
    return _TEMPLATE.format(
        header=header,
        name=spec.name,
        secret_env=auth.get("secret_env") or DEFAULT_WEBHOOK_AUTH["secret_env"],
        events=tuple(events),
        inputs=tuple(item.name for item in module_inputs(spec)),
        timestamp_header=WEBHOOK_TIMESTAMP_HEADER,
        signature_header=WEBHOOK_SIGNATURE_HEADER,
        idempotency_header=WEBHOOK_IDEMPOTENCY_HEADER,
        run_url_input=RUN_URL_INPUT,
        event_header=WEBHOOK_EVENT_HEADER,
    )
