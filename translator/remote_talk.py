"""A talk whose pipeline runs in another process or on another machine, as a listener-only process
sees it: the state the pipeline process writes to the broker every second (see ``broker.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from translator.hub import Hub
from translator.lags import LanguageLags
from translator.languages import Language, get_language
from translator.messages import Status
from translator.pipeline import listener_status


@dataclass
class Lineup:
    """The talk's languages (what ``Pipeline.engine`` offers the server)."""

    source: Language
    targets: list[Language] = field(default_factory=list)


@dataclass
class RemoteInput:
    """The input as the pipeline process last reported it."""

    talk_started_at: int | None = None
    health: str = "connecting"
    """``connecting`` until the pipeline process has been heard from."""
    paused: bool = False


class RemoteTalk:
    """The parts of a `Pipeline` that listener endpoints read, kept from the broker's state."""

    def __init__(self, hub: Hub, source: Language) -> None:
        self.hub = hub
        self.engine = Lineup(source)
        self.input = RemoteInput()
        self.states: dict[str, str] = {}
        self.details: dict[str, str] = {}
        self.lags: dict[str, float] = {}
        self.recent: dict[str, LanguageLags] = {}

    @property
    def ready(self) -> bool:
        """The pipeline process reports a live input and every language ready."""
        return (
            self.input.health in ("running", "ended")
            and bool(self.states)
            and all(state == "ready" for state in self.states.values())
        )

    def status(self, lang: str) -> Status:
        return listener_status(lang, self.input.paused, self.states, self.details)

    def update(self, state: dict[str, Any]) -> None:
        """Take the pipeline process's latest state; languages it stopped offering close their listeners."""
        targets = [get_language(code) for code in state["targets"]]
        for target in targets:
            self.hub.add_channel(target.code)
        for code in [code for code in self.hub.channels if code not in state["targets"]]:
            self.hub.remove_channel(code)
        self.engine.targets = targets
        self.states, self.details, self.lags = state["states"], state["details"], state["lags"]
        self.input = RemoteInput(state["talk_started_at"], state["input"], state["paused"])
