"""Secrets stay out of state, plans and output; hostile inputs arrive byte-exact; typed inputs, GitHub App and GHES."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from meshpipe.fakes.github import FakeGitHub
from tests.generator.support import REPO, TOKEN, Module, b64, copy_module, render_inline, run_object, run_url
from tests.generator.test_module_terraform import HOSTILE_STATIC, INLINE_SPECS

pytestmark = pytest.mark.terraform

SECRET = "registry-CANARY-password-0123456789"


def hostile_corpus(marker: Path) -> dict[str, str]:
    injection = f"$(touch {marker})"
    return {
        "shell": f"a; touch {marker} && echo pwned | cat > {marker} &",
        "quotes": "single ' double \" both '\"' end",
        "backticks": f"`touch {marker}`",
        "subshell": injection,
        "newlines": f"line one\nline two\r\n{injection}\n",
        "interpolation": "${var.github_repository} ${path.module} $${escaped}",
        "directive": "%{ if true }x%{ endif } %%{ literal }",
        "unicode": "äöü ß — 日本語 🚀 \u202e",
        "big": ("x`$(touch " + str(marker) + ")`\"'\\\n") * (60 * 1024 // (len(str(marker)) + 16)),
    }


def test_canary_token_never_reaches_state_plan_or_output(fake_github: FakeGitHub, tmp_path: Path) -> None:
    fake_github.add_token(TOKEN)
    fake_github.add_workflow(REPO, "apply.yml", inputs={"buildingBlockRunUrl": {"type": "string"}}, duration=0.3)
    fake_github.add_workflow(REPO, "destroy.yml", inputs={"buildingBlockRunUrl": {"type": "string"}}, duration=0.3)
    module = Module(copy_module("github-workflow-trigger", tmp_path), env={"GITHUB_TOKEN": TOKEN})
    module.set(
        github_api_url=fake_github.api_url,
        github_repository=REPO,
        apply_workflow="apply.yml",
        destroy_workflow="destroy.yml",
        meshstack_building_block_run_b64=b64(run_object()),
    )
    plan = module.tf.run("plan", "-no-color", "-input=false", "-out=tfplan").output
    shown = module.tf.run("show", "-json", "-no-color", "tfplan").stdout
    output = plan + module.apply() + module.destroy()
    assert len(fake_github.dispatches) == 2
    assert all(d.headers["authorization"] == f"Bearer {TOKEN}" for d in fake_github.dispatches)
    for text in (shown, output, module.state, (module.tf.workdir / "terraform.tfstate.backup").read_text()):
        assert TOKEN not in text
        assert "RUN-OBJECT-SECRET" not in text  # the run object is decoded, never forwarded or stored
    assert "output suppressed" not in output


def test_hostile_inputs_arrive_byte_exact_and_cause_no_side_effect(fake_github: FakeGitHub, tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    corpus = hostile_corpus(marker)
    assert 55 * 1024 < len(corpus["big"]) <= 62 * 1024
    # The same fake set-up as the test above, for this corpus.
    declared = {name: {"type": "string", "required": True} for name in corpus}
    fake_github.add_token(TOKEN)
    fake_github.add_workflow(REPO, "apply.yml", inputs=declared, duration=0.3)
    fake_github.add_workflow(REPO, "destroy.yml", inputs=declared, duration=0.3)
    module = Module(copy_module("github-workflow-trigger", tmp_path), env={"GITHUB_TOKEN": TOKEN})
    module.set(
        github_api_url=fake_github.api_url,
        github_repository=REPO,
        apply_workflow="apply.yml",
        destroy_workflow="destroy.yml",
        workflow_inputs=corpus,
    )
    module.apply()
    module.destroy()
    apply, destroy = fake_github.dispatches
    assert apply.inputs == corpus and destroy.inputs == corpus
    assert not marker.exists()


def test_static_values_from_the_spec_arrive_byte_exact_as_client_payload(fake_ghes: FakeGitHub, tmp_path: Path) -> None:
    spec = json.loads(json.dumps(INLINE_SPECS["fixed-repository-dispatch"]))
    spec["github"]["api_url"] = fake_ghes.api_url
    spec["wait"] = {"enabled": False}
    fake_ghes.add_token("ghs_deploy_token")
    fake_ghes.add_repository("acme/infra", branches=("main", "release"))
    module = Module(render_inline(spec, tmp_path), env={"DEPLOY_TOKEN": "ghs_deploy_token"})
    run = run_object()
    module.set(meshstack_building_block_run_b64=b64(run))
    module.apply()
    module.destroy()
    deploy, teardown = fake_ghes.dispatches
    assert (deploy.event, deploy.event_type, teardown.event_type) == ("repository_dispatch", "deploy", "teardown")
    expected = {"motto": HOSTILE_STATIC, "count": "3", "bb": run["spec"]["buildingBlock"]["uuid"]}
    assert {k: deploy.client_payload[k] for k in expected} == expected
    assert deploy.client_payload["run"] == run["metadata"]["uuid"]


def app_key() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def test_github_app_on_ghes_with_typed_and_secret_inputs_waits_for_the_run(
    fake_ghes: FakeGitHub, tmp_path: Path
) -> None:
    private, public = app_key()
    pem = tmp_path / "app.pem"
    pem.write_text(private)
    repo = "platform/deployments"
    fake_ghes.add_app(4711, 42, public, repositories=[repo])
    names = [
        "service",
        "environment",
        "replicas",
        "canary",
        "regions",
        "labels",
        "registry_password",
        "workspace",
        "buildingBlockRunUrl",
        "correlation_id",
    ]
    inputs: dict[str, Any] = {name: {"type": "string", "required": False} for name in names}
    options: dict[str, Any] = {"inputs": inputs, "run_name": "deploy ${{ inputs.correlation_id }}", "duration": 0.3}
    fake_ghes.add_workflow(repo, "deploy.yml", **options)
    fake_ghes.add_workflow(repo, "teardown.yml", **options)
    env = {
        "GITHUB_APP_ID": "4711",
        "GITHUB_APP_INSTALLATION_ID": "42",
        "GITHUB_APP_PEM_FILE": str(pem),
        "REGISTRY_PASSWORD": SECRET,
    }
    module = Module(copy_module("ghes-app-deployment", tmp_path), env=env)
    run = run_object()
    module.set(
        github_api_url=fake_ghes.api_url,
        service="billing-api",
        replicas=3,
        canary=True,
        regions=["eu-central-1", "eu-west-1"],
        labels={"team": "payments", "tier": "1"},
        poll_interval_seconds=0.2,
        meshstack_building_block_run_b64=b64(run),
    )
    output = module.apply() + module.destroy()
    deploy, teardown = fake_ghes.dispatches
    assert (deploy.workflow, teardown.workflow) == ("deploy.yml", "teardown.yml")
    assert deploy.headers["authorization"].startswith("Bearer ") and "return_run_details" not in deploy.body
    sent = dict(deploy.inputs)
    correlation = sent.pop("correlation_id")
    assert sent == {
        "service": "billing-api",
        "environment": "dev",
        "replicas": "3",
        "canary": "true",
        "regions": '["eu-central-1","eu-west-1"]',
        "labels": '{"team":"payments","tier":"1"}',
        "registry_password": SECRET,
        "workspace": "team-alpha",
        "buildingBlockRunUrl": run_url(run),
    }
    assert all(r.status == "completed" for r in fake_ghes.runs) and len(fake_ghes.runs) == 2
    assert correlation in fake_ghes.runs[0].display_title
    for text in (output, module.state):
        assert SECRET not in text and "PRIVATE KEY" not in text
    assert any(r.path.endswith("/app/installations/42/access_tokens") for r in fake_ghes.log(method="POST"))
