"""The root of every error meshpipe raises on purpose.

::

    MeshpipeError                 one readable line; the CLI prints it and exits 1
    ├── meshpipe.trigger.errors.*  spec, render and drift errors
    └── meshpipe.report.errors.*   reporter errors (API, configuration, guard rails)

Each package draws its own part of the tree in its ``errors`` module. The CLI maps exactly this base class to
exit code 1; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["MeshpipeError"]


class MeshpipeError(Exception):
    """An expected failure with a message fit for one line on stderr."""

    exit_code: int = 1
