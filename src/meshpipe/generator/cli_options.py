"""Command-line parameters the ``meshpipe definition`` and ``meshpipe workflow`` commands share."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

__all__ = ["out_file_option", "spec_argument"]

_Decorated = TypeVar("_Decorated", bound=Callable[..., object])

#: ``SPEC``: an existing spec file (parameter ``spec``, a :class:`~pathlib.Path`)
spec_argument = click.argument("spec", type=click.Path(exists=True, dir_okay=False, path_type=Path))


def out_file_option(help_text: str) -> Callable[[_Decorated], _Decorated]:
    """``-o/--out FILE`` (parameter ``output_file``): where a command that prints one file writes it instead."""
    return click.option(
        "-o",
        "--out",
        "output_file",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help=help_text,
    )
