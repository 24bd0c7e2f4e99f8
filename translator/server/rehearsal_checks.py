"""The rehearsal's checklist: each line a verdict (pass, warn, fail), what was found, and the fix.

Each check reads facts the rehearsal gathered (`rehearsal.py`): the recording's levels, what each
language did while it played, what each output wrote, the disk, the address phones are given, the
operator token and the engines' billing. They are pure, so each threshold is tested on its own.
"""

from __future__ import annotations

import math
from typing import Literal

import msgspec
import numpy as np

from translator.audio.format import FRAME_SAMPLES, SAMPLE_RATE
from translator.audio.levels import LOUD_DBFS, SILENCE_DBFS
from translator.talk.lags import LagFigures
from translator.talk.state import FidelityCounts, OutputStatus

Verdict = Literal["pass", "warn", "fail"]

CLIPPED_SHARE_FAIL = 1e-4
"""Samples at full scale (in runs of three or more: a waveform cut flat) above this share: the
desk's gain is too high, and what the engines hear is distorted."""
QUIET_DBFS = -36.0
"""Speech quieter than this (median of the frames with sound) is hard for speech detection."""
TOO_QUIET_DBFS = -46.0
"""Speech this quiet is close to a hall's noise (`LOUD_DBFS`)."""
HOT_DBFS = -6.0
"""Speech louder than this leaves no headroom for a louder moment."""
LAG_WARN_S = 6.0
"""A final caption later than this after the speech ended (p95) is late for a reader."""
DISK_WARN_SHARE = 0.5
"""Outputs that would take more than this share of the free space get a warning."""
QUOTA_WARN_SHARE = 0.8


class CheckLine(msgspec.Struct, frozen=True):
    """One line of the checklist."""

    check: str
    """What was checked (``input level``, ``language es``, ``disk``…)."""
    verdict: Verdict
    found: str
    """What the rehearsal found, in words."""
    fix: str = ""
    """What to do about it (empty for a pass)."""


class Checklist(msgspec.Struct, frozen=True):
    """A rehearsal's result: kept beside its talk's transcript as ``{talk}.rehearsal.json``."""

    room: str
    recording: str
    started_at: int
    """Unix ms."""
    played_s: float
    hours: float
    """The expected duration of the talk the disk and quota were checked for."""
    lines: list[CheckLine]
    talk: str | None = None
    """The rehearsal's own talk (its transcript, recordings and report), when transcripts are kept."""

    @property
    def failed(self) -> bool:
        """Whether a line failed (``translator rehearse`` then exits 1)."""
        return any(line.verdict == "fail" for line in self.lines)


class InputLevels(msgspec.Struct, frozen=True):
    """How the recording sounds to the service."""

    speech_dbfs: float
    """The median level of the frames with sound (`LOUD_DBFS` and up)."""
    peak_dbfs: float
    clipped_share: float
    """Of all samples, those in a run of three or more at full scale."""
    speech_s: float


def input_levels(pcm: bytes) -> InputLevels:
    """The levels of 24 kHz mono PCM16 audio, frame by frame (20 ms)."""
    samples = np.frombuffer(pcm, dtype="<i2")
    usable = len(samples) - len(samples) % FRAME_SAMPLES
    frames = samples[:usable].astype(np.float32).reshape(-1, FRAME_SAMPLES)
    rms = np.sqrt(np.mean(frames * frames, axis=1)) if len(frames) else np.zeros(0)
    with np.errstate(divide="ignore"):
        levels = np.maximum(SILENCE_DBFS, 20 * np.log10(rms / 32768))
    loud = levels[levels > LOUD_DBFS]
    peak = int(np.max(np.abs(samples.astype(np.int32)))) if len(samples) else 0
    # A sample at full scale next to two more is the waveform cut flat, not one loud peak.
    full = np.abs(samples.astype(np.int32)) >= 32767
    starts = full[:-2] & full[1:-1] & full[2:]
    flat = np.zeros(len(full), dtype=bool)
    for offset in range(3):
        flat[offset : offset + len(starts)] |= starts
    clipped = int(np.count_nonzero(flat))
    return InputLevels(
        round(float(np.median(loud)), 1) if len(loud) else SILENCE_DBFS,
        round(20 * math.log10(peak / 32768), 1) if peak else SILENCE_DBFS,
        clipped / max(1, len(samples)),
        round(len(loud) * FRAME_SAMPLES / SAMPLE_RATE, 1),
    )


def input_check(levels: InputLevels) -> CheckLine:
    """The recording's level and clipping, as the desk's gain sets them."""
    found = (
        f"speech at {levels.speech_dbfs:.0f} dBFS (median), peaks at {levels.peak_dbfs:.1f} dBFS, "
        f"{levels.clipped_share:.3%} of samples clipped, {levels.speech_s:.0f} s of speech"
    )
    if levels.speech_s < 1:
        return CheckLine(
            "input level",
            "fail",
            f"no speech heard ({found})",
            "the recording is silent, or far too quiet: check which channel the desk sends, and its gain",
        )
    if levels.clipped_share > CLIPPED_SHARE_FAIL:
        return CheckLine(
            "input level", "fail", found, "the input clips: turn the desk's send or the interface's gain down"
        )
    if levels.speech_dbfs < TOO_QUIET_DBFS:
        return CheckLine(
            "input level",
            "fail",
            found,
            "far too quiet for speech detection: raise the gain by 20 dB or more",
        )
    if levels.speech_dbfs < QUIET_DBFS:
        gain = math.ceil(-20 - levels.speech_dbfs)
        return CheckLine("input level", "warn", found, f"quiet: raise the gain by about {gain} dB")
    if levels.speech_dbfs > HOT_DBFS:
        return CheckLine("input level", "warn", found, "hot: lower the gain a little to keep headroom")
    return CheckLine("input level", "pass", found)


class LanguageFacts(msgspec.Struct, frozen=True):
    """What one language did while the recording played."""

    lang: str
    engine: str
    state: str
    """Its session's state at the end (ready, reconnecting, failed…)."""
    detail: str
    finals: int
    failures: int
    reconnects: int
    stalls: int
    caption_lag: LagFigures
    fidelity: FidelityCounts
    missed: list[str]
    """Names, numbers and terms its captions lost, as the fidelity check words them."""


def language_check(facts: LanguageFacts) -> CheckLine:
    """The language came up, stayed up, and captioned the talk."""
    name = f"language {facts.lang}"
    trouble = []
    if facts.failures:
        trouble.append(f"{facts.failures} failure(s)")
    if facts.reconnects:
        trouble.append(f"{facts.reconnects} reconnect(s)")
    if facts.stalls:
        trouble.append(f"{facts.stalls} stall(s)")
    if facts.state != "ready" or not facts.finals:
        why = facts.detail or f"the session is {facts.state}"
        return CheckLine(
            name,
            "fail",
            f"{facts.engine}: {facts.finals} caption(s); {why}",
            "run `translator check` for what the engine says, and read the service's log",
        )
    found = f"{facts.engine}: up, {facts.finals} caption(s)"
    if trouble:
        return CheckLine(
            name,
            "warn",
            f"{found}, but {', '.join(trouble)}",
            "the engine was unsteady: check the network to it and its quota, then rehearse again",
        )
    return CheckLine(name, "pass", found)


def lag_check(facts: LanguageFacts) -> CheckLine:
    """How late the final captions came after the speech they belong to."""
    name = f"caption lag {facts.lang}"
    lag = facts.caption_lag
    if lag.p95 is None or lag.p50 is None:
        return CheckLine(name, "fail", "no caption to measure", "see the language's line above")
    found = f"median {lag.p50:.1f} s, p95 {lag.p95:.1f} s after the speech ended ({lag.n} captions)"
    if lag.p95 > LAG_WARN_S:
        return CheckLine(
            name,
            "warn",
            found,
            "late for readers: a busy machine (offline engine) or a slow network to the engine; "
            "fewer languages per machine, or an Azure engine",
        )
    return CheckLine(name, "pass", found)


def fidelity_check(facts: LanguageFacts, glossary_terms: int) -> CheckLine:
    """The names, numbers and glossary terms the captions had to carry, and those they lost."""
    name = f"names and numbers {facts.lang}"
    counts = facts.fidelity
    carried = counts.numbers + counts.names + counts.terms
    lost = counts.numbers_missed + counts.names_missed + counts.terms_missed
    found = (
        f"{counts.numbers - counts.numbers_missed}/{counts.numbers} numbers, "
        f"{counts.names - counts.names_missed}/{counts.names} names kept, "
        f"{counts.terms - counts.terms_missed}/{counts.terms} glossary terms"
    )
    if not lost:
        if not carried and not glossary_terms:
            return CheckLine(name, "pass", f"{found} (no glossary: names are not checked)")
        return CheckLine(name, "pass", found)
    shown = ", ".join(facts.missed[:5]) + (" …" if len(facts.missed) > 5 else "")
    return CheckLine(
        name,
        "warn",
        f"{found}; lost: {shown}",
        "add the names to the glossary's kept names and the terms with their translations "
        "(the console's Glossary, or `translator glossary import`), then rehearse again",
    )


def output_check(status: OutputStatus, worst: OutputStatus) -> CheckLine:
    """One output wrote (or sent) while the recording played; ``worst`` is the worst it was."""
    name = f"output {status.name}" + (f" {status.lang}" if status.lang else "")
    where = f" to {status.path}" if status.path else ""
    if worst.state == "stopped":
        return CheckLine(
            name,
            "fail",
            f"stopped{where}: {worst.detail}",
            "free the disk or fix the folder's permissions (recordings: transcripts.directory; HLS: "
            "hls.directory)",
        )
    if worst.state == "retrying":
        return CheckLine(
            name,
            "warn",
            f"the service refused some: {worst.detail}",
            "check the caption address (Zoom's API token, YouTube's ingestion URL) and that the "
            "event is live",
        )
    if status.state == "off":
        return CheckLine(name, "warn", f"wrote nothing{where}", "nothing reached it: see the language lines")
    written = f", {status.written / 1e6:.1f} MB" if status.written else ""
    return CheckLine(name, "pass", f"{status.state}{where}{written}")


class DiskNeed(msgspec.Struct, frozen=True):
    """What the outputs would write into one folder over the expected talk."""

    what: str
    path: str
    need_bytes: int
    free_bytes: int


def disk_check(need: DiskNeed, hours: float) -> CheckLine:
    """Room on the disk for ``hours`` of the outputs writing into one folder."""
    found = (
        f"{need.what} need ~{need.need_bytes / 1e6:,.0f} MB for {hours:g} h in {need.path}; "
        f"{need.free_bytes / 1e6:,.0f} MB free"
    )
    if need.need_bytes > need.free_bytes:
        return CheckLine(
            f"disk for {need.what}",
            "fail",
            found,
            "free space on that disk, or point the folder at a larger one before the talk",
        )
    if need.need_bytes > DISK_WARN_SHARE * need.free_bytes:
        return CheckLine(
            f"disk for {need.what}", "warn", found, "more than half the free space: free some before the talk"
        )
    return CheckLine(f"disk for {need.what}", "pass", found)


def address_check(url: str, loopback: bool, secure_needed: bool) -> CheckLine:
    """The address phones are given (the QR code) can be reached from them and serves what they need."""
    if loopback:
        return CheckLine(
            "phones reach the service",
            "fail",
            f"the public address is {url}, this machine's loopback: no phone can open it",
            "serve on the network (--host 0.0.0.0) or set server.public_url to the address phones use",
        )
    if secure_needed and not url.startswith("https://"):
        return CheckLine(
            "phones reach the service",
            "fail",
            f"the public address is {url}: browsers give the speaker page no microphone without https",
            "set server.tls_cert and server.tls_key, or put the service behind a TLS proxy and set "
            "server.public_url to its https:// address",
        )
    return CheckLine("phones reach the service", "pass", f"phones are given {url}")


def token_check(source: str, where: str) -> CheckLine:
    """The operator token survives a restart (``source``: configured, stored or missing)."""
    if source == "configured":
        return CheckLine("operator token", "pass", "set in the settings (TRANSLATOR_OPERATOR_TOKEN)")
    if source == "stored":
        return CheckLine("operator token", "pass", f"stored in {where}")
    return CheckLine(
        "operator token",
        "warn",
        f"none was stored: the service generates one at its start, into {where}",
        "read it there before the talk (the console asks for it), or set TRANSLATOR_OPERATOR_TOKEN",
    )


def quota_check(tokens_per_minute: float, languages: int, quota: int) -> CheckLine:
    """Voice Live's billed tokens a minute, as the rehearsal spoke, against the resource's quota."""
    found = (
        f"~{tokens_per_minute:,.0f} tokens a minute for {languages} Voice Live language(s); "
        f"the resource allows {quota:,}"
    )
    if tokens_per_minute > quota:
        return CheckLine(
            "quota",
            "fail",
            found,
            "raise the deployment's tokens-per-minute limit in Azure, or offer fewer languages",
        )
    if tokens_per_minute > QUOTA_WARN_SHARE * quota:
        return CheckLine("quota", "warn", found, "close to the limit: a faster speaker would cross it")
    return CheckLine("quota", "pass", found)


def minutes_check(languages: int, hours: float) -> CheckLine:
    """gpt-realtime-translate bills every minute of audio streamed, per language."""
    return CheckLine(
        "audio minutes",
        "pass",
        f"{languages} gpt-realtime-translate language(s) over {hours:g} h bill "
        f"{languages * hours * 60:,.0f} audio minutes, pauses included",
    )
