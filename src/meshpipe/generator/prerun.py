"""The definition's pre-run script: how a Trigger Module learns its meshStack run without the deprecated variables.

meshStack's runner passes ``meshstack_building_block_run_b64`` only on a fresh APPLY or DESTROY, never on a DETECT or
on an APPLY that replays the plan a DETECT saved (``reference/meshstack-runner.md``, steps 4 and 5). The pre-run script
runs on every run, in the module's working directory, with the run JSON on stdin and the mode as ``$1``. This one
stores the non-secret part of the run in :data:`RUN_FILE`, which the bundled dispatcher reads when it runs. The
Terraform configuration never reads the file: a saved plan is replayed against a re-evaluated configuration, and a
value that differs from the DETECT run's fails the apply ("Provider produced inconsistent final plan").
"""

from __future__ import annotations

import json

from meshpipe.contract import RUN_FILE  # the file the pre-run script writes and the dispatcher reads

__all__ = ["PRE_RUN_SCRIPT", "RUN_FILE", "STORED_FIELDS"]

#: What is stored (key -> where it comes from in the run object). Never ``spec.runToken``, never the inputs.
STORED_FIELDS: dict[str, str] = {
    "url": "_links.self.href",
    "uuid": "metadata.uuid",
    "behavior": "spec.behavior",
    "buildingBlockUuid": "spec.buildingBlock.uuid",
    "workspace": "spec.buildingBlock.spec.workspaceIdentifier",
    "project": "spec.buildingBlock.spec.projectIdentifier",
}

# Runs as `bash --noprofile --norc -e -o pipefail` on the runner's image (python3, no third-party packages). The
# Python text is inside single quotes, so it uses double quotes only; -I -S keeps the interpreter isolated and fast.
PRE_RUN_SCRIPT = f"""\
# meshpipe: store the non-secret part of this run ({", ".join(STORED_FIELDS)}) in {RUN_FILE}
# for the Trigger Module's dispatcher. The run token and the inputs are never stored or printed.
python3 -I -S -c '
import json, os, sys
run = json.load(sys.stdin)
def get(path):
    value = run
    for key in path.split("."):
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, str) else None
stored = {{"version": 1, "mode": sys.argv[1] if len(sys.argv) > 1 else None}}
stored.update((key, get(path)) for key, path in {json.dumps(STORED_FIELDS)}.items())
fd = os.open("{RUN_FILE}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as handle:
    json.dump(stored, handle)
print("meshpipe: stored run", stored["uuid"], stored["behavior"], "for the Trigger Module in {RUN_FILE}")
' "$1"
"""
