"""The fake meshStack's status page in a real headless Chromium (Debian's ``chromium``, installed by ``make browser``).

Screenshots are checked by their pixels (the timeline's bar colours; every underscore drawn) and the DOM Chromium
builds is checked for titles, badges and links. Each Chromium call is bounded by a subprocess timeout.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from PIL import Image, ImageChops

from meshpipe.fakes.github import FakeGitHub
from meshpipe.fakes.meshstack import FakeMeshStack
from tests.fakes.status_support import chromium, github_run_url, hide_underscores, parse_dom, screenshot, showcase_run

# The timeline's bar colours (the template's .bar.STATUS rules) as Chromium paints them.
BAR_COLOURS = {
    "SUCCEEDED": (0x1A, 0x7F, 0x37),
    "FAILED": (0xCF, 0x22, 0x2E),
    "ABORTED": (0x82, 0x50, 0xDF),
    "IN_PROGRESS": (0xD4, 0xA0, 0x17),
}
TRACK = (0xF3, 0xF5, 0xF7)  # the timeline tracks' background
MONOSPACE_CELLS_WITH_ORDERS_DB = 6  # input, user message, two system messages, step output, run output


def _pixels(path: Path) -> Iterator[tuple[int, int, tuple[int, int, int]]]:
    image = Image.open(path).convert("RGB")
    width, height = image.size
    data = image.load()
    assert data is not None
    for y in range(height):
        for x in range(width):
            yield x, y, data[x, y]


def _blobs(points: set[tuple[int, int]]) -> list[set[tuple[int, int]]]:
    """Groups of pixels touching each other (8-neighbourhood)."""
    left, groups = set(points), []
    while left:
        todo, group = [left.pop()], set()
        while todo:
            x, y = todo.pop()
            group.add((x, y))
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    if (x + dx, y + dy) in left:
                        left.remove((x + dx, y + dy))
                        todo.append((x + dx, y + dy))
        groups.append(group)
    return groups


@pytest.fixture
def showcase(fake_meshstack: FakeMeshStack, fake_github: FakeGitHub) -> tuple[FakeMeshStack, str]:
    external_url, external_id = github_run_url(fake_github)
    showcase_run(fake_meshstack, external_url, external_id)
    fake_meshstack.create_run()  # no display name
    return fake_meshstack, external_url


def test_timeline_draws_bars_in_every_status_colour_inside_its_tracks(
    showcase: tuple[FakeMeshStack, str], tmp_path: Path
) -> None:
    fake, _ = showcase
    shot = screenshot(f"{fake.url}/", tmp_path / "page.png")
    counts = dict.fromkeys(BAR_COLOURS, 0)
    boxes: dict[str, list[int]] = {}
    track: list[int] = []
    for x, y, rgb in _pixels(shot):
        if rgb == TRACK:
            track = [min(track[0], x), min(track[1], y), max(track[2], x), max(track[3], y)] if track else [x, y, x, y]
        for status, colour in BAR_COLOURS.items():
            if rgb == colour:
                counts[status] += 1
                box = boxes.get(status)
                boxes[status] = [min(box[0], x), min(box[1], y), max(box[2], x), max(box[3], y)] if box else [x, y] * 2
    assert all(count >= 40 for count in counts.values()), counts  # a bar is at least 4 x 12 pixels
    assert track, "no timeline track on the page"
    for status, (x0, y0, x1, y1) in boxes.items():
        assert track[0] <= x0 and x1 <= track[2] and track[1] <= y0 and y1 <= track[3], (status, track, boxes)


def test_every_monospace_cell_draws_its_underscores(showcase: tuple[FakeMeshStack, str], tmp_path: Path) -> None:
    """Issue 9.13: ``orders_db`` showed as "orders db" because each cell's scroll box clipped the underscore.

    The same page is drawn twice, the second time with each of those underscores replaced by a no-break space
    (same width, same line breaks): the pictures must differ by exactly one underscore-shaped mark per cell.
    """
    fake, _ = showcase
    with_underscores = screenshot(f"{fake.url}/", tmp_path / "underscores.png")
    hide_underscores(fake.runs[0])
    without = screenshot(f"{fake.url}/", tmp_path / "spaces.png")
    first, second = Image.open(with_underscores).convert("RGB"), Image.open(without).convert("RGB")
    diff = ImageChops.difference(first, second).convert("L")
    data = diff.load()
    assert data is not None
    points = {(x, y) for y in range(diff.height) for x in range(diff.width) if data[x, y] > 24}
    marks = _blobs(points)
    shapes = sorted(
        (max(x for x, _ in m) - min(x for x, _ in m) + 1, max(y for _, y in m) - min(y for _, y in m) + 1)
        for m in marks
    )
    assert len(marks) == MONOSPACE_CELLS_WITH_ORDERS_DB, shapes
    for width, height in shapes:
        assert 4 <= width <= 14 and height <= 3, shapes  # an underscore: a short flat line


def test_dom_has_titles_separate_badges_and_a_link_to_the_github_run_page(
    showcase: tuple[FakeMeshStack, str],
) -> None:
    """Issue 9.13: a run without a display name was titled "team-bucket" (the example's name), the source's badge
    and link read "FAILEDexternal run 10000001" (no space between them), and the link, the fake GitHub run's
    ``html_url``, answered 404.
    """
    fake, external_url = showcase
    dom = parse_dom(chromium(f"{fake.url}/", "--dump-dom"))
    titles = [h.text.split(" run #")[0].strip() for h in dom.find_all("h2", "run-title")]
    unnamed = fake.runs[-1]
    assert titles == [f"building block {unnamed.building_block_uuid[:8]}", "orders-db"]
    assert "team-bucket" not in dom.text
    heads = {h.find_all("code")[0].text: h for h in dom.find_all("h3", "source")}
    github = heads["github"]
    badge = github.find_all("span", "status")[0]
    link = github.find_all("a")[0]
    assert badge.text == "FAILED"
    assert link.attrs["href"] == external_url
    assert github.text.split()[2:5] == ["FAILED", "external", "run"]  # words apart, not "FAILEDexternal"
    bars = {bar.attrs["data-status"] for bar in dom.find_all("div", "bar")}
    assert bars == {"SUCCEEDED", "FAILED", "ABORTED", "IN_PROGRESS"}
    notes = [n.text for n in dom.find_all("div", "tl-note")]
    assert "not started" in notes  # Notify stayed PENDING
    assert dom.find_all("p", "stop-note")[0].text == "stopped at +6.0 s: step cleanup of runner ABORTED"
    # The link leads to the fake GitHub's page of that run, not to a 404.
    page = requests.get(external_url, timeout=5)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    run_page = parse_dom(chromium(external_url, "--dump-dom"))
    assert run_page.find_all("h1", "run-title")[0].text == "apply orders-1"  # the workflow's run-name
    assert "failure" in run_page.text
