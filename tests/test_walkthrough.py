"""The README's walk-through ("build a second block from scratch") runs as written: every fenced ``sh`` block of
the section, in order, in one empty directory, with the installed ``meshpipe`` and real terraform."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"(?P<marker><!-- walkthrough: background -->\n)?```sh\n(?P<body>.*?)```", re.S)

pytestmark = pytest.mark.terraform


def walkthrough_blocks(text: str) -> list[tuple[bool, str]]:
    """(runs in the background, commands) for each fenced sh block between the walk-through markers."""
    section = text.split("<!-- walkthrough:", 1)[1].split("<!-- /walkthrough -->", 1)[0]
    return [(bool(match["marker"]), match["body"]) for match in BLOCK.finditer(section)]


def test_the_walkthrough_names_every_step_of_a_first_block() -> None:
    commands = "\n".join(body for _, body in walkthrough_blocks(README.read_text(encoding="utf-8")))
    for step in (
        "meshpipe module render",
        "meshpipe workflow render",
        "--phase destroy",
        "meshpipe sandbox --block",
        "meshpipe sandbox order",
        "meshpipe sandbox delete",
        "meshpipe definition render",
    ):
        assert step in commands


def test_readme_walkthrough_runs_as_written(tmp_path: Path) -> None:
    blocks = walkthrough_blocks(README.read_text(encoding="utf-8"))
    work = tmp_path / "postgres-database"
    work.mkdir()
    state = tmp_path / "sandbox.json"
    env = {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        "MESHPIPE_SANDBOX_STATE": str(state),
        "PYTHONUNBUFFERED": "1",
        "TF_CLI_CONFIG_FILE": "",
        "CHECKPOINT_DISABLE": "1",
    }
    background: subprocess.Popen[str] | None = None
    outputs: list[str] = []
    try:
        for in_background, body in blocks:
            if in_background:
                background = subprocess.Popen(
                    ["bash", "-c", "exec " + body.strip()],
                    cwd=work,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                deadline = time.monotonic() + 60
                while not state.exists():
                    assert background.poll() is None, background.communicate(timeout=10)[0]
                    assert time.monotonic() < deadline, "the sandbox did not start within 60 s"
                    time.sleep(0.2)
                continue
            done = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", body],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=240,
            )
            outputs.append(done.stdout + done.stderr)
            assert done.returncode == 0, f"{body}\n---\n{done.stdout}\n{done.stderr}"
    finally:
        if background is not None:
            background.send_signal(signal.SIGINT)
            try:
                outputs.append(background.communicate(timeout=30)[0])
            except subprocess.TimeoutExpired:
                background.kill()
                background.communicate(timeout=10)
    text = "\n".join(outputs)
    assert "Traceback" not in text
    assert re.search(r"step github/apply: SUCCEEDED - Database orders_db \(medium\) is ready", text), text
    assert re.search(r"step github/destroy: SUCCEEDED - Database orders_db deleted", text), text
    assert len(re.findall(r"  run \S+: SUCCEEDED", text)) == 2, text  # the APPLY run and the DESTROY run
    assert {"spec.yaml", "pipeline.py", "module", ".github", "definition.tf"} <= {p.name for p in work.iterdir()}
    assert "meshstack_building_block_definition" in (work / "definition.tf").read_text(encoding="utf-8")
    assert not state.exists(), "the sandbox removes its state file when it stops"
