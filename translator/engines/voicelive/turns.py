"""Which turns each Voice Live response translates: bookkeeping by the service's own ids, no I/O.

The service allows one response per conversation at a time, and a response answers every speaker
turn in the conversation that has no answer yet. So the engine keeps one response in flight; turns
committed meanwhile wait, and the next response translates all of them together: one *group*, one
caption, one stretch of audio, attributed through the response's ``metadata`` (never by the order
in which responses arrive). A group's items leave the conversation once its response and the
transcription of every one of its turns have finished, so that no turn is ever answered twice.

A turn may be put to the model only once the service says its item is in the conversation
(``conversation.item.created``): on native audio models that follows the commit at once, on
cascaded ones (Azure STT → LLM → TTS) only after recognition, some 200 ms later. A response asked
for in between would not see the turn: it would answer the speaker, or translate another sentence.

When several languages are spoken on the floor and this connection's target is one of them, a turn
spoken in the target is never put to the model: it waits for its transcription's language, then
leaves the conversation and is passed through (the talk carries the speaker's own voice). Nothing
depends on the model keeping quiet about speech already in its language.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

# A failed or cancelled response that produced nothing is asked for again, once; one refused for
# the quota, after a back-off, up to this many times in all.
MAX_ATTEMPTS = 2
MAX_RATE_LIMITED_ATTEMPTS = 6
# Groups kept waiting for a transcription that never comes are let go after this many newer ones.
MAX_UNTRANSCRIBED = 8
# Items announced before their commit (kept so that the commit finds them), at most this many.
EARLY_ITEMS = 64
# A turn whose language never comes (its transcription lost) holds the queue up until this many
# turns wait behind it; it is then taken to be in the floor's default language.
MAX_AWAITING_LANGUAGE = 3


@dataclass(frozen=True)
class FloorLanguages:
    """The floor's languages as one connection sees them."""

    spoken: tuple[str, ...]
    """Codes of the languages that may be spoken, the default first."""
    own: str
    """The connection's target language."""
    reported: bool
    """The transcription says which language each turn was in (azure-speech)."""

    @property
    def gates(self) -> bool:
        """Turns in the connection's own language are possible: each waits to be told apart."""
        return self.own in self.spoken and len(self.spoken) > 1

    def of(self, locale: str | None) -> str:
        """The spoken language a transcription's locale names; the default when it names none of
        them, or when the transcription reports none."""
        code = (locale or "").split("-")[0].lower()
        return code if self.reported and code in self.spoken else self.spoken[0]


ONE_LANGUAGE = FloorLanguages(("",), "", reported=False)
"""A floor of one language that is not the target: nothing is ever passed through."""


@dataclass
class Turn:
    """One speaker turn: an input audio item committed by the service's VAD."""

    item_id: str
    start_ms: int | None = None
    end_ms: int | None = None
    transcript: str = ""
    language: str = ""
    """The spoken language's code, once its transcription says (or the floor's default)."""
    transcribed: bool = False
    """The transcription completed or failed: it will not change."""
    waited: bool = False
    """Its language was waited for long enough (`MAX_AWAITING_LANGUAGE`)."""
    created: bool = False
    """The service put its item in the conversation: a response can see it."""
    discard: bool = False
    """Left to another connection: deleted as soon as its item exists."""
    group: Group | None = None


@dataclass
class Group:
    """Consecutive turns translated by one response. ``id`` (its first turn's item) names the utterance."""

    turns: list[Turn]
    response_id: str | None = None
    output_ids: list[str] = field(default_factory=list)
    text: str = ""
    audio_bytes: int = 0
    done: bool = False
    attempts: int = 1

    @property
    def id(self) -> str:
        return self.turns[0].item_id

    @property
    def source_text(self) -> str:
        return " ".join(t.transcript for t in self.turns if t.transcript)

    @property
    def transcribed(self) -> bool:
        return all(t.transcribed for t in self.turns)

    @property
    def start_ms(self) -> int | None:
        return self.turns[0].start_ms

    @property
    def end_ms(self) -> int | None:
        return self.turns[-1].end_ms


@dataclass
class TurnBook:
    """The turns of one connection and the responses that translate them."""

    turns: dict[str, Turn] = field(default_factory=dict)
    waiting: deque[Turn] = field(default_factory=deque)
    """Committed turns that no response covers yet, oldest first."""
    asked: Group | None = None
    """The group whose ``response.create`` was sent and whose response has not started."""
    active: Group | None = None
    """The group whose response is running."""
    finished: deque[Group] = field(default_factory=deque)
    """Groups whose response ended, kept until their transcriptions end too."""
    by_response: dict[str, Group] = field(default_factory=dict)
    early: deque[str] = field(default_factory=lambda: deque(maxlen=EARLY_ITEMS))
    """Items created before anything else was heard of them (their commit follows)."""
    floor: FloorLanguages = ONE_LANGUAGE
    _stale: list[str] = field(default_factory=list)
    _passed: list[Turn] = field(default_factory=list)

    def turn(self, item_id: str) -> Turn:
        """The turn of ``item_id``, created on first mention."""
        turn = self.turns.get(item_id)
        if turn is None:
            turn = self.turns[item_id] = Turn(item_id)
        return turn

    def commit(self, item_id: str) -> Turn:
        """The VAD committed the turn: it waits for its item, then for a response."""
        turn = self.turn(item_id)
        if item_id in self.early:
            self.early.remove(item_id)
            turn.created = True
        if turn.group is None and turn not in self.waiting:
            self.waiting.append(turn)
        return turn

    def created(self, item_id: str, transcript: str | None) -> Turn | None:
        """The item is in the conversation (a cascaded model's carries its transcript); None when it
        is no turn of ours (yet)."""
        turn = self.turns.get(item_id)
        if turn is None:
            self.early.append(item_id)
            return None
        turn.created = True
        if transcript and not turn.transcript:
            turn.transcript = transcript.strip()
        return turn

    @property
    def busy(self) -> bool:
        """A response was asked for or is running."""
        return self.asked is not None or self.active is not None

    def next_group(self) -> Group | None:
        """The group to ask a response for now, or None (one in flight already, or nothing to say).

        Every waiting turn whose item exists goes into it: the model would translate them all anyway.
        """
        self._give_up_waiting()
        if self.busy or self._undecided_in_conversation():
            return None
        turns = self._take_ready()
        if not turns:
            return None
        group = Group(turns)
        for turn in turns:
            turn.group = group
        self.asked = group
        return group

    def _decided(self, turn: Turn) -> bool:
        """The turn's item exists and, where it could be the connection's own language, its
        language is known (or no longer waited for)."""
        return turn.created and (
            not (self.floor.gates and self.floor.reported) or turn.transcribed or turn.waited
        )

    def _give_up_waiting(self) -> None:
        """Turns whose language is overdue are taken to be in the default language."""
        for turn in list(self.waiting)[: max(0, len(self.waiting) - MAX_AWAITING_LANGUAGE)]:
            turn.waited = True

    def _own(self, turn: Turn) -> bool:
        """Spoken in the connection's own language: passed through, never put to the model."""
        language = turn.language or self.floor.of(None)
        return self.floor.gates and language == self.floor.own

    def _undecided_in_conversation(self) -> bool:
        """A turn that may be in the connection's own language is in the conversation: a response
        now would see it (the service answers every turn there), so the next waits for its language."""
        return any(t.created and not self._decided(t) for t in self.waiting)

    def passed(self) -> list[Turn]:
        """Turns spoken in the connection's own language, for the caller to pass through: taken from
        the head of the queue whether or not a response runs (they never need one); their items go
        to `stale`."""
        self._pass_own()
        passed, self._passed = self._passed, []
        return passed

    def _pass_own(self) -> None:
        # Only from the head of the queue: a sentence is never announced before the one spoken
        # ahead of it, so captions stay in the order they were spoken.
        while self.waiting and self._decided(self.waiting[0]) and self._own(self.waiting[0]):
            turn = self.waiting.popleft()
            self.turns.pop(turn.item_id, None)
            self._stale.append(turn.item_id)
            self._passed.append(turn)

    def _take_ready(self) -> list[Turn]:
        """The waiting turns a response would see now, in order, taken from the queue.

        A turn whose item is still missing while a later one exists never gets one; a turn
        transcribed as nothing (a cough the VAD took for speech) is never put to the model: both
        are dropped, and the items of those that exist go to `stale`. Turns in the connection's own
        language are set aside for `passed`.
        """
        self._pass_own()
        last_created = max((i for i, t in enumerate(self.waiting) if self._decided(t)), default=-1)
        own = (i for i, t in enumerate(self.waiting) if self._decided(t) and self._own(t))
        # A group ends before a sentence in the connection's own language (passed through after it).
        last_created = min(last_created, next(own, len(self.waiting)) - 1)
        ready = [self.waiting.popleft() for _ in range(last_created + 1)]
        turns = [t for t in ready if t.created and not (t.transcribed and not t.transcript)]
        for turn in ready:
            if turn not in turns:
                self.turns.pop(turn.item_id, None)
                if turn.created:
                    self._stale.append(turn.item_id)
        return turns

    def stale(self) -> list[str]:
        """Items of dropped turns, for the caller to delete from the conversation."""
        items, self._stale = self._stale, []
        return items

    def retry(self, group: Group, attempts: int = MAX_ATTEMPTS) -> list[str] | None:
        """Ask again for a group whose response failed before producing anything (None once
        ``attempts`` are used up).

        Returns the failed response's output items, to delete first: they must not read as an answer.
        """
        if group.attempts >= attempts or group.text or group.audio_bytes or self.busy:
            return None
        group.attempts += 1
        group.done = False
        if group in self.finished:
            self.finished.remove(group)
        stale, group.output_ids = group.output_ids, []
        self.asked = group
        return stale

    def refused(self) -> Group | None:
        """The service refused the last ``response.create``: ask again when the running one ends."""
        group, self.asked = self.asked, None
        if group is not None:
            for turn in reversed(group.turns):
                turn.group = None
                self.waiting.appendleft(turn)
        return group

    def started(self, response_id: str, group_id: str | None) -> tuple[Group | None, bool]:
        """A response started: its group, and whether the group grew since it was asked for.

        Ours carry their group's id; one without it (a service that answered a committed turn on
        its own) takes over the group asked for, or the waiting turns. The service answers every
        turn in the conversation when the response starts, and reports events in the order it
        handles them: turns whose item was created before ``response.created`` are in this response.
        """
        group: Group | None = None
        if self.asked is not None and group_id in (None, self.asked.id):
            group, self.asked = self.asked, None
        elif group_id is None and not self.busy and (group := self.next_group()) is not None:
            self.asked = None
        if group is None:
            return None, False
        joined = self._take_ready()
        for turn in joined:
            turn.group = group
            group.turns.append(turn)
        grew = bool(joined)
        group.response_id = response_id
        self.active = group
        self.by_response[response_id] = group
        return group, grew

    def response(self, response_id: str | None) -> Group | None:
        """The group a response translates."""
        return self.by_response.get(response_id or "")

    def ended(self, response_id: str, output_ids: list[str]) -> Group | None:
        """A response ended; the group stays until its transcriptions end."""
        group = self.by_response.pop(response_id, None)
        if group is None:
            return None
        group.done = True
        group.output_ids += output_ids
        if self.active is group:
            self.active = None
        self.finished.append(group)
        return group

    def transcribed(self, item_id: str, transcript: str, locale: str | None = None) -> Turn:
        """The turn's transcription ended (``transcript`` is empty when it failed), in ``locale``."""
        turn = self.turn(item_id)
        turn.transcript, turn.transcribed = transcript.strip(), True
        turn.language = self.floor.of(locale)
        return turn

    def deletable(self) -> list[str]:
        """Items whose group is finished on both counts: the caller deletes them from the conversation."""
        items: list[str] = []
        while self.finished and (self.finished[0].transcribed or len(self.finished) > MAX_UNTRANSCRIBED):
            group = self.finished.popleft()
            for turn in group.turns:
                self.turns.pop(turn.item_id, None)
                items.append(turn.item_id)
            items += group.output_ids
        return items

    def forget(self, item_id: str) -> None:
        """Drop a turn the engine leaves to another connection."""
        turn = self.turns.pop(item_id, None)
        if turn is not None and turn in self.waiting:
            self.waiting.remove(turn)

    @property
    def settled(self) -> bool:
        """Nothing waits, nothing runs: the connection can close without losing a turn."""
        return not (self.waiting or self.busy)

    def open_groups(self) -> list[Group]:
        """Groups asked for or running, whose responses a dropped connection will never finish."""
        return [g for g in (self.active, self.asked) if g is not None and not g.done]
