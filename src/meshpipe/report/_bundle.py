"""Build the self-contained reporter, ``action/meshpipe.pyz``: no ``pip install`` in a CI job.

The GitHub Action (``action.yml``) runs it from its checkout; the GitLab CI and Azure Pipelines templates
(``action/gitlab/meshpipe.yml``, ``action/azure-pipelines/meshpipe-steps.yml``) fetch it by URL and refuse it
unless its sha256 is the pinned one -- so a rebuilt bundle means a new sha256 to pin for those users.

A zipapp (like a node action's committed ``dist/``) holding ``meshpipe.report`` and what it imports -- the package's
``__init__``, ``errors``, ``contract`` and ``cli`` modules and click (BSD-3-Clause, its licence included) -- run by the
runner's own ``python3`` (3.10 or newer): ``python3 action/meshpipe.pyz run step ...``. Only ``meshpipe run`` is in it.

``make render`` rebuilds it (``python -m meshpipe.report._bundle``); ``--check`` reports a committed bundle whose
meshpipe files differ from the source (the drift check; click's files may come from another click release).
The archive is reproducible: sorted members, fixed timestamps and modes.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path

__all__ = ["BUNDLE", "build", "differences", "members"]

ROOT = Path(__file__).resolve().parents[3]
#: where the action finds the bundle (relative to the repository root, next to ``action.yml``)
BUNDLE = Path("action") / "meshpipe.pyz"

MAIN = '''\
"""meshpipe run, bundled for the GitHub Action (built by meshpipe.report._bundle; do not edit)."""

import sys

if sys.version_info < (3, 10):
    sys.exit("meshpipe: error: the bundled reporter needs Python 3.10 or newer")
if sys.argv[1:2] not in (["run"], ["--version"]):
    sys.exit("meshpipe: error: this bundle only runs `meshpipe run ...`; install meshpipe for the other commands")

from meshpipe.cli import main

main()
'''
_DATE = (1980, 1, 1, 0, 0, 0)


def members() -> dict[str, bytes]:
    """The archive's members by name: ``__main__.py``, meshpipe's reporter files and click."""
    import click

    src = Path(__file__).resolve().parents[2]
    files: dict[str, bytes] = {"__main__.py": MAIN.encode()}
    for name in ("__init__.py", "errors.py", "cli.py", "contract.py"):
        files[f"meshpipe/{name}"] = (src / "meshpipe" / name).read_bytes()
    for path in sorted((src / "meshpipe" / "report").glob("*.py")):
        if path.name != "_bundle.py":
            files[f"meshpipe/report/{path.name}"] = path.read_bytes()
    click_dir = Path(click.__file__).parent
    for path in sorted(click_dir.glob("*.py")):
        files[f"click/{path.name}"] = path.read_bytes()
    licence = _click_licence(click_dir)
    if licence is not None:
        files["click/LICENSE.txt"] = licence
    return files


def _click_licence(click_dir: Path) -> bytes | None:
    for info in sorted(click_dir.parent.glob("click-*.dist-info")):
        for candidate in sorted(info.rglob("LICENSE*")):
            return candidate.read_bytes()
    return None


def build() -> bytes:
    """The zipapp's bytes (reproducible for the same sources and zlib)."""
    buffer = io.BytesIO()
    buffer.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, data in sorted(members().items()):
            info = zipfile.ZipInfo(name, date_time=_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def differences(path: Path) -> list[str]:
    """What differs between the bundle at ``path`` and the sources (empty when it is current)."""
    if not path.is_file():
        return [f"{path} does not exist"]
    try:
        with zipfile.ZipFile(path) as archive:
            committed = {name: archive.read(name) for name in archive.namelist()}
    except (OSError, zipfile.BadZipFile) as exc:
        return [f"{path} cannot be read: {exc}"]
    wanted = members()
    problems = []
    for name in sorted(set(committed) | set(wanted)):
        if name.startswith("click/") and name in committed:
            continue  # another click release is fine
        if committed.get(name) != wanted.get(name):
            problems.append(f"{path}: {name} differs from the source" if name in committed else f"{path}: no {name}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """``python -m meshpipe.report._bundle [--check] [PATH]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("path", nargs="?", type=Path, default=ROOT / BUNDLE)
    parser.add_argument("--check", action="store_true", help="report drift instead of writing")
    args = parser.parse_args(argv)
    if args.check:
        problems = differences(args.path)
        for problem in problems:
            print(f"meshpipe: drift: {problem} (run: python -m meshpipe.report._bundle)", file=sys.stderr)
        return 1 if problems else 0
    args.path.parent.mkdir(parents=True, exist_ok=True)
    args.path.write_bytes(build())
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
