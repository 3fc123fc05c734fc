"""The contract between meshStack, the Trigger Module, its dispatcher, the workflows and the reporter: one definition.

The generator (``meshpipe.generator``) and the reporter (``meshpipe.report``) both import these names; neither restates
them. The bundled dispatcher (``meshpipe/generator/assets/dispatch*.py``) must stay a standalone script, so its
foundation ``dispatch_base.py`` (which every target module imports) carries a copy of the names it needs between
``# [[[contract`` and ``# ]]]contract`` markers, written by ``python -m meshpipe.contract`` (part of
``make render``; ``--check`` fails on a stale copy, part of ``make check``).

The fakes (:mod:`meshpipe.fakes`) restate what they enforce on purpose, citing the official descriptions: they
are the oracle the code is tested against, and a fake that imported these names would agree with a wrong value.

Patterns are plain strings (compile them where they are used): ``meshpipe run`` imports this module on every CI step
and must start fast, and the same text goes into Terraform ``regex(...)`` validations.
"""

from __future__ import annotations

__all__ = [
    "AUTH_MODES",
    "AZURE_AUTH_MODES",
    "BEHAVIORS",
    "DEFAULT_AUTH",
    "DEFAULT_AZURE_AUTH",
    "DEFAULT_GITLAB_AUTH",
    "DEFAULT_WEBHOOK_AUTH",
    "DISPATCHER_NAMES",
    "EVENTS",
    "GITLAB_AUTH_MODES",
    "INPUT_NAME_PATTERN",
    "MESHSTACK_API_TOKEN_ENV",
    "MESHSTACK_CLIENT_ID_ENV",
    "MESHSTACK_CLIENT_SECRET_ENV",
    "MESHSTACK_ENDPOINT_ENV",
    "MESHSTACK_RUN_TOKEN_ENV",
    "PHASES",
    "PHASE_INPUT",
    "REPOSITORY_PATTERN",
    "RUN_FILE",
    "RUN_MEDIA_TYPE",
    "RUN_URL_INPUT",
    "TARGETS",
    "WEBHOOK_EVENT_HEADER",
    "WEBHOOK_IDEMPOTENCY_HEADER",
    "WEBHOOK_SIGNATURE_HEADER",
    "WEBHOOK_TIMESTAMP_HEADER",
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
#: the CI/CD systems a Trigger Module can start: GitHub Actions (the default), GitLab CI, Azure Pipelines, or any
#: service behind a signed webhook (Jenkins Generic Webhook Trigger, Argo Events, an in-house service)
TARGETS = ("github", "gitlab", "azure_devops", "webhook")
#: the dispatcher's two phases (terraform apply and destroy); non-GitHub targets send the phase as an input
PHASES = ("apply", "destroy")
#: the standard name of the input that tells a GitLab/Azure pipeline or a webhook receiver which phase fired it
PHASE_INPUT = "meshpipe_phase"
#: how the dispatcher authenticates to GitLab: a pipeline trigger token (creates pipelines only) and/or an access
#: token (project, group or personal; can also read pipelines, which waiting and checking a lost answer need)
GITLAB_AUTH_MODES = ("auto", "trigger_token", "access_token")
DEFAULT_GITLAB_AUTH = {"mode": "auto", "trigger_token_env": "GITLAB_TRIGGER_TOKEN", "token_env": "GITLAB_TOKEN"}
#: how the dispatcher authenticates to Azure DevOps: a personal access token (Basic) or a Microsoft Entra ID
#: access token (Bearer)
AZURE_AUTH_MODES = ("auto", "pat", "entra")
DEFAULT_AZURE_AUTH = {"mode": "auto", "pat_env": "AZURE_DEVOPS_PAT", "token_env": "AZURE_DEVOPS_TOKEN"}
#: the signed webhook's secrets: the HMAC-SHA256 key, and an optional bearer token some receivers also demand
DEFAULT_WEBHOOK_AUTH = {"secret_env": "MESHPIPE_WEBHOOK_SECRET", "token_env": ""}
#: the signed webhook's headers: ``sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">``, the Unix timestamp the
#: signature covers, the key that stays the same across every retry of one dispatch, and the phase
WEBHOOK_SIGNATURE_HEADER = "X-Meshpipe-Signature-256"
WEBHOOK_TIMESTAMP_HEADER = "X-Meshpipe-Timestamp"
WEBHOOK_IDEMPOTENCY_HEADER = "Idempotency-Key"
WEBHOOK_EVENT_HEADER = "X-Meshpipe-Event"
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
DISPATCHER_NAMES = (
    "PHASES",
    "BEHAVIORS",
    "EVENTS",
    "AUTH_MODES",
    "DEFAULT_AUTH",
    "TARGETS",
    "PHASE_INPUT",
    "GITLAB_AUTH_MODES",
    "DEFAULT_GITLAB_AUTH",
    "AZURE_AUTH_MODES",
    "DEFAULT_AZURE_AUTH",
    "DEFAULT_WEBHOOK_AUTH",
    "WEBHOOK_SIGNATURE_HEADER",
    "WEBHOOK_TIMESTAMP_HEADER",
    "WEBHOOK_IDEMPOTENCY_HEADER",
    "WEBHOOK_EVENT_HEADER",
)
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
    path = Path(__file__).resolve().parent / "generator" / "assets" / "dispatch_base.py"
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
