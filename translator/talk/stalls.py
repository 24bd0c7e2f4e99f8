"""A stall: speech went into a language's interpreter and nothing came out of it.

Whatever the cause (a model hung in native code, a service gone silent with its socket open, a
stage that waits for ever, a thread pool wedged), a listener hears the same thing: nothing. So the
talk watches each language from outside its engine, by two rules:

- owed: an utterance whose speech ended `OWED_S` ago still has no final caption: a few times the
  usual lag (a caption that late makes the room not ready anyway: `pipeline.MAX_LAG_S`);
- unheard: the floor has carried `HEARD_S` of sound since the language last reported anything, and
  the first of it went in `UNHEARD_S` ago: longer than the longest turn an engine keeps open.

Pure bookkeeping on the caller's clock (monotonic seconds): fed by the pipeline, asked once a second.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OWED_S = 10.0
UNHEARD_S = 20.0
HEARD_S = 3.0


@dataclass
class _Watched:
    said_at: float
    """When the language last reported anything about the talk (speech, text, audio)."""
    owed: dict[str, float] = field(default_factory=dict)
    """Utterances whose speech ended and whose final has not come: when each ended."""
    sound_s: float = 0.0
    """Sound the floor carried since ``said_at``."""
    sound_from: float | None = None
    """When the first of that sound went in."""
    stalled: bool = False


@dataclass
class StallWatch:
    """Every language's stall, told once when it begins (`check`) and cleared by its next output."""

    owed_s: float = OWED_S
    unheard_s: float = UNHEARD_S
    heard_s: float = HEARD_S
    _languages: dict[str, _Watched] = field(default_factory=dict)

    def watch(self, code: str, now: float) -> None:
        """Watch ``code`` from ``now`` on, as if it had just reported (a language added or restarted)."""
        self._languages[code] = _Watched(now)

    def forget(self, code: str) -> None:
        self._languages.pop(code, None)

    def sound(self, now: float, seconds: float) -> None:
        """The floor carried ``seconds`` of sound, just sent to the engine."""
        for language in self._languages.values():
            if language.sound_from is None:
                language.sound_from = now
            language.sound_s += seconds

    def said(self, code: str, now: float) -> None:
        """``code`` reported something about the talk."""
        if (language := self._languages.get(code)) is None:
            return
        language.said_at, language.sound_s, language.sound_from = now, 0.0, None

    def stopped(self, code: str, utterance: str, now: float) -> None:
        """The speech of ``code``'s ``utterance`` ended: its final is owed."""
        if (language := self._languages.get(code)) is not None:
            language.owed.setdefault(utterance, now)
            self.said(code, now)

    def finished(self, code: str, utterance: str, now: float) -> None:
        """``code``'s ``utterance`` has its final (or is done without one): nothing is owed for it
        nor for any that ended before it (the interpreter has moved past them), and the language
        is not stalled."""
        if (language := self._languages.get(code)) is None:
            return
        ended = language.owed.pop(utterance, None)
        if ended is not None:
            language.owed = {key: at for key, at in language.owed.items() if at > ended}
        language.stalled = False
        self.said(code, now)

    def stalled(self, code: str) -> bool:
        """Whether ``code`` is stalled now (from `check` until its next final)."""
        language = self._languages.get(code)
        return language is not None and language.stalled

    def check(self, now: float) -> list[tuple[str, str]]:
        """The languages that have just stalled, each with why in words."""
        found = []
        for code, language in self._languages.items():
            if language.stalled:
                continue
            why = ""
            if language.owed and now - min(language.owed.values()) >= self.owed_s:
                why = f"no caption {now - min(language.owed.values()):.0f} s after the speech ended"
            elif (
                language.sound_from is not None
                and language.sound_s >= self.heard_s
                and now - language.sound_from >= self.unheard_s
            ):
                why = f"nothing from the interpreter for {now - language.sound_from:.0f} s of speech"
            if why:
                language.stalled = True
                found.append((code, why))
        return found
