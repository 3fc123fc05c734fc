"""Errors of the Trigger Module generator.

::

    meshpipe.errors.MeshpipeError
    └── TriggerError            anything the generator refuses to do
        ├── SpecError           a spec file is unreadable, has unknown keys, wrong types or breaks a GitHub limit
        ├── RenderError         a template failed; names the template and the output path
        ├── WriteError          the rendered module could not be written to its target directory
        ├── DriftError          ``meshpipe module check`` found committed modules that differ from their specs
        ├── WorkflowError       ``meshpipe workflow check`` found a workflow that does not take what the module sends
        └── OptionError         a command-line value the generator cannot use (exit code 2, a usage error)
"""

from __future__ import annotations

from meshpipe.errors import MeshpipeError

__all__ = ["DriftError", "OptionError", "RenderError", "SpecError", "TriggerError", "WorkflowError", "WriteError"]


class TriggerError(MeshpipeError):
    """Base of every generator error."""


class SpecError(TriggerError):
    """A spec is invalid: the message names the file, the key path and what was expected."""

    def __init__(self, source: str, path: str, message: str) -> None:
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {message}")
        self.source = source
        self.path = path
        self.detail = message


class RenderError(TriggerError):
    """A template could not be rendered."""

    def __init__(self, template: str, output: str, message: str) -> None:
        super().__init__(f"rendering {output} from template {template} failed: {message}")
        self.template = template
        self.output = output


class WriteError(TriggerError):
    """The module directory could not be replaced."""


class DriftError(TriggerError):
    """Committed modules differ from what their specs render."""


class WorkflowError(TriggerError):
    """A workflow file does not declare the inputs the module sends (GitHub would answer 422)."""


class OptionError(TriggerError):
    """A command-line value is unusable, e.g. it contains a control character; a usage error."""

    exit_code = 2
