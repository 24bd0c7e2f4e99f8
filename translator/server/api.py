"""REST endpoints: languages, status, health."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from litestar import Response, get
from litestar.datastructures import State

from translator.audio import FRAME_MS
from translator.pipeline import Pipeline
from translator.server.operator import require_operator
from translator.server.services import Services


@get("/api/languages", sync_to_thread=False)
def languages(state: State) -> dict[str, Any]:
    """The source language and the targets, with their state and listener counts."""
    return state.services.languages()


@get("/api/status", sync_to_thread=False, guards=[require_operator])
def status(state: State) -> dict[str, Any]:
    """What an operator wants to see: engine, input, languages, uptime."""
    services: Services = state.services
    pipeline = services.pipeline
    return {
        "engine": pipeline.engine.name,
        "uptime_s": round(time.time() - services.started_at, 1),
        # Tasks in the server's event loop: flat over a talk, or something leaks.
        "tasks": len(asyncio.all_tasks()),
        "input": {
            "description": pipeline.input.description,
            "state": pipeline.input.health,
            "detail": pipeline.input.detail,
            "restarts": pipeline.input.restarts,
            "muted": pipeline.input.muted,
            "paused": pipeline.input.paused,
            "level_dbfs": round(pipeline.input.level_dbfs, 1),
            "silent_s": round(pipeline.input.silent_s, 1),
            "silent": pipeline.input.silent,
            "talk_started_at": pipeline.input.talk_started_at,
            "seconds": pipeline.input.frames * FRAME_MS / 1000,
        },
        "languages": services.languages(operator=True)["targets"],
        "transcript": pipeline.transcript_status(),
        "addable": [
            {"code": lang.code, "name": lang.name, "native": lang.native}
            for lang in pipeline.engine.servable()
            if lang.code not in pipeline.states
        ],
        "urls": services.urls(),
    }


@get("/healthz", sync_to_thread=False)
def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@get("/readyz", sync_to_thread=False)
def readyz(state: State) -> Response[dict[str, Any]]:
    """200 when every language's engine session is up and the input is live, 503 otherwise."""
    pipeline = state.services.pipeline
    body: dict[str, Any] = {
        "ready": pipeline.ready,
        "input": pipeline.input.health,
        "languages": pipeline.states,
        "lag_s": pipeline.lags,
    }
    if isinstance(pipeline, Pipeline):
        # A failing transcript is retried and does not stop the talk: shown, not counted against it.
        body["transcript"] = pipeline.transcript_status().state
    return Response(body, status_code=200 if pipeline.ready else 503)
