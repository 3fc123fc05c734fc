"""Render a Trigger Module from a :class:`~meshpipe.generator.spec.ModuleSpec` in memory (written by :mod:`.writing`).

One Jinja environment (:func:`environment`) renders every file. The templates write the HCL; values become literals
through the ``hcl`` filters and the ``align`` filter pads ``=`` as fmt does (:mod:`meshpipe.generator.hcl`), so the
output is ``terraform fmt``-clean by construction and byte-for-byte deterministic.
"""

from __future__ import annotations

import shlex
from importlib import resources
from typing import Any

import jinja2

from meshpipe.generator import hcl, headers
from meshpipe.generator.context import build_context
from meshpipe.generator.errors import RenderError
from meshpipe.generator.spec import ModuleSpec
from meshpipe.generator.writing import write_module

__all__ = [
    "COMMON_DISPATCHER_FILES",
    "DISPATCHER_FILES",
    "OUTPUTS",
    "TARGET_DISPATCHER_FILES",
    "dispatcher_files",
    "environment",
    "header",
    "one_line",
    "outputs",
    "render_module",
    "write_module",
]

#: the bundled dispatcher's files in ``assets/`` every module ships: the entry point ``dispatch.py`` imports its
#: siblings by name, and only the chosen target's client
COMMON_DISPATCHER_FILES = (
    "dispatch.py",
    "dispatch_base.py",
    "dispatch_net.py",
    "dispatch_client.py",
    "dispatch_once.py",
)
#: target -> the dispatcher files only its modules ship (contract12 section 2)
TARGET_DISPATCHER_FILES = {
    "github": ("dispatch_github.py", "dispatch_auth.py"),
    "gitlab": ("dispatch_gitlab.py",),
    "azure_devops": ("dispatch_azure.py",),
    "webhook": ("dispatch_webhook.py",),
}


def dispatcher_files(target: str) -> tuple[str, ...]:
    """The dispatcher files a module of ``target`` ships, in the order they are written."""
    return (*COMMON_DISPATCHER_FILES, *TARGET_DISPATCHER_FILES[target])


#: a GitHub module's dispatcher files (the default target)
DISPATCHER_FILES = dispatcher_files("github")


def outputs(target: str) -> dict[str, str | None]:
    """Output path -> template for a module of ``target`` (``None``: a dispatcher asset, copied with a header)."""
    return {
        "versions.tf": "versions.tf.j2",
        "variables.tf": "variables.tf.j2",
        "main.tf": "main.tf.j2",
        "outputs.tf": "outputs.tf.j2",
        "README.md": "README.md.j2",
        **dict.fromkeys(dispatcher_files(target)),
        "tests/wiring.tftest.hcl": "tests/wiring.tftest.hcl.j2",
        "tests/validation.tftest.hcl": "tests/validation.tftest.hcl.j2",
    }


#: a GitHub module's files
OUTPUTS: dict[str, str | None] = outputs("github")


def environment() -> jinja2.Environment:
    """The one Jinja environment of the generator.

    Autoescape is off on purpose: the output is HCL, Markdown and Python, and escaping is done by the ``hcl_string``
    filter where a value lands in an HCL string.
    """
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("meshpipe.generator", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["hcl"] = hcl.literal
    env.filters["hcl_string"] = hcl.string
    env.filters["hcl_key"] = hcl.identifier_or_string
    env.filters["align"] = hcl.align
    env.filters["md"] = markdown_cell
    env.filters["one_line"] = one_line
    env.filters["comment"] = headers.comment_safe
    env.globals["definition_header"] = definition_header
    return env


def one_line(value: object) -> str:
    """Text with every run of whitespace (newlines included) collapsed to one space and other control characters
    escaped: safe in a ``#`` comment."""
    return headers.comment_safe(" ".join(str(value).split()))


def definition_header(definition: Any) -> str:
    """The first line of a rendered Building Block Definition.

    When it was written with ``-o FILE`` its paths are relative to the file's directory and the command runs there;
    on stdout they are as given.
    """
    in_file = "-o" in shlex.split(definition.command)
    where = "in this file's directory" if in_file else ""
    return headers.header(definition.spec_path, command=definition.command, where=where)


def markdown_cell(value: object) -> str:
    """Text safe inside a Markdown table cell: one line, pipes escaped."""
    return one_line(value).replace("|", "\\|")


def header(spec_path: str, *, command: str, comment: str = "#") -> str:
    """The first line of every file of a module (see :mod:`meshpipe.generator.headers`)."""
    return headers.header(spec_path, command=command, where="in the module directory", comment=comment)


def render_module(spec: ModuleSpec, *, spec_path: str, dispatcher: bool = True) -> dict[str, str]:
    """Every file of the module: relative path -> text. Raises :class:`RenderError` naming template and output.

    ``spec_path`` is the spec's path relative to the module directory (see :func:`headers.relative_label`); the
    headers name it and the command that regenerates the module when run in its directory. ``dispatcher=False``
    leaves out the bundled dispatcher: the Terraform files and the README alone, e.g. to read the module's
    interface; such a module cannot dispatch.
    """
    env = environment()
    files: dict[str, str] = {}
    command = headers.module_command(spec_path)
    contexts = {
        comment: build_context(
            spec,
            header=header(spec_path, command=command, comment=comment),
            spec_path=headers.comment_safe(spec_path),
            command=headers.comment_safe(command),
        )
        for comment in ("#", "<!--")
    }
    for output, template_name in outputs(spec.target).items():
        if template_name is None:
            if not dispatcher:
                continue
            asset = resources.files("meshpipe.generator").joinpath("assets").joinpath(output)
            try:
                body = asset.read_text(encoding="utf-8")
            except OSError as exc:
                why = f"cannot read the dispatcher of target {spec.target}: {exc}"
                raise RenderError(f"assets/{output}", output, why) from exc
            files[output] = header(spec_path, command=command) + "\n" + body
            continue
        context = contexts["<!--" if output.endswith(".md") else "#"]
        try:
            files[output] = env.get_template(template_name).render(**context)
        except jinja2.TemplateError as exc:
            raise RenderError(template_name, output, str(exc)) from exc
    return files
