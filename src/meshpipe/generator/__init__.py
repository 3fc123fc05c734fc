"""The Trigger Module generator: YAML spec -> validated :class:`ModuleSpec` -> rendered Terraform/OpenTofu module.

``load_spec``/``parse_spec`` validate, ``render_module`` renders in memory, ``write_module`` writes atomically.
jinja2 and PyYAML are imported only when a spec is loaded or rendered.
"""

from __future__ import annotations

from meshpipe.generator.errors import DriftError, RenderError, SpecError, TriggerError, WriteError
from meshpipe.generator.spec import ModuleSpec, load_spec, parse_spec

__all__ = [
    "DriftError",
    "ModuleSpec",
    "RenderError",
    "SpecError",
    "TriggerError",
    "WriteError",
    "load_spec",
    "parse_spec",
]
