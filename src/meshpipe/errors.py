"""The root of every error meshpipe raises on purpose.

::

    MeshpipeError                 one readable line; the CLI prints it and exits with its exit_code (1)
    ├── meshpipe.generator.errors.*  spec, render and drift errors
    └── meshpipe.report.errors.*   reporter errors (API, configuration, guard rails)

Each package draws its own part of the tree in its ``errors`` module. The CLI (:func:`meshpipe.cli.main`) catches
exactly this base class and exits with the error's ``exit_code``: 1, or 2 for a usage error such as
``meshpipe.generator.errors.OptionError``; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["MeshpipeError"]


class MeshpipeError(Exception):
    """An expected failure with a message fit for one line on stderr."""

    #: the process exit code: 1 for a user or API error, 2 for a usage error
    exit_code: int = 1
