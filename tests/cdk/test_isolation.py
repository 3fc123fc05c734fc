"""The CDK stays an optional extra: the core and ``meshpipe run`` never import it, the core installs without it,
and without it ``meshpipe.cdk`` says in one line what to install. ``cdktf`` 0.21 synthesizes the same stacks."""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement

from tests.cdk.support import APP, CDK_ENV, SPEC, SYNTH_TIMEOUT_SECONDS, Synth, without_metadata

CDK_MODULES = ("cdktn", "cdktf", "constructs", "jsii", "meshpipe.cdk")
#: makes `import X` fail in the probe, as if the package were not installed
BLOCK = "import sys\nfor name in {names!r}:\n    sys.modules[name] = None\n"


def probe(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **CDK_ENV},
        timeout=SYNTH_TIMEOUT_SECONDS,
        check=False,
    )


def test_import_meshpipe_and_run_help_import_no_cdk_module() -> None:
    code = (
        "import sys\n"
        "import meshpipe\n"
        "after_import = [m for m in sys.modules if m.split('.')[0] in ('cdktn', 'cdktf', 'constructs', 'jsii')]\n"
        "from meshpipe.cli import cli\n"
        "try:\n    cli.main(args=['run', 'show', '--help'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        f"loaded = [m for m in {CDK_MODULES!r} if m in sys.modules]\n"
        "print('CDK', after_import, loaded)\n"
    )
    result = probe(code)
    assert result.returncode == 0, result.stderr
    assert "CDK [] []" in result.stdout
    assert "meshpipe run show" in result.stdout  # the help really ran


def test_core_and_run_work_without_the_cdk_installed(tmp_path: Path) -> None:
    code = BLOCK.format(names=CDK_MODULES[:-1]) + (
        "from meshpipe.cli import cli\n"
        "for args in (['run', 'show', '--help'], ['module', 'render', sys.argv[1], '-o', sys.argv[2]]):\n"
        "    try:\n        cli.main(args=args, standalone_mode=False)\n    except SystemExit as exc:\n"
        "        assert not exc.code, exc.code\n"
        "print('OK')\n"
    )
    spec = Path(APP).parents[1] / "team-bucket" / "spec.yaml"
    result = probe(code, str(spec), str(tmp_path / "module"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("OK") and (tmp_path / "module" / "main.tf").is_file()


def test_without_the_extra_meshpipe_cdk_names_what_to_install_in_one_line() -> None:
    code = BLOCK.format(names=("cdktn", "cdktf")) + (
        "import meshpipe.cdk\n"  # the package itself loads; the constructs need the library
        "from meshpipe.cdk import ConstructError\n"
        "try:\n    from meshpipe.cdk import TriggerModule\nexcept ConstructError as exc:\n    print('ERROR', exc)\n"
    )
    result = probe(code)
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("ERROR ") and "pip install 'meshpipe[cdk]'" in line and "Node.js" in line


def test_the_core_package_requires_no_cdk_package() -> None:
    requirements = [Requirement(text) for text in importlib.metadata.requires("meshpipe") or []]
    core = {req.name.lower() for req in requirements if req.marker is None}
    assert "click" in core and not core & {"cdktn", "cdktf", "constructs", "jsii"}
    cdk = [req for req in requirements if req.name.lower() in ("cdktn", "cdktf", "constructs", "jsii")]
    assert cdk and all(req.marker is not None and "extra" in str(req.marker) for req in cdk)
    assert any(req.name == "cdktn" and req.marker is not None and req.marker.evaluate({"extra": "cdk"}) for req in cdk)


def _stack_files(outdir: Path) -> dict[str, Any]:
    """Every synthesized file; in the module files the spec's path (relative to them, so it differs between two
    output directories at different depths) replaced by ``SPEC``."""
    files: dict[str, Any] = {}
    for path in sorted((outdir / "stacks").rglob("*")):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            label = os.path.relpath(SPEC, path.parent if path.parent.name != "tests" else path.parent.parent)
            files[path.relative_to(outdir).as_posix()] = (
                without_metadata(json.loads(text)) if path.name == "cdk.tf.json" else text.replace(label, "SPEC")
            )
    return files


def test_cdktf_0_21_synthesizes_the_same_stacks_as_cdktn(synthesized: Synth, tmp_path: Path) -> None:
    """The archived cdktf differs from CDK Terrain only in its import root (and the version in the metadata)."""
    outdir = tmp_path / "cdktf.out"
    code = BLOCK.format(names=("cdktn",)) + (
        "import runpy\n"
        "sys.argv = [sys.argv[1], sys.argv[2]]\n"
        "runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "from meshpipe.cdk._lib import LIBRARY\n"
        "print('LIBRARY', LIBRARY)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(APP), str(outdir)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, **CDK_ENV},
        timeout=SYNTH_TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "LIBRARY cdktf" in result.stdout
    manifest = json.loads((outdir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == "0.21.0"
    assert _stack_files(outdir) == _stack_files(synthesized.outdir)
