"""Deliver a run's OpenLineage events: always to the local JSON-lines file, and to HTTP when asked.

The local copy is `<state root>/lineage/events.jsonl` (one event per line, appended with a single
write and fsynced, owner-only), which `vaultline lineage` reads. With `VAULTLINE_LINEAGE_URL` set,
every event is also POSTed to `<url>/api/v1/lineage` (Marquez and any OpenLineage HTTP receiver)
through the client's HttpTransport, with `VAULTLINE_LINEAGE_API_KEY` as a bearer token when set.

Lineage never fails a data run: every failure to build or deliver an event is logged and returned as
a value-free warning (what failed and the exception's type; never the URL, the key or a message that
could hold either).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient
    from openlineage.client.event_v2 import RunEvent

    from vaultline.spec.models import Pipeline
    from vaultline.state import State

URL_ENV = "VAULTLINE_LINEAGE_URL"
API_KEY_ENV = "VAULTLINE_LINEAGE_API_KEY"
HTTP_TIMEOUT_SECONDS = 5.0
# Few, short retries: a lineage endpoint that is down must not hold a finished run for long.
HTTP_RETRY = {
    "total": 2,
    "connect": 2,
    "read": 2,
    "backoff_factor": 0.2,
    "status_forcelist": [500, 502, 503, 504],
    "allowed_methods": ["POST"],
}
# under the run logger, so a warning also lands in the run's run.log
log = logging.getLogger("vaultline.run.lineage")


def events_path(state: State) -> Path:
    """The local copy of every lineage event of this state directory."""
    return state.root / "lineage" / "events.jsonl"


def _jsonl_transport(path: Path) -> Any:
    from openlineage.client.serde import Serde
    from openlineage.client.transport import Transport

    class JsonLinesTransport(Transport):
        """Append each event as one line with a single write, so concurrent runs never interleave."""

        kind = "vaultline-jsonl"

        def emit(self, event: Any) -> None:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            data = memoryview((Serde.to_json(event) + "\n").encode("utf-8"))
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                while data:
                    data = data[os.write(fd, data) :]
                os.fsync(fd)
            finally:
                os.close(fd)

    return JsonLinesTransport()


def _http_transport(url: str, api_key: str | None) -> Any:
    from openlineage.client.transport.http import (
        ApiKeyTokenProvider,
        HttpConfig,
        HttpTransport,
        TokenProvider,
    )

    auth = ApiKeyTokenProvider({"apiKey": api_key}) if api_key else TokenProvider({})
    config = HttpConfig(url=url, timeout=HTTP_TIMEOUT_SECONDS, auth=auth, retry=dict(HTTP_RETRY))
    return HttpTransport(config)


class LineageEmitter:
    """A run's OpenLineage events. Each method returns a value-free warning when the event could not be
    built or delivered, None when every destination received it; none of them raises."""

    def __init__(self, state: State, pipeline: Pipeline) -> None:
        self.state = state
        self.pipeline = pipeline
        self._clients: list[tuple[str, OpenLineageClient]] | None = None

    def start(self, run_id: str, report: dict[str, Any]) -> str | None:
        """Emit START: the job and its inputs, before any row is read."""
        from vaultline.lineage.events import start_event

        return self._emit("START", lambda: start_event(self.pipeline, run_id, report))

    def complete(self, run_id: str, report: dict[str, Any]) -> str | None:
        """Emit COMPLETE: outputs with schema, column lineage and committed catalog versions."""
        from vaultline.lineage.events import complete_event

        return self._emit("COMPLETE", lambda: complete_event(self.pipeline, run_id, report))

    def fail(self, run_id: str, report: dict[str, Any]) -> str | None:
        """Emit FAIL with the run's value-free error."""
        from vaultline.lineage.events import fail_event

        return self._emit("FAIL", lambda: fail_event(self.pipeline, run_id, report))

    def _destinations(self) -> list[tuple[str, OpenLineageClient]]:
        if self._clients is None:
            from openlineage.client import OpenLineageClient

            clients = [
                (
                    "the local event file",
                    OpenLineageClient(transport=_jsonl_transport(events_path(self.state))),
                )
            ]
            url = os.environ.get(URL_ENV, "").strip()
            if url:
                transport = _http_transport(url, os.environ.get(API_KEY_ENV) or None)
                clients.append(("the lineage HTTP endpoint", OpenLineageClient(transport=transport)))
            self._clients = clients
        return self._clients

    def _emit(self, kind: str, build: Callable[[], RunEvent]) -> str | None:
        problems: list[str] = []
        try:
            event = build()
            destinations = self._destinations()
        except Exception as exc:  # a lineage defect must not fail the data run
            problems.append(f"the {kind} event could not be built ({type(exc).__name__})")
        else:
            for where, client in destinations:
                try:
                    client.emit(event)
                except Exception as exc:  # delivery is best effort; the run's outcome stands
                    problems.append(f"the {kind} event was not delivered to {where} ({type(exc).__name__})")
        if not problems:
            return None
        warning = f"lineage: {'; '.join(problems)}; the data run is not affected"
        log.warning("%s", warning)
        return warning
