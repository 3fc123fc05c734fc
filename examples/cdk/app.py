"""The team-bucket building block written in Python with the CDK (CDK Terrain), from the same spec as the HCL route.

Two stacks from ``examples/team-bucket/spec.yaml``:

* ``team-bucket``: what meshStack runs. The Trigger Module exactly as ``meshpipe module render`` writes it, as a
  module of the stack, with the module's variables and outputs exposed at the root (meshStack sets inputs and run
  variables on the root module and reads its outputs) and no state backend (meshStack's runner supplies one).
  Commit its synthesized directory; the definition's ``repository_path`` points there (meshStack runs terraform,
  not the CDK).
* ``team-bucket-definition``: the Building Block Definition ``meshpipe definition render`` writes, for the platform
  team to apply with the ``meshcloud/meshstack`` provider (the GitHub token as ``TF_VAR_github_token``).

Synthesize (Node.js needed; ``pip install 'meshpipe[cdk]'``)::

    python examples/cdk/app.py [OUTDIR]        # default: examples/cdk/cdktf.out
"""

from __future__ import annotations

import sys
from pathlib import Path

from constructs import Construct

try:
    from cdktn import App, LocalBackend, TerraformStack
except ImportError:  # cdktf 0.21, the archived original: the same classes under another import root
    from cdktf import App, LocalBackend, TerraformStack  # type: ignore[no-redef]

from meshpipe.cdk import BuildingBlockDefinition, TriggerModule, use_runner_backend

ROOT = Path(__file__).resolve().parents[2]
SPEC = ROOT / "examples" / "team-bucket" / "spec.yaml"
OUTDIR = "examples/cdk/cdktf.out"
MODULE_STACK = "team-bucket"
DEFINITION_STACK = "team-bucket-definition"
REPOSITORY_URL = "https://github.com/acme/team-bucket.git"


class TeamBucketModule(TerraformStack):
    """The root module meshStack's runner applies and destroys: the Trigger Module and its interface."""

    def __init__(self, scope: Construct, id: str) -> None:
        super().__init__(scope, id)
        use_runner_backend(self)
        TriggerModule(self, "team-bucket", spec=SPEC, expose_interface=True)


class TeamBucketDefinition(TerraformStack):
    """The definition that publishes the module stack in meshStack's marketplace."""

    def __init__(self, scope: Construct, id: str, *, module_path: str) -> None:
        super().__init__(scope, id)
        # The platform team's own state; a relative path keeps the synthesized file free of this machine's paths.
        LocalBackend(self, path="terraform.tfstate")
        BuildingBlockDefinition(
            self,
            "team-bucket",
            spec=SPEC,
            repository_url=REPOSITORY_URL,
            path=module_path,
            outputs=["bucket_url=STRING:RESOURCE_URL"],  # reported by the workflow, shown as the bucket's link
        )


def main(argv: list[str]) -> None:
    """Synthesize both stacks into ``argv[1]`` (default ``examples/cdk/cdktf.out``)."""
    outdir = Path(argv[1]) if len(argv) > 1 else ROOT / OUTDIR
    app = App(outdir=str(outdir))
    TeamBucketModule(app, MODULE_STACK)
    TeamBucketDefinition(app, DEFINITION_STACK, module_path=f"{OUTDIR}/stacks/{MODULE_STACK}")
    app.synth()
    print(f"synthesized {MODULE_STACK} and {DEFINITION_STACK} into {outdir}")


if __name__ == "__main__":
    main(sys.argv)
