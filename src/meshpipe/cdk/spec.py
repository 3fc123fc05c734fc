"""The ``spec=`` argument of the constructs: a path to a YAML spec or an already parsed :class:`ModuleSpec`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

from meshpipe.generator.headers import relative_label
from meshpipe.generator.spec import ModuleSpec, load_spec

__all__ = ["SpecArgument", "resolve_spec"]

SpecArgument = Union[str, "os.PathLike[str]", ModuleSpec]


def resolve_spec(
    spec: SpecArgument, spec_path: str | None = None, *, module_dir: Path | None = None
) -> tuple[ModuleSpec, str]:
    """The parsed spec and the label the generated files name it by (their first line).

    The label is ``spec_path`` when given; for a parsed spec, the source it was parsed from; for a path, the path
    relative to ``module_dir`` (where the module's files end up, as ``meshpipe module render`` labels it), else the
    path as given.
    """
    if isinstance(spec, ModuleSpec):
        return spec, spec_path or spec.source
    path = Path(spec)
    parsed = load_spec(path)
    if spec_path is not None:
        return parsed, spec_path
    return parsed, relative_label(path, module_dir) if module_dir is not None else path.as_posix()
