"""Errors of :mod:`meshpipe.cdk`.

::

    MeshpipeError
    └── ConstructError   a construct's arguments do not fit its spec (one line: construct, spec, what is wrong)

Spec files that do not load raise :class:`meshpipe.generator.errors.SpecError` (file and key path) as everywhere.
"""

from __future__ import annotations

from meshpipe.errors import MeshpipeError

__all__ = ["ConstructError"]


class ConstructError(MeshpipeError):
    """A construct's arguments do not fit the module or definition its spec describes."""
