"""The CDK library behind :mod:`meshpipe.cdk`: CDK Terrain (``cdktn``), else the archived ``cdktf`` 0.21.

Both have the same classes under a different import root, so the constructs are written once against ``cdk``.
Importing this module starts nothing; the CDK's jsii runtime (a Node.js process) starts with the first construct.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from meshpipe.cdk.errors import ConstructError

__all__ = ["LIBRARIES", "LIBRARY", "cdk"]

#: import roots in order of preference (cdktf was archived upstream in 2025; cdktn continues it)
LIBRARIES = ("cdktn", "cdktf")


def _load() -> ModuleType:
    for name in LIBRARIES:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the library is there but one of its own imports is missing: say so
                raise
    raise ConstructError(
        "meshpipe.cdk needs CDK Terrain and Node.js: pip install 'meshpipe[cdk]' (or cdktf 0.21, the archived original)"
    )


if TYPE_CHECKING:
    import cdktn as cdk
else:
    cdk = _load()

#: the import root in use: "cdktn" or "cdktf"
LIBRARY: str = cdk.__name__
