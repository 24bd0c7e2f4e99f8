"""Each language's voice for the offline engine, from a table like the engine table: the best voice
installed, espeak-ng where nothing better is. ``translator check`` speaks with espeak-ng's names.

The better voices are Debian's festival voices (``system-packages.txt``), measured by reading their
speech back with a multilingual Whisper (word errors, lower is better): Catalan HTS 48.8 % → 11.2 %,
Italian diphone 37.6 % → 16.5 %. French, Portuguese and German have nothing better packaged.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Literal, NamedTuple

ESPEAK_VOICES: dict[str, str] = {
    "en": "en-us",
    "es": "es",
    "fr": "fr-fr",
    "de": "de",
    "it": "it",
    "pt": "pt",
    "ca": "ca",
    "gl": "gl",
    "eo": "eo",
    "nl": "nl",
    "pl": "pl",
    "uk": "uk",
    "ru": "ru",
    "ar": "ar",
    "hi": "hi",
    "ja": "ja",
    "ko": "ko",
    "zh": "cmn",
}
FESTIVAL_VOICES = Path("/usr/share/festival/voices")


class Voice(NamedTuple):
    """A voice one language may speak with."""

    kind: Literal["festival", "espeak-ng"]
    name: str
    """Festival's voice (``upc_ca_ona_hts``: selected by ``(voice_upc_ca_ona_hts)``), or espeak-ng's."""
    package: str
    """The Debian package that carries it."""
    encoding: str = "utf-8"
    """What text it reads: festival's voices read ISO-8859-1."""

    @property
    def description(self) -> str:
        return f"{self.kind} {self.name}"

    def installed(self) -> bool:
        """Whether its program and its voice are on this machine."""
        if self.kind == "festival":
            return shutil.which("festival") is not None and any(FESTIVAL_VOICES.glob(f"*/{self.name}"))
        return shutil.which("espeak-ng") is not None


BETTER: dict[str, list[Voice]] = {
    "ca": [Voice("festival", "upc_ca_ona_hts", "festvox-ca-ona-hts", "latin-1")],
    "it": [Voice("festival", "lp_diphone", "festvox-italp16k", "latin-1")],
}
"""Better than espeak-ng, best first, per language."""


@functools.cache
def voice_for(code: str) -> Voice | None:
    """The best voice installed for ``code``: a better one of `BETTER`, else espeak-ng's (None: no
    voice knows the language). Looked up once a process: the status names it every second, and the
    packages installed do not change under a running service."""
    for voice in BETTER.get(code, []):
        if voice.installed():
            return voice
    name = ESPEAK_VOICES.get(code)
    return Voice("espeak-ng", name, "espeak-ng") if name is not None else None
