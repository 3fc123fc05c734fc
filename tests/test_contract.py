"""Issue 11 item 2: each contract constant has one definition, and the standalone dispatcher's copy agrees with it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import meshpipe.contract as contract
from meshpipe.generator import prerun, spec, variables
from meshpipe.report import model, settings, transport

#: the dispatcher file that holds the copy (every target module imports it)
DISPATCHER = Path(contract.__file__).parent / "generator" / "assets" / "dispatch_base.py"


def _dispatcher() -> ModuleType:
    module_spec = importlib.util.spec_from_file_location("meshpipe_dispatch_contract", DISPATCHER)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def test_the_dispatchers_block_is_the_one_rendered_from_the_contract() -> None:
    text = DISPATCHER.read_text(encoding="utf-8")
    assert contract.dispatcher_block() in text
    assert contract.replace_block(text) == text


@pytest.mark.parametrize("name", contract.DISPATCHER_NAMES)
def test_the_dispatcher_sees_the_contracts_values(name: str) -> None:
    assert getattr(_dispatcher(), name) == getattr(contract, name)


def test_a_stale_dispatcher_block_is_rewritten_from_the_contract() -> None:
    text = DISPATCHER.read_text(encoding="utf-8")
    stale = text.replace('"DETECT")', '"DETECT", "IMPORT")', 1)
    assert stale != text
    assert contract.replace_block(stale) == text


def test_a_dispatcher_without_markers_is_an_error() -> None:
    with pytest.raises(ValueError, match="contract"):
        contract.replace_block("BEHAVIORS = ()\n")


def test_the_generator_and_the_reporter_use_the_contracts_definitions() -> None:
    assert spec.RUN_URL_INPUT is contract.RUN_URL_INPUT
    assert spec.INPUT_NAME.pattern == contract.INPUT_NAME_PATTERN == variables.INPUT_NAME_RE
    assert spec.REPOSITORY.pattern == contract.REPOSITORY_PATTERN
    assert spec.WORKFLOW_FILE.pattern == contract.WORKFLOW_FILE_PATTERN == variables.WORKFLOW_FILE_RE
    assert spec.Auth().token_env == contract.DEFAULT_AUTH["token_env"]
    assert prerun.RUN_FILE == contract.RUN_FILE
    assert model.BEHAVIORS is contract.BEHAVIORS
    assert transport.MEDIA_TYPE is contract.RUN_MEDIA_TYPE
    assert contract.MESHSTACK_RUN_TOKEN_ENV in settings.CREDENTIAL_LABELS["run_token"]


def test_the_contract_module_imports_nothing() -> None:
    """``meshpipe run`` imports it on every CI step: it must not pull in re, json or anything else."""
    code = (
        "import sys; before = set(sys.modules); import meshpipe.contract; "
        "print(sorted(set(sys.modules) - before - {'__future__', 'meshpipe', 'meshpipe.contract'}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"
