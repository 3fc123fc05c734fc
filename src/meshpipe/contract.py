"""The contract between meshStack, the Trigger Module, its dispatcher, the workflows and the reporter: one definition.

The generator (``meshpipe.generator``) and the reporter (``meshpipe.report``) both import these names; neither restates
them. The bundled dispatcher (``meshpipe/generator/assets/dispatch.py``) must stay a standalone script, so it carries
a copy of the names it needs between ``# [[[contract`` and ``# ]]]contract`` markers, written by
``python -m meshpipe.contract`` (part of ``make render``; ``--check`` fails on a stale copy, part of ``make check``).

The fakes (:mod:`meshpipe.fakes`) restate what they enforce on purpose, citing the official descriptions: they
are the oracle the code is tested against, and a fake that imported these names would agree with a wrong value.

Patterns are plain strings (compile them where they are used): ``meshpipe run`` imports this module on every CI step
and must start fast, and the same text goes into Terraform ``regex(...)`` validations.
"""

from __future__ import annotations

__all__ = [
    "AUTH_MODES",
    "BEHAVIORS",
    "DEFAULT_AUTH",
    "DISPATCHER_NAMES",
    "EVENTS",
    "INPUT_NAME_PATTERN",
    "MESHSTACK_API_TOKEN_ENV",
    "MESHSTACK_CLIENT_ID_ENV",
    "MESHSTACK_CLIENT_SECRET_ENV",
    "MESHSTACK_ENDPOINT_ENV",
    "MESHSTACK_RUN_TOKEN_ENV",
    "REPOSITORY_PATTERN",
    "RUN_FILE",
    "RUN_MEDIA_TYPE",
    "RUN_URL_INPUT",
    "WORKFLOW_FILE_PATTERN",
    "dispatcher_block",
]

#: the workflow input that carries the meshStack run's URL (sent by the module, read by the reporter)
RUN_URL_INPUT = "buildingBlockRunUrl"
#: meshStack's building block run behaviors (``reference/meshstack-runner.md``); an unknown one is treated as APPLY
BEHAVIORS = ("APPLY", "DESTROY", "DETECT")
#: the GitHub events a module can fire
EVENTS = ("workflow_dispatch", "repository_dispatch")
#: how the dispatcher authenticates to GitHub
AUTH_MODES = ("auto", "token", "app")
#: the dispatcher's GitHub auth: the mode and the environment variables it reads credentials from (a spec may
#: rename them)
DEFAULT_AUTH = {
    "mode": "auto",
    "token_env": "GITHUB_TOKEN",
    "app_id_env": "GITHUB_APP_ID",
    "installation_id_env": "GITHUB_APP_INSTALLATION_ID",
    "private_key_env": "GITHUB_APP_PEM_FILE",
}
#: the environment variables the reporter reads meshStack credentials and the endpoint from
MESHSTACK_RUN_TOKEN_ENV = "MESHSTACK_RUN_TOKEN"
MESHSTACK_API_TOKEN_ENV = "MESHSTACK_API_TOKEN"
MESHSTACK_CLIENT_ID_ENV = "MESHSTACK_CLIENT_ID"
MESHSTACK_CLIENT_SECRET_ENV = "MESHSTACK_CLIENT_SECRET"
MESHSTACK_ENDPOINT_ENV = "MESHSTACK_ENDPOINT"
#: ``owner/repo`` as GitHub allows it
REPOSITORY_PATTERN = "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"
#: a workflow_dispatch input name (GitHub's rule for ids)
INPUT_NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_-]*$"
#: a workflow file in ``.github/workflows`` (no directory)
WORKFLOW_FILE_PATTERN = "^[^/]+\\.ya?ml$"
#: the run file the definition's pre-run script writes in terraform's working directory; the dispatcher reads it
RUN_FILE = ".meshpipe-run.json"

#: the versioned media type of meshStack's building block run API (``Accept`` and ``Content-Type``)
RUN_MEDIA_TYPE = "application/vnd.meshcloud.api.meshbuildingblockrun.v1.hal+json"

#: the names the bundled dispatcher gets a copy of
DISPATCHER_NAMES = ("BEHAVIORS", "EVENTS", "AUTH_MODES", "DEFAULT_AUTH")
BEGIN_MARKER = "# [[[contract: generated from meshpipe/contract.py by `make render`; edit it there"
END_MARKER = "# ]]]contract"


def _literal(value: object) -> str:
    if isinstance(value, dict):
        rows = "".join(f"    {key!r}: {item!r},\n" for key, item in value.items())
        return "{\n" + rows + "}"
    return repr(value)


def dispatcher_block() -> str:
    """The dispatcher's copy of the contract, markers included, as ``ruff format`` writes it."""
    lines = [BEGIN_MARKER]
    for name in DISPATCHER_NAMES:
        lines.append(f"{name} = {_literal(globals()[name])}".replace("'", '"'))
    lines.append(END_MARKER)
    return "\n".join(lines) + "\n"


def replace_block(text: str) -> str:
    """``text`` (the dispatcher's source) with the block between the markers replaced by :func:`dispatcher_block`."""
    start = text.find(BEGIN_MARKER.split(":")[0])
    end = text.find(END_MARKER)
    if start < 0 or end < start:
        raise ValueError("the dispatcher has no '# [[[contract' ... '# ]]]contract' block")
    return text[:start] + dispatcher_block() + text[end + len(END_MARKER) + 1 :]


def main(argv: list[str] | None = None) -> int:
    """Rewrite the dispatcher's block (``--check``: only report a stale one, exit 1)."""
    import sys
    from pathlib import Path

    args = sys.argv[1:] if argv is None else argv
    path = Path(__file__).resolve().parent / "generator" / "assets" / "dispatch.py"
    text = path.read_text(encoding="utf-8")
    wanted = replace_block(text)
    if wanted == text:
        return 0
    if "--check" in args:
        print(f"{path}: the contract block differs from meshpipe/contract.py; run `make render`", file=sys.stderr)
        return 1
    path.write_text(wanted, encoding="utf-8")
    print(f"meshpipe: rewrote the contract block in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
