"""What the request handlers share: the settings, the hub and the pipeline."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from litestar.datastructures import Headers

from translator.audio import SAMPLE_RATE
from translator.config import Settings
from translator.hub import Hub
from translator.hub.broker import RedisBroker
from translator.languages import Language, get_language
from translator.messages import AUDIO_HEADER, PROTOCOL_VERSION, Codec, Hello
from translator.pipeline import Pipeline
from translator.remote_talk import RemoteTalk
from translator.server.operator import WrongGuesses, matches, presented
from translator.server.urls import public_url


@dataclass
class Services:
    """Held in ``app.state.services``; handlers read, never replace, its parts."""

    settings: Settings
    hub: Hub
    pipeline: Pipeline | RemoteTalk
    """The talk: its pipeline, or in a listener-only process what the broker tells of it."""
    operator_token: str
    """Guards the operator surfaces; see `operator.py`."""
    broker: RedisBroker | None = None
    """The broker link when processes share the talk."""
    started_at: float = field(default_factory=time.time)
    wrong_guesses: WrongGuesses = field(default_factory=WrongGuesses)
    """Wrong operator tokens per client address (`operator.require_operator`)."""
    pcm_listeners: Counter[str] = field(default_factory=Counter)
    """Listeners of uncompressed audio per client address (`listen.py`)."""

    def carries_operator_token(self, scope: dict[str, Any]) -> bool:
        """Whether an ASGI request carries the operator token (it may use the operator's reserve)."""
        return matches(presented(Headers.from_scope(scope)), self.operator_token)  # type: ignore[arg-type]

    @property
    def audience_url(self) -> str:
        """The audience page's URL, as printed at start-up and put in the join page's QR code."""
        return public_url(self.settings)

    def urls(self) -> dict[str, object]:
        """What the operator hands out: the audience, join and overlay URLs, and whether phones can
        reach them (a loopback address cannot be reached from a phone)."""
        audience = self.audience_url
        host = urlsplit(audience).hostname or ""
        return {
            "audience": audience,
            "join": f"{audience}join",
            "overlays": {t.code: f"{audience}overlay?lang={t.code}" for t in self.pipeline.engine.targets},
            "reachable_by_phones": not (host == "localhost" or host.startswith("127.") or host == "::1"),
        }

    def listeners(self, lang: str) -> int:
        """Listeners of ``lang``: in every process when processes share the talk (a second old)."""
        if self.broker is not None and self.broker.totals:
            return self.broker.totals.get(lang, 0)
        return self.hub.listener_count(lang)

    def hello(self, lang: str, audio: bool, codec: Codec) -> Hello:
        """The first message of a listener of ``lang`` on any transport: its state and recent captions."""
        status = self.pipeline.status(lang)
        return Hello(
            protocol=PROTOCOL_VERSION,
            lang=lang,
            name=get_language(lang).native,
            state=status.state,
            detail=status.detail,
            audio=audio,
            codec=codec,
            sample_rate=SAMPLE_RATE,
            channels=1,
            audio_header_bytes=AUDIO_HEADER.size,
            talk_started_at=self.pipeline.input.talk_started_at,
            captions=list(self.hub.channels[lang].history),
        )

    def languages(self, operator: bool = False) -> dict[str, object]:
        """The body of ``GET /api/languages``; ``operator`` adds why a language is not ready and its
        rolling lags."""
        source = self.pipeline.engine.source
        return {
            "protocol": PROTOCOL_VERSION,
            "event_name": self.settings.server.event_name,
            "source": {"code": source.code, "name": source.name, "native": source.native},
            "targets": [self._language(lang, operator) for lang in self.pipeline.engine.targets],
        }

    def _language(self, lang: Language, operator: bool) -> dict[str, object]:
        pipeline = self.pipeline
        about: dict[str, object] = {
            "code": lang.code,
            "name": lang.name,
            "native": lang.native,
            "state": pipeline.states.get(lang.code, "connecting"),
            "lag_s": pipeline.lags.get(lang.code),
            "listeners": self.listeners(lang.code),
        }
        if operator:
            about["detail"] = pipeline.details.get(lang.code, "")
            about["lags"] = pipeline.recent[lang.code].summary() if lang.code in pipeline.recent else None
            tokens = getattr(pipeline, "tokens", {}).get(lang.code)
            about["tokens_per_minute"] = tokens.rate() if tokens is not None else None
        return about
