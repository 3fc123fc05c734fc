"""Trigger Modules and Building Block Definitions as CDK constructs (CDK Terrain ``cdktn``, or ``cdktf`` 0.21).

An optional extra (``pip install 'meshpipe[cdk]'``); nothing else in meshpipe imports it. The names below load
lazily, so ``import meshpipe.cdk`` is cheap and the CDK's Node.js runtime starts only with the first construct.

* :class:`TriggerModule` puts the module ``meshpipe module render`` writes into a stack, as a module;
* :class:`BuildingBlockDefinition` is the ``meshstack_building_block_definition`` ``meshpipe definition render``
  writes, with the ``meshcloud/meshstack`` provider (:class:`MeshStackProvider`) declared;
* :func:`use_runner_backend` leaves the state backend to meshStack's runner.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from meshpipe.cdk.errors import ConstructError

if TYPE_CHECKING:
    from meshpipe.cdk.definition import BuildingBlockDefinition, MeshStackProvider
    from meshpipe.cdk.module import TriggerModule, use_runner_backend

__all__ = ["BuildingBlockDefinition", "ConstructError", "MeshStackProvider", "TriggerModule", "use_runner_backend"]

_LAZY = {
    "BuildingBlockDefinition": "meshpipe.cdk.definition",
    "MeshStackProvider": "meshpipe.cdk.definition",
    "TriggerModule": "meshpipe.cdk.module",
    "use_runner_backend": "meshpipe.cdk.module",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'meshpipe.cdk' has no attribute {name!r}")
