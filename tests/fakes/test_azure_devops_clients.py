"""The official Azure DevOps Python client (``azure-devops`` 7.1.0b4) against the fake Azure DevOps.

It looks the routes up with ``OPTIONS {org}/_apis``, sends the version in ``Accept: application/json;
api-version=7.1-preview.1`` and maps answers to its models and error classes: a wrong PAT must surface as
``AzureDevOpsAuthenticationError`` (what users report for the real service), Azure's JSON errors as
``AzureDevOpsServiceError`` with the service's message.
"""

from __future__ import annotations

import os
import tempfile
import time

import pytest

# The client caches resource locations on disk, in the home directory unless told otherwise, when it is imported.
os.environ.setdefault("AZURE_DEVOPS_CACHE_DIR", tempfile.mkdtemp(prefix="meshpipe-azure-devops-cache-"))

from azure.devops.connection import Connection
from azure.devops.exceptions import AzureDevOpsAuthenticationError, AzureDevOpsServiceError
from azure.devops.v7_1.pipelines.models import RunPipelineParameters
from azure.devops.v7_1.pipelines.pipelines_client import PipelinesClient
from msrest.authentication import BasicAuthentication

from meshpipe.fakes.azure_devops import FakeAzureDevOps
from tests.fakes.azure_support import PAT, PROJECT, setup_pipeline


def client(fake: FakeAzureDevOps, pat: str = PAT) -> PipelinesClient:
    connection = Connection(base_url=fake.org_url, creds=BasicAuthentication("", pat))
    return connection.clients_v7_1.get_pipelines_client()  # type: ignore[no-any-return]


def parameters(correlation_id: str, ref: str = "refs/heads/main") -> RunPipelineParameters:
    return RunPipelineParameters(
        template_parameters={"correlation_id": correlation_id, "dry_run": "true"},
        resources={"repositories": {"self": {"refName": ref}}},
    )


def test_run_pipeline_get_and_list(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops, duration=0.2)
    pipelines = client(fake_azure_devops)
    first = pipelines.run_pipeline(parameters("c-1"), PROJECT, pipeline_id)
    second = pipelines.run_pipeline(parameters("c-2", "refs/heads/dev"), PROJECT, pipeline_id)
    assert (first.name, first.state, first.result) == ("deploy c-1", "inProgress", None)
    assert first.template_parameters == {"correlation_id": "c-1", "dry_run": "true"}
    assert second.resources.repositories["self"].ref_name == "refs/heads/dev"
    assert first.pipeline.id == pipeline_id and first.pipeline.name == "deploy"
    assert [r.name for r in pipelines.list_runs(PROJECT, pipeline_id)] == ["deploy c-2", "deploy c-1"]
    deadline = time.monotonic() + 10
    while (got := pipelines.get_run(PROJECT, pipeline_id, first.id)).state != "completed":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert got.result == "succeeded" and got.finished_date is not None
    assert [p.name for p in pipelines.list_pipelines(PROJECT)] == ["deploy"]
    assert pipelines.get_pipeline(PROJECT, pipeline_id).id == pipeline_id
    sent = fake_azure_devops.log(method="POST")
    assert sent[0].headers["accept"] == "application/json;api-version=7.1-preview.1"
    assert sent[0].headers["x-tfs-fedauthredirect"] == "Suppress"


def test_a_wrong_pat_raises_the_authentication_error(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    with pytest.raises(AzureDevOpsAuthenticationError, match="requires user authentication"):
        client(fake_azure_devops, pat="not-a-pat").list_runs(PROJECT, pipeline_id)


def test_unknown_project_and_pipeline_raise_the_service_error(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    pipelines = client(fake_azure_devops)
    with pytest.raises(AzureDevOpsServiceError, match="TF200016: The following project does not exist: Nope"):
        pipelines.get_pipeline("Nope", pipeline_id)
    with pytest.raises(AzureDevOpsServiceError, match="Pipeline with id 777 not found"):
        pipelines.run_pipeline(parameters("c"), PROJECT, 777)


def test_undeclared_parameters_raise_the_service_error(fake_azure_devops: FakeAzureDevOps) -> None:
    pipeline_id = setup_pipeline(fake_azure_devops)
    bad = RunPipelineParameters(template_parameters={"correlation_id": "c", "surprise": "x"})
    with pytest.raises(AzureDevOpsServiceError, match="Unexpected parameter 'surprise'") as caught:
        client(fake_azure_devops).run_pipeline(bad, PROJECT, pipeline_id)
    assert caught.value.type_key == "PipelineValidationException"
    assert fake_azure_devops.runs == []
