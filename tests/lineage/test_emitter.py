"""Delivery: the local JSON-lines file always, HTTP to a local receiver when asked, never an exception.

The receiver is `http.server` in a thread on 127.0.0.1:0 that records every POST (path, headers,
body) and answers with the status the test chooses.
"""

from __future__ import annotations

import json
import socket
import stat
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lineage_runs import Runs

from vaultline.lineage.emitter import API_KEY_ENV, URL_ENV, LineageEmitter, events_path
from vaultline.lineage.events import run_uuid
from vaultline.state import State

API_KEY = "test-lineage-api-key-5f1c"


class Receiver:
    """A Marquez-like endpoint: records POSTs and answers `status`."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.status = 201
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(
                    {"path": self.path, "headers": dict(self.headers), "body": json.loads(body)}
                )
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def _emit_run(state: State, runs: Runs, name: str) -> tuple[str | None, str | None]:
    report = runs.reports[name]
    emitter = LineageEmitter(state, runs.loaded[name].pipeline)
    return emitter.start(report["run_id"], report), emitter.complete(report["run_id"], report)


def _lines(state: State) -> list[dict[str, Any]]:
    return [json.loads(line) for line in events_path(state).read_text("utf-8").splitlines()]


def test_file_transport_appends_one_private_line_per_event(examples: Runs, tmp_path: Path) -> None:
    state = State(tmp_path / "state")
    assert _emit_run(state, examples, "fraud") == (None, None)
    assert _emit_run(state, examples, "healthplus") == (None, None)
    path = events_path(state)
    assert path == state.root / "lineage" / "events.jsonl"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    events = _lines(state)
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("fraud", "START"), ("fraud", "COMPLETE"), ("healthplus", "START"), ("healthplus", "COMPLETE")
    ]  # fmt: skip
    assert (
        events[0]["run"]["runId"]
        == events[1]["run"]["runId"]
        == run_uuid(examples.reports["fraud"]["run_id"])
    )


def test_http_receives_start_and_complete_and_the_local_copy_is_kept(
    examples: Runs, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, receiver.url)
    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    state = State(tmp_path / "state")
    assert _emit_run(state, examples, "fraud") == (None, None)
    assert [r["path"] for r in receiver.received] == ["/api/v1/lineage", "/api/v1/lineage"]
    assert all(r["headers"]["Authorization"] == f"Bearer {API_KEY}" for r in receiver.received)
    assert all(r["headers"]["Content-Type"] == "application/json" for r in receiver.received)
    bodies = [r["body"] for r in receiver.received]
    assert [b["eventType"] for b in bodies] == ["START", "COMPLETE"]
    assert bodies == _lines(state)  # the local copy is the very same events


def test_without_an_api_key_no_authorization_is_sent(
    examples: Runs, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(URL_ENV, receiver.url)
    monkeypatch.delenv(API_KEY_ENV, raising=False)
    assert _emit_run(State(tmp_path / "state"), examples, "healthplus") == (None, None)
    assert len(receiver.received) == 2 and "Authorization" not in receiver.received[0]["headers"]


def test_a_failing_endpoint_gives_a_value_free_warning_not_an_exception(
    examples: Runs, tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.status = 503
    monkeypatch.setenv(URL_ENV, receiver.url)
    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    state = State(tmp_path / "state")
    started = time.monotonic()
    start, complete = _emit_run(state, examples, "fraud")
    elapsed = time.monotonic() - started
    for warning in (start, complete):
        assert warning is not None and "not delivered to the lineage HTTP endpoint" in warning
        assert receiver.url not in warning and "127.0.0.1" not in warning and API_KEY not in warning
    assert "START" in (start or "") and "COMPLETE" in (complete or "")
    assert len(receiver.received) == 6  # each event tried three times (two retries), then given up
    assert elapsed < 10, f"a failing endpoint held the run for {elapsed:.1f} s"
    assert [e["eventType"] for e in _lines(state)] == ["START", "COMPLETE"]  # the local copy still has them


def test_an_unreachable_endpoint_gives_a_warning(
    examples: Runs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv(URL_ENV, f"http://127.0.0.1:{port}")
    start, _ = _emit_run(State(tmp_path / "state"), examples, "fraud")
    assert start is not None and "ConnectionError" in start and str(port) not in start


def test_an_event_that_cannot_be_built_gives_a_warning(examples: Runs, tmp_path: Path) -> None:
    state = State(tmp_path / "state")
    emitter = LineageEmitter(state, examples.loaded["fraud"].pipeline)
    broken = {**examples.reports["fraud"], "outputs": [{"name": "not_an_output_of_this_spec"}]}
    warning = emitter.complete("20261130T000000Z-abcdef", broken)
    assert warning is not None and "could not be built (KeyError)" in warning
    assert not events_path(state).exists()


def test_an_unwritable_event_file_gives_a_warning(examples: Runs, tmp_path: Path) -> None:
    state = State(tmp_path / "state")
    events_path(state).mkdir(parents=True)  # a directory where the file should be
    start, _ = _emit_run(state, examples, "fraud")
    assert start is not None and "not delivered to the local event file (IsADirectoryError)" in start
