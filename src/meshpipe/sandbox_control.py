"""``meshpipe sandbox order|detect|approve|delete|runs``: drive a running ``meshpipe sandbox`` from another shell.

The sandbox leaves a small state file (URLs and the per-process control secret, mode 0600) while it runs:
``$MESHPIPE_SANDBOX_STATE`` if set, else ``$XDG_RUNTIME_DIR/meshpipe/sandbox.json``, else
``~/.cache/meshpipe/sandbox.json``. These commands read it and call the fake meshStack's control plane
(:mod:`meshpipe.sandbox_routes`) with the standard library only.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import click

from meshpipe.errors import MeshpipeError

__all__ = ["COMMANDS", "STATE_ENV", "remove_state", "state_path", "write_state"]

STATE_ENV = "MESHPIPE_SANDBOX_STATE"
CONTROL_HEADER = "X-Meshpipe-Fake-Control"  # meshpipe.fakes._http.CONTROL_HEADER, without importing the server
TERMINAL = ("SUCCEEDED", "FAILED", "ABORTED")
REQUEST_TIMEOUT = 10.0
POLL_SECONDS = 0.3


def state_path(environ: dict[str, str] | None = None) -> Path:
    """Where a running sandbox leaves its state file."""
    env = os.environ if environ is None else environ
    if env.get(STATE_ENV):
        return Path(env[STATE_ENV])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "meshpipe" / "sandbox.json"
    return Path.home() / ".cache" / "meshpipe" / "sandbox.json"


def write_state(state: dict[str, Any]) -> Path:
    """Write the state file, readable by this user only (it holds the control secret)."""
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    scratch = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle)
    os.replace(scratch, path)
    return path


def remove_state(pid: int) -> None:
    """Remove the state file if it is this process's (a newer sandbox may have replaced it)."""
    path = state_path()
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == pid:
            path.unlink()
    except (OSError, ValueError):
        pass


def _state() -> dict[str, Any]:
    path = state_path()
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MeshpipeError(f"no sandbox is running ({path} does not exist); start `meshpipe sandbox`") from None
    except (OSError, ValueError) as exc:
        raise MeshpipeError(f"{path}: unreadable sandbox state ({exc}); restart `meshpipe sandbox`") from None
    if not isinstance(state, dict) or not {"meshstack_url", "control_token"} <= set(state):
        raise MeshpipeError(f"{path}: not a sandbox state file; restart `meshpipe sandbox`")
    return state


def _call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    """One control-plane request; any failure is one line naming method, URL and what to do."""
    import urllib.error
    import urllib.request

    state = _state()
    url = str(state["meshstack_url"]).rstrip("/") + "/_fake" + path
    data = None if body is None else json.dumps(body).encode()
    headers = {CONTROL_HEADER: str(state["control_token"]), "Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as answer:
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message") or exc.reason
        except (ValueError, AttributeError):
            message = exc.reason
        raise MeshpipeError(f"{method} {url} -> {exc.code}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise MeshpipeError(
            f"{method} {url}: {reason}; is `meshpipe sandbox` still running? (state file {state_path()})"
        ) from None


def _steps(view: dict[str, Any], *, explain: bool = False) -> list[tuple[str, str, str]]:
    """(source/step, status, text) of every step; with ``explain`` the text of a failed step is terraform's error."""
    return [
        (
            f"{'runner' if len(source_id) == 36 else source_id}/{step['id']}",
            str(step.get("status")),
            (explain and error_summary(str(step.get("systemMessage") or ""))) or step_text(step),
        )
        for source_id, source in (view.get("sources") or {}).items()
        for step in source.get("steps") or []
    ]


def error_summary(system_message: str) -> str:
    """Terraform's first error as one line: its title and its message (``Invalid value for variable: db_name must
    match the regular expression ...``), without the source excerpt."""
    noise = ("on ", "├", "│", "var.", "This was checked", "Error: terraform ")
    lines = [line for line in error_lines(system_message) if not line.startswith(noise) and not line[:1].isdigit()]
    return ": ".join(line.removeprefix("Error: ") for line in lines[:2])


def step_text(step: dict[str, Any]) -> str:
    """A step's user message, else the last line of its system message."""
    text = str(step.get("userMessage") or "").strip()
    if not text:
        lines = str(step.get("systemMessage") or "").strip().splitlines()
        text = lines[-1] if lines else ""
    return text


def error_lines(system_message: str, limit: int = 8) -> list[str]:
    """Terraform's error block in a failed step's log (what says why: a variable's validation message, say)."""
    lines = [line.strip("│ ").rstrip() for line in system_message.splitlines()]
    start = next((index for index, line in enumerate(lines) if line.startswith("Error: ")), None)
    return [] if start is None else [line for line in lines[start:] if line][:limit]


def _settled(view: dict[str, Any]) -> bool:
    """Terminal, or a DETECT run whose runner has finished (an async definition hands it over and nothing ends it)."""
    if view.get("status") in TERMINAL:
        return True
    behavior = (view.get("spec") or {}).get("behavior")
    steps = _steps(view)
    return behavior == "DETECT" and bool(steps) and all(status in TERMINAL for _, status, _ in steps)


def watch(uuid: str, timeout: float) -> dict[str, Any]:
    """Print each change of the run's steps and status until it settles (bounded by ``timeout``)."""
    seen: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while True:
        view: dict[str, Any] = _call("GET", f"/runs/{uuid}")
        for key, status, text in _steps(view):
            if seen.get(key) != status:
                seen[key] = status
                click.echo(f"  step {key}: {status}" + (f" - {text}" if text and status in TERMINAL else ""))
        if seen.get("") != view.get("status"):
            seen[""] = str(view.get("status"))
            click.echo(f"  run {uuid}: {view.get('status')}")
        if _settled(view):
            return view
        if time.monotonic() > deadline:
            raise MeshpipeError(
                f"run {uuid} is still {view.get('status')} after {timeout:g} s; "
                f"`meshpipe sandbox runs {uuid}` shows it later, --timeout waits longer"
            )
        time.sleep(POLL_SECONDS)


def _created(view: dict[str, Any], wait: bool, timeout: float) -> None:
    behavior = (view.get("spec") or {}).get("behavior")
    click.echo(f"{behavior} run {view['uuid']} of building block {view['spec']['buildingBlock']['uuid']}")
    if not wait:
        return
    final = watch(view["uuid"], timeout)
    status = final.get("status")
    if status in ("FAILED", "ABORTED"):
        failed = [
            f"{key}: {why}"
            for key, step_status, why in _steps(final, explain=True)
            if step_status in ("FAILED", "ABORTED")
        ]
        because = f" ({'; '.join(failed)})" if failed else ""
        raise MeshpipeError(f"run {view['uuid']} {status}{because}; `meshpipe sandbox runs {view['uuid']}` shows why")


_wait = click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the run until it settles.")
_timeout = click.option("--timeout", type=float, default=120, show_default=True, help="Bound for --wait, seconds.")


def _parse_inputs(pairs: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"expected NAME=VALUE, got {pair!r}", param_hint="--input")
        values[name] = value
    return values


@click.command("order")
@click.option("-i", "--input", "inputs", multiple=True, metavar="NAME=VALUE", help="A user input (repeatable).")
@_wait
@_timeout
def order(inputs: tuple[str, ...], wait: bool, timeout: float) -> None:
    """Order the hosted block: an APPLY run with these user inputs, executed by the runner emulation.

    Values are text, read by the input's type in the definition (INTEGER, BOOLEAN as true/false). Follows the run
    (the runner's steps, then the pipeline's) and exits 1 if it FAILED.

    \b
    Example:
      meshpipe sandbox order --input db_name=orders --input size=small
    """
    _created(_call("POST", "/sandbox/order", {"behavior": "APPLY", "inputs": _parse_inputs(inputs)}), wait, timeout)


@click.command("detect")
@click.option("-i", "--input", "inputs", multiple=True, metavar="NAME=VALUE", help="A user input (repeatable).")
@_wait
@_timeout
def detect(inputs: tuple[str, ...], wait: bool, timeout: float) -> None:
    """Preview an order: a DETECT run (plan only, nothing fires); approve it with `meshpipe sandbox approve`.

    \b
    Example:
      meshpipe sandbox detect --input db_name=orders
    """
    _created(_call("POST", "/sandbox/order", {"behavior": "DETECT", "inputs": _parse_inputs(inputs)}), wait, timeout)


@click.command("approve")
@click.argument("run")
@_wait
@_timeout
def approve(run: str, wait: bool, timeout: float) -> None:
    """Approve DETECT run RUN's plan: an APPLY run that replays it.

    \b
    Example:
      meshpipe sandbox approve 5d0c...   # the DETECT run's uuid
    """
    _created(_call("POST", f"/runs/{run}/approve", {}), wait, timeout)


@click.command("delete")
@click.argument("block")
@_wait
@_timeout
def delete(block: str, wait: bool, timeout: float) -> None:
    """Delete building block BLOCK (its uuid, or `latest`: the last block whose APPLY succeeded and that was not
    deleted yet): a DESTROY run with the inputs it was ordered with.

    \b
    Example:
      meshpipe sandbox delete 7a1f...    # the building block's uuid, printed by `order`
      meshpipe sandbox delete latest
    """
    _created(_call("POST", "/sandbox/delete", {"building_block_uuid": block}), wait, timeout)


@click.command("runs")
@click.argument("run", required=False)
def runs(run: str | None) -> None:
    """List the sandbox's runs, or show run RUN: each source's steps with status and message, and the outputs.

    \b
    Example:
      meshpipe sandbox runs
      meshpipe sandbox runs 5d0c...
    """
    if run is None:
        for view in _call("GET", "/runs"):
            spec = view.get("spec") or {}
            block = (spec.get("buildingBlock") or {}).get("uuid")
            click.echo(f"{view['uuid']}  {spec.get('behavior'):<8} {view.get('status'):<12} block {block}")
        return
    view = _call("GET", f"/runs/{run}")
    errors: dict[str, list[str]] = {}
    click.echo(f"{(view.get('spec') or {}).get('behavior')} run {view['uuid']}: {view.get('status')}")
    for source in (view.get("sources") or {}).values():
        for step in source.get("steps") or []:
            if step.get("status") == "FAILED":
                errors.update({step["id"]: error_lines(str(step.get("systemMessage") or ""))})
    for key, status, text in _steps(view):
        click.echo(f"  [{status}] {key}" + (f" - {text}" if text else ""))
        for line in errors.get(key.split("/", 1)[1], []) if status == "FAILED" else []:
            click.echo(f"      {line}")
    for name, output in (view.get("outputs") or {}).items():
        value = output.get("value") if isinstance(output, dict) else output
        click.echo(f"  output {name} = {value}")


COMMANDS = (order, detect, approve, delete, runs)
