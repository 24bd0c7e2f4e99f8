"""``translator check --probe``: short experiments on the user's own Voice Live resource, settling
what the docs leave open, each answer printed; the whole exchange saved as JSON Lines (audio and
secrets left out) to attach to a bug report, which the test service can replay.

Each experiment has a connection of its own, through the real SDK, and its own bound:

- ``expires_at``: when the service ends a session (is it announced?);
- ``phrase_list``: does this model take azure-speech's recognition bias list?
- after a refused ``session.update``, does the session still answer?
- on the engine's own configuration, a ``response.create`` sent right after ``committed``: is it
  held until the turn's item exists, or does it start without the turn (and answer the speaker)?
- the tokens one translation is billed with the configured glossary;
- ``input_audio_buffer.commit`` sent while the VAD hears speech (the engine ends long turns so):
  is it taken, and does the rest of the speech become a turn of its own?
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from azure.ai.voicelive.aio import connect

from translator.audio import FRAME_BYTES, FRAME_MS
from translator.config import Settings
from translator.engines.credentials import SharedCredential
from translator.engines.voicelive.configure import session_config
from translator.engines.voicelive.connection import version_options
from translator.engines.voicelive.models import capabilities
from translator.languages import Language, get_language

EXPERIMENT_TIMEOUT_S = 30.0
# Fields whose value is audio: recorded as their size only.
AUDIO_FIELDS = ("audio", "delta")
AUDIO_EVENTS = (
    "input_audio_buffer.append",
    "response.audio.delta",
    "session.input_audio_buffer.append",
    "session.output_audio.delta",
)


def scrubbed(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` without its audio (replaced by its size, and whether it was all silence): what a
    bug report may carry."""
    if event.get("type") not in AUDIO_EVENTS:
        return event
    return {k: (_size(base64.b64decode(v)) if k in AUDIO_FIELDS else v) for k, v in event.items()}


def _size(pcm: bytes) -> str:
    return f"<{len(pcm)} bytes of sound>" if any(pcm) else f"<{len(pcm)} bytes>"


@dataclass
class Recording:
    """Every event of every probe connection, in order, written as it happens."""

    file: IO[str]
    connection: int = 0
    started: float = field(default_factory=time.monotonic)

    def write(self, direction: str, event: dict[str, Any], **facts: object) -> None:
        """One event, with its connection, the seconds since the probe began, the wall clock (which
        the service's own times, ``expires_at``, are read against) and ``facts``."""
        line = {
            "connection": self.connection,
            "at": round(time.monotonic() - self.started, 3),
            "wall": round(time.time(), 3),
            **facts,
        }
        self.file.write(json.dumps(line | {"dir": direction, "event": scrubbed(event)}) + "\n")
        self.file.flush()


class _Probe:
    """One experiment's connection: every event sent and received goes to the recording."""

    def __init__(self, conn: Any, recording: Recording) -> None:
        self.conn = conn
        self.recording = recording

    async def send(self, event: dict[str, Any]) -> None:
        self.recording.write("sent", event)
        await self.conn.send(event)

    async def recv(self) -> dict[str, Any]:
        event = (await self.conn.recv()).as_dict()
        self.recording.write("received", event)
        return event

    async def until(self, *kinds: str) -> dict[str, Any]:
        """The next event of one of ``kinds`` (or an error)."""
        while (event := await self.recv())["type"] not in (*kinds, "error"):
            pass
        return event


async def probe(settings: Settings, pcm: bytes, out: Path, progress: Callable[[str], None] = print) -> None:
    """Run every experiment against the configured resource and model; print each answer."""
    source = get_language(settings.source)
    target = get_language(settings.targets[0])
    model = capabilities(settings.azure.model)
    kind = "cascaded" if model.cascaded else "native audio"
    pair = f"{source.code}→{target.code}"
    progress(f"probing {settings.azure.model} ({kind}, as this service's table has it), {pair} …")
    credential = _credential(settings)
    with out.open("w", encoding="utf-8") as file:
        recording = Recording(file)
        experiments = (
            ("expires_at", _expires_at),
            ("phrase_list", _phrase_list),
            ("after a refused update", _after_refusal),
            ("response.create right after committed", _early_create),
            ("input_audio_buffer.commit while the speaker talks", _commit_mid_speech),
        )
        for name, experiment in experiments:
            try:
                async with asyncio.timeout(EXPERIMENT_TIMEOUT_S), _open(settings, credential) as conn:
                    answer = await experiment(_Probe(conn, recording), settings, source, target, pcm)
            except TimeoutError:
                answer = f"no answer within {EXPERIMENT_TIMEOUT_S:.0f} s"
            except Exception as exc:  # every experiment answers, whatever the service did
                answer = f"could not run: {type(exc).__name__}: {exc}"
            progress(f"  {name}: {answer}")
            recording.connection += 1
    if hasattr(credential, "close"):
        await credential.close()
    progress(f"the whole exchange is in {out} (audio and secrets left out)")


def _credential(settings: Settings) -> Any:
    if settings.azure.api_key:
        from azure.core.credentials import AzureKeyCredential

        return AzureKeyCredential(settings.azure.api_key)
    from azure.identity.aio import DefaultAzureCredential

    return SharedCredential(DefaultAzureCredential())


def _open(settings: Settings, credential: Any) -> Any:
    config = settings.azure
    return connect(
        credential=credential,
        endpoint=config.endpoint or "",
        model=config.model,
        **version_options(config),
    )


async def _expires_at(conn: _Probe, *_: object) -> str:
    created = await conn.until("session.created")
    expires = (created.get("session") or {}).get("expires_at")
    if not expires:
        return "not announced (sessions are replaced at azure.max_session_minutes)"
    minutes = (float(expires) - time.time()) / 60
    return f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(float(expires)))} ({minutes:.0f} min from now)"


async def _phrase_list(conn: _Probe, settings: Settings, source: Language, *_: object) -> str:
    await conn.until("session.created")
    transcription = {"model": "azure-speech", "language": source.locale, "phrase_list": ["Contoso"]}
    await conn.send(
        {
            "type": "session.update",
            "session": {"input_audio_transcription": transcription},
            "event_id": "probe",
        }
    )
    answer = await conn.until("session.updated")
    if answer["type"] == "error":
        return f"refused ({answer['error'].get('message')})"
    return "accepted"


async def _after_refusal(conn: _Probe, *_: object) -> str:
    await conn.until("session.created")
    instructions = {"instructions": "Repeat what you hear."}
    await conn.send({"type": "session.update", "session": instructions, "event_id": "first"})
    if (first := await conn.until("session.updated"))["type"] == "error":
        return f"could not run: a plain update was refused ({first['error'].get('message')})"
    await conn.send({"type": "session.update", "session": {"temperature": 5.0}, "event_id": "refused"})
    if (await conn.until("session.updated"))["type"] != "error":
        return "could not run: an update with temperature 5.0 was accepted"
    await conn.send({"type": "session.update", "session": instructions, "event_id": "again"})
    again = await conn.until("session.updated")
    if again["type"] == "error":
        return f"the session refuses every later message ({again['error'].get('message')})"
    return "the session still answers"


async def _configure(conn: _Probe, settings: Settings, source: Language, target: Language) -> str:
    """The engine's own session configuration; the refusal's words, or "" once it is confirmed."""
    await conn.until("session.created")
    session = session_config([source], target, settings.azure, settings.glossary)
    await conn.send({"type": "session.update", "session": session.as_dict(), "event_id": "configure"})
    if (configured := await conn.until("session.updated"))["type"] == "error":
        return str(configured["error"].get("message"))
    return ""


async def _early_create(
    conn: _Probe, settings: Settings, source: Language, target: Language, pcm: bytes
) -> str:
    if refused := await _configure(conn, settings, source, target):
        return f"could not run: the configuration was refused ({refused})"
    async with _speaking(conn, pcm):
        committed = await conn.until("input_audio_buffer.committed")
        if committed["type"] == "error":
            return f"could not run: {committed['error'].get('message')}"
        item = committed["item_id"]
        await conn.send({"type": "response.create", "response": {"metadata": {"probe": "early"}}})
        order: list[str] = []
        usage: dict[str, Any] = {}
        # Until the response is done and the turn's item exists (the experiment's bound ends a wait
        # for an item that never comes).
        while not (usage or "done" in order) or "item" not in order:
            event = await conn.recv()
            if event["type"] == "conversation.item.created" and (event.get("item") or {}).get("id") == item:
                order.append("item")
            elif event["type"] == "response.created":
                order.append("response")
            elif event["type"] == "response.done":
                order.append("done")
                usage = (event.get("response") or {}).get("usage") or {}
    tokens = f"; the response was billed {usage['total_tokens']} tokens" if usage.get("total_tokens") else ""
    if order.index("item") < order.index("response"):
        return f"held until the turn's item existed{tokens}"
    return f"started before the turn's item existed: it did not see the turn{tokens}"


async def _commit_mid_speech(
    conn: _Probe, settings: Settings, source: Language, target: Language, pcm: bytes
) -> str:
    if refused := await _configure(conn, settings, source, target):
        return f"could not run: the configuration was refused ({refused})"
    async with _speaking(conn, pcm):
        started = await conn.until("input_audio_buffer.speech_started")
        if started["type"] == "error":
            return f"could not run: {started['error'].get('message')}"
        await asyncio.sleep(min(1.0, len(pcm) / FRAME_BYTES * FRAME_MS / 1000 / 3))
        await conn.send({"type": "input_audio_buffer.commit", "event_id": "probe-commit"})
        answer = await conn.until("input_audio_buffer.committed")
        if answer["type"] == "error":
            return f"refused: {answer['error'].get('message')}"
        same = answer.get("item_id") == started.get("item_id")
        rest = await conn.until("input_audio_buffer.speech_started", "input_audio_buffer.committed")
    item = "the turn the VAD was hearing" if same else "a new item"
    if rest["type"] == "input_audio_buffer.speech_started":
        after = "the rest of the speech became a turn of its own"
    elif rest["type"] == "error":
        after = f"then: {rest['error'].get('message')}"
    else:
        after = "the VAD committed the rest without a new speech_started"
    return f"taken: it committed {item}; {after}"


@contextlib.asynccontextmanager
async def _speaking(conn: _Probe, pcm: bytes) -> AsyncIterator[None]:
    """The utterance, then silence, sent in the background while the experiment reads."""
    sender = asyncio.create_task(_speak(conn, pcm), name="probe-speak")
    try:
        yield
    finally:
        sender.cancel()
        await asyncio.gather(sender, return_exceptions=True)


async def _speak(conn: _Probe, pcm: bytes) -> None:
    """The utterance at real-time pace in 100 ms appends, then silence, until cancelled."""
    chunk = FRAME_BYTES * 5
    padded = pcm + bytes(chunk * 20)
    for start in range(0, len(padded), chunk):
        audio = base64.b64encode(padded[start : start + chunk].ljust(chunk, b"\0")).decode()
        await conn.send({"type": "input_audio_buffer.append", "audio": audio})
        await asyncio.sleep(FRAME_MS * 5 / 1000)
    while True:
        await conn.send(
            {"type": "input_audio_buffer.append", "audio": base64.b64encode(bytes(chunk)).decode()}
        )
        await asyncio.sleep(FRAME_MS * 5 / 1000)
