"""The fake meshStack's runner-facing API: state backend, plan artifacts, approvals, runner registration."""

from __future__ import annotations

import requests

from meshpipe.fakes.meshstack import MEDIA_TYPE, FakeMeshStack


def state_url(fake: FakeMeshStack, workspace: str, block: str) -> str:
    return f"{fake.url}/api/terraform/state/workspace/{workspace}/buildingBlock/{block}"


def test_state_is_stored_per_building_block_with_the_run_token_as_basic_password(
    fake_meshstack: FakeMeshStack,
) -> None:
    run = fake_meshstack.create_run(behavior="APPLY")
    url = state_url(fake_meshstack, run.workspace, run.building_block_uuid)
    auth = ("x", run.run_token)
    assert requests.get(url, auth=auth, timeout=5).status_code == 204
    assert requests.post(url, auth=auth, data=b'{"version": 4}', timeout=5).status_code == 200
    assert requests.get(url, auth=auth, timeout=5).json() == {"version": 4}
    assert fake_meshstack.runner_api.state_of(run.building_block_uuid) == {"version": 4}
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, auth=("x", "wrong"), timeout=5).status_code == 401


def test_a_run_token_cannot_read_another_blocks_state(fake_meshstack: FakeMeshStack) -> None:
    mine, other = fake_meshstack.create_run(), fake_meshstack.create_run()
    url = state_url(fake_meshstack, other.workspace, other.building_block_uuid)
    assert requests.get(url, auth=("x", mine.run_token), timeout=5).status_code == 403


def test_a_held_lock_answers_423_with_its_holder(fake_meshstack: FakeMeshStack) -> None:
    run = fake_meshstack.create_run()
    lock = state_url(fake_meshstack, run.workspace, run.building_block_uuid) + "/lock"
    auth = ("x", run.run_token)
    assert requests.post(lock, auth=auth, json={"ID": "one"}, timeout=5).status_code == 200
    taken = requests.post(lock, auth=auth, json={"ID": "two"}, timeout=5)
    assert (taken.status_code, taken.json()) == (423, {"ID": "one"})
    assert requests.delete(lock, auth=auth, timeout=5).status_code == 200
    assert requests.post(lock, auth=auth, json={"ID": "two"}, timeout=5).status_code == 200


def test_detect_uploads_a_plan_and_approval_creates_an_apply_run_linking_it(fake_meshstack: FakeMeshStack) -> None:
    control = fake_meshstack.control_headers()
    detect = fake_meshstack.create_run(behavior="DETECT", inputs={"bucket_name": "b"})
    upload = detect.runner_object["_links"]["planArtifactUpload"]["href"]
    bearer = {"Authorization": f"Bearer {detect.run_token}"}
    not_yet = requests.post(f"{fake_meshstack.url}/_fake/runs/{detect.uuid}/approve", headers=control, timeout=5)
    assert not_yet.status_code == 409
    assert requests.put(upload, data=b"PLAN", headers=bearer, timeout=5).status_code == 204

    approved = requests.post(f"{fake_meshstack.url}/_fake/runs/{detect.uuid}/approve", headers=control, timeout=5)
    assert approved.status_code == 201, approved.text
    apply = fake_meshstack.run(approved.json()["uuid"])
    assert apply.behavior == "APPLY" and apply.building_block_uuid == detect.building_block_uuid
    assert apply.inputs == detect.inputs
    link = apply.runner_object["_links"]["planArtifact"]["href"]
    assert "planArtifactUpload" not in apply.runner_object["_links"]
    download = requests.get(link, headers={"Authorization": f"Bearer {apply.run_token}"}, timeout=5)
    assert (download.status_code, download.content) == (200, b"PLAN")
    again = requests.post(f"{fake_meshstack.url}/_fake/runs/{detect.uuid}/approve", headers=control, timeout=5)
    assert again.status_code == 409


def test_only_the_detect_run_itself_uploads_and_only_its_block_downloads(fake_meshstack: FakeMeshStack) -> None:
    detect = fake_meshstack.create_run(behavior="DETECT")
    stranger = fake_meshstack.create_run(behavior="APPLY")
    url = f"{detect.url}/planArtifact"
    put = requests.put(url, data=b"X", headers={"Authorization": f"Bearer {stranger.run_token}"}, timeout=5)
    assert put.status_code == 403
    requests.put(url, data=b"X", headers={"Authorization": f"Bearer {detect.run_token}"}, timeout=5)
    get = requests.get(url, headers={"Authorization": f"Bearer {stranger.run_token}"}, timeout=5)
    assert get.status_code == 403
    apply_upload = requests.put(
        f"{stranger.url}/planArtifact", data=b"X", headers={"Authorization": f"Bearer {stranger.run_token}"}, timeout=5
    )
    assert apply_upload.status_code == 409


def test_runner_registration_and_the_implementation_on_the_runner_facing_object(
    fake_meshstack: FakeMeshStack,
) -> None:
    answer = requests.post(
        f"{fake_meshstack.url}/_fake/runners", json={"uuid": "r-1"}, headers=fake_meshstack.control_headers(), timeout=5
    )
    assert answer.status_code == 201 and answer.json() == {"runners": ["r-1"]}
    run = fake_meshstack.create_run(implementation={"terraformVersion": "1.9.0", "async": True})
    assert run.runner_object["spec"]["buildingBlockDefinition"]["spec"]["implementation"] == {
        "terraformVersion": "1.9.0",
        "async": True,
        "type": "TERRAFORM",
    }
    fetched = requests.get(
        run.url, headers={"Authorization": f"Bearer {run.run_token}", "Accept": MEDIA_TYPE}, timeout=5
    ).json()
    assert fetched["spec"]["buildingBlockDefinition"]["spec"]["implementation"] == {"type": "TERRAFORM"}
