"""The ``spec=`` argument of the constructs: a path to a YAML spec or an already parsed :class:`ModuleSpec`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from meshpipe.trigger.spec import ModuleSpec, load_spec

__all__ = ["SpecArgument", "resolve_spec"]

SpecArgument = Union[str, "os.PathLike[str]", ModuleSpec]


def resolve_spec(spec: SpecArgument, spec_path: str | None = None) -> tuple[ModuleSpec, str]:
    """The parsed spec and the label the generated files name it by (their first line).

    The label is ``spec_path`` when given; else, for a path, what ``meshpipe module render`` prints for it (relative
    to the project root or the current directory), and for a parsed spec the source it was parsed from.
    """
    if isinstance(spec, ModuleSpec):
        return spec, spec_path or spec.source
    from meshpipe.trigger.cli import project_root
    from meshpipe.trigger.headers import relative_label

    path = Path(spec)
    return load_spec(path), spec_path or relative_label(path, project_root(path))
