"""An emulation of meshStack's Terraform runner (``tf-block-runner``) for the sandbox, the demo and the tests.

It reads the Building Block Definition file that ``meshpipe definition render`` writes (:mod:`.definition`),
prepares each run's working directory and environment (:mod:`.workdir`), executes the run with the real terraform
binary (:mod:`.core`) and reports it to the fake meshStack as the runner does (:mod:`.reporting`). Every rule cites
``../shared/reference/meshstack-runner.md``; choices nobody has verified are marked so where they are made.
"""

from __future__ import annotations

from meshpipe.fakes.runner.core import DEFAULT_RUNNER_UUID, RunOutcome, TerraformRunner
from meshpipe.fakes.runner.definition import DefinitionError, DefinitionInput, TerraformDefinition, load_definition

__all__ = [
    "DEFAULT_RUNNER_UUID",
    "DefinitionError",
    "DefinitionInput",
    "RunOutcome",
    "TerraformDefinition",
    "TerraformRunner",
    "load_definition",
]
