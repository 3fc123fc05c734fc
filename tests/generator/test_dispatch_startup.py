"""What the dispatcher imports on each path (issue 10): start-up is most of a Trigger Module's cost per apply.

The dispatcher runs under ``-I -S`` as the modules run it, inside a small wrapper that reports ``sys.modules`` at
exit; the wrapper's own imports are subtracted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from meshpipe.fakes.github import FakeGitHub
from tests.generator.support import run_dispatch_script
from tests.generator.test_dispatch_integration import CANARY, setup_repo

WRAPPER = """
import json, sys
before = set(sys.modules)
path = sys.argv[1]
sys.argv = [path, sys.argv[2]]
try:
    exec(compile(open(path).read(), path, "exec"), {"__name__": "__main__", "__file__": path})
except SystemExit:
    pass
sys.stderr.write("\\nMODULES " + json.dumps(sorted(set(sys.modules) - before)) + "\\n")
"""
#: never needed by the dispatcher (it used to load them on every run)
NEVER = {"typing", "uuid", "tempfile", "subprocess", "shutil", "urllib.request"}
#: what only a request needs (http.client brings the email parser, which brings random and collections)
NETWORK = {"socket", "ssl", "http.client", "urllib.parse", "email.parser", "hashlib", "base64", "collections.abc"}
#: the dispatcher's own files that only a request needs: HTTP, and GitHub's credentials
SENDING = {"dispatch_net", "dispatch_auth"}
#: the target modules other than GitHub's (issue 12): a GitHub configuration never loads them
OTHER_TARGETS = {"dispatch_gitlab", "dispatch_azure", "dispatch_webhook"}


def imported(cwd: Path, phase: str, config: dict[str, Any], env: dict[str, str] | None = None) -> set[str]:
    flags = ("-I", "-S", "-c", WRAPPER)  # the dispatcher as the module runs it, under an import probe
    result = run_dispatch_script(config, cwd, phase, env=env or {}, variable="MESHPIPE_DISPATCH", python_flags=flags)
    line = [x for x in result.stderr.splitlines() if x.startswith("MODULES ")]
    assert line, result.stderr
    return set(json.loads(line[0].removeprefix("MODULES ")))


@pytest.mark.parametrize(
    ("phase", "config"),
    [
        ("apply", {"repository": "acme/infra", "workflow": "apply.yml", "behavior": "DETECT"}),
        ("apply", {"repository": "acme/infra", "workflow": "apply.yml", "behavior": "DESTROY"}),
        ("destroy", {"repository": "acme/infra", "workflow": None}),
    ],
    ids=["detect", "async-destroy-apply", "destroy-without-workflow"],
)
def test_a_path_that_sends_nothing_imports_no_network_code(tmp_path: Path, phase: str, config: dict[str, Any]) -> None:
    loaded = imported(tmp_path, phase, config, {"GITHUB_TOKEN": CANARY})
    unwanted = NEVER | NETWORK | SENDING | OTHER_TARGETS
    assert not loaded & unwanted, sorted(loaded & unwanted)
    assert "dispatch_github" in loaded  # the probe sees the dispatcher's own modules


def test_a_dispatch_imports_nothing_it_does_not_use(fake_github: FakeGitHub, tmp_path: Path) -> None:
    setup_repo(fake_github)
    config = {"api_url": fake_github.api_url, "repository": "acme/infra", "workflow": "apply.yml"}
    config["inputs"] = {"name": "x"}
    loaded = imported(tmp_path, "apply", config, {"GITHUB_TOKEN": CANARY})
    assert len(fake_github.dispatches) == 1
    assert "http.client" in loaded  # the request really went through this interpreter
    assert not loaded & (NEVER | OTHER_TARGETS), sorted(loaded & (NEVER | OTHER_TARGETS))
