"""The status page's timeline: when each source and step of a run was active, drawn from its recorded events.

The fake records every accepted registration and update with its time (:attr:`FakeRun.events`). A step's bar starts
when it is reported ``IN_PROGRESS``; a step reported terminal without having been ``IN_PROGRESS`` started, as far as
meshStack can know, right after its source's previous report (the reporter's ``step X --status SUCCEEDED`` after the
work is done). A bar ends at the step's terminal report; a step still running ends at its source's terminal report,
or at the end of the axis. A source's bar spans its registration to its terminal run status. The axis runs from
the run's creation to its last event, or to *now* while the run is in progress, so the page shows time passing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from meshpipe.fakes.meshstack_runs import FakeRun

__all__ = ["Bar", "Row", "Tick", "Timeline", "build_timeline", "format_seconds"]

_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "ABORTED"})
_STOPPING = frozenset({"FAILED", "ABORTED"})
# Tick spacings in seconds; the first that gives at most _MAX_TICKS intervals wins.
_SPACINGS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600)
_MAX_TICKS = 6


@dataclass(frozen=True)
class Bar:
    """A horizontal bar: ``left`` and ``width`` in percent of the axis, coloured by ``status``."""

    left: float
    width: float
    status: str
    title: str


@dataclass(frozen=True)
class Row:
    """One line of the timeline: a source (``kind="source"``) or one of its steps."""

    kind: str
    label: str
    ident: str
    status: str
    bar: Bar | None
    note: str


# Small frozen records; their likeness to generator.variables' dataclasses is only the dataclass syntax.
@dataclass(frozen=True)
class Tick:
    """An axis label at ``left`` percent."""

    left: float
    label: str


@dataclass(frozen=True)
class Timeline:
    """Everything the template draws: rows, axis ticks, total time and where the run stopped (if it did)."""

    rows: list[Row]
    ticks: list[Tick]
    total: str
    stop_left: float | None
    stop_label: str


def format_seconds(seconds: float) -> str:
    """A short human duration: ``350 ms``, ``4.2 s``, ``2 min 05 s``."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _tick_label(seconds: float) -> str:
    if seconds == 0:
        return "0"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60 or seconds % 60:
        return f"{seconds:g} s"
    return f"{seconds / 60:g} min"


def _ticks(total: float) -> list[Tick]:
    spacing = next((s for s in _SPACINGS if total / s <= _MAX_TICKS), _SPACINGS[-1])
    count = int(total / spacing + 1e-9)
    return [Tick(100.0 * k * spacing / total, _tick_label(k * spacing)) for k in range(count + 1)]


class _Spans:
    """Replays a run's events into start/end times per source and per (source, step)."""

    def __init__(self) -> None:
        self.sources: dict[str, list[float | None]] = {}
        self.steps: dict[tuple[str, str], list[float | None]] = {}
        self.stop: tuple[float, str] | None = None
        self._last: dict[str, float] = {}

    def replay(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            at, source, body = float(event["at"]), event.get("sourceId"), event.get("body") or {}
            if event["kind"] == "abort":
                if body.get("aborted") and self.stop is None:
                    self.stop = (at, "the run was aborted")
                continue
            if source is None:
                continue
            since = self._last.get(source, at)
            if event["kind"] == "register":
                self.sources[source] = [at, None]
                since = at
            for step in body.get("steps") or []:
                if step.get("status"):
                    self._step(source, step["id"], step["status"], at, since)
            span = self.sources.setdefault(source, [at, None])
            if body.get("status") in _TERMINAL and span[1] is None:
                span[1] = at
                if body["status"] in _STOPPING:
                    self._stopped(at, f"source {source} reported {body['status']}")
            self._last[source] = at

    def _step(self, source: str, step: str, status: str, at: float, since: float) -> None:
        span = self.steps.setdefault((source, step), [None, None])
        if status == "PENDING":
            return
        if span[0] is None:
            span[0] = at if status == "IN_PROGRESS" else since
        span[1] = at if status in _TERMINAL else None
        if status in _STOPPING:
            self._stopped(at, f"step {step} of {source} {status}")

    def _stopped(self, at: float, label: str) -> None:
        if self.stop is None or at < self.stop[0]:
            self.stop = (at, label)


def build_timeline(run: FakeRun, *, now: float) -> Timeline:
    """The timeline of ``run`` as of ``now`` (epoch seconds)."""
    spans = _Spans()
    spans.replay(run.events)
    origin = run.created_at
    last = max([origin, *(float(e["at"]) for e in run.events)])
    end = max(last, now) if run.status == "IN_PROGRESS" and not run.aborted else last
    total = max(end - origin, 1e-3)

    def bar(start: float, stop: float, status: str, label: str) -> Bar:
        left = 100.0 * (start - origin) / total
        width = 100.0 * max(stop - start, 0.0) / total
        title = (
            f"{label}: {status}, +{format_seconds(start - origin)} to +{format_seconds(stop - origin)} "
            f"({format_seconds(stop - start)})"
        )
        return Bar(round(left, 3), round(min(width, 100.0 - left), 3), status, title)

    rows: list[Row] = []
    for source_id, source in run.sources.items():
        source_start, source_end = spans.sources.get(source_id, [None, None])
        source_status = source["status"] or "IN_PROGRESS"
        source_bar = None
        note = "not registered"
        if source_start is not None:
            finish = source_end if source_end is not None else end
            source_bar = bar(source_start, finish, source_status, f"source {source_id}")
            note = format_seconds(finish - source_start) + ("" if source_end is not None else " so far")
        rows.append(Row("source", f"source {source_id}", source_id, source_status, source_bar, note))
        for step in source["steps"]:
            start, stop = spans.steps.get((source_id, step["id"]), [None, None])
            if start is None:
                rows.append(Row("step", step["displayName"], step["id"], step["status"], None, "not started"))
                continue
            running = stop is None
            if running:
                stop = source_end if source_end is not None else end
            assert stop is not None
            step_bar = bar(start, stop, step["status"], step["displayName"])
            note = format_seconds(stop - start) + (" so far" if running and source_end is None else "")
            rows.append(Row("step", step["displayName"], step["id"], step["status"], step_bar, note))
    stop_left = None
    stop_label = ""
    if spans.stop is not None and run.status == "FAILED":
        at, what = spans.stop
        stop_left = round(100.0 * (at - origin) / total, 3)
        stop_label = f"stopped at +{format_seconds(at - origin)}: {what}"
    return Timeline(rows, _ticks(total), format_seconds(total), stop_left, stop_label)
