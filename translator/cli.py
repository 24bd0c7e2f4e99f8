"""The ``translator`` command: ``serve``, ``eval``, ``check``, ``rehearse``, ``export``, ``glossary`` and
``devices``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import os
import sys
import time
from pathlib import Path

from translator import logs
from translator.config import PricesConfig, Settings, load_settings
from translator.engines import table
from translator.errors import AddressError, ConfigError, TranslatorError

EXIT_USAGE = 2
EXIT_FAILURE = 1
EXIT_ADDRESS = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="translator", description="Live speech translation service.")
    parser.add_argument("--version", action="version", version=f"translator {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="translate the input and serve listeners")
    serve.add_argument("--config", metavar="FILE", help="TOML settings file (flags win over it)")
    serve.add_argument(
        "--engine",
        choices=table.choices(),
        help="; ".join(f"{spec.name}: {spec.summary}" for spec in table.ENGINES.values())
        + "; default auto: per language, the first of these that is configured and fits it",
    )
    serve.add_argument(
        "--input",
        dest="audio.input",
        metavar="mic|publish|URL|PATH",
        help="mic; publish (the speaker page, WHIP); a stream to read (https://, rtmp://, rtsp://); "
        "or a WAV file (default mic)",
    )
    serve.add_argument("--device", dest="audio.device", metavar="NAME_OR_INDEX", help="input device")
    serve.add_argument(
        "--channel",
        dest="audio.channel",
        type=int,
        metavar="N",
        help="take only channel N (from 1) of a multi-channel device or file (default: mix them)",
    )
    serve.add_argument(
        "--loop", dest="audio.loop", action="store_const", const=True, help="repeat the WAV file"
    )
    serve.add_argument("--source", metavar="LANG", help="the speaker's language (default en)")
    serve.add_argument(
        "--spoken",
        action="append",
        metavar="LANG",
        help="a language that may be spoken on the floor, the default first; repeat for several "
        "(each gets a channel, and passes through to it)",
    )
    serve.add_argument(
        "--target",
        dest="targets",
        action="append",
        metavar="LANG",
        help="a target language; repeat for several (default es, fr)",
    )
    serve.add_argument(
        "--host",
        dest="server.host",
        metavar="HOST",
        help="the address to listen on (default 127.0.0.1; 0.0.0.0 lets phones on the network in)",
    )
    serve.add_argument("--port", dest="server.port", type=_port, metavar="PORT", help="(default 8000)")
    serve.add_argument(
        "--event-name",
        dest="server.event_name",
        metavar="NAME",
        help="shown on the join page and the audience page (default 'Live translation')",
    )
    serve.add_argument(
        "--public-url",
        dest="server.public_url",
        metavar="URL",
        help="the address the audience uses, in the QR code (default: from the host and port)",
    )
    serve.add_argument("--tls-cert", dest="server.tls_cert", metavar="PEM", help="serve https with this")
    serve.add_argument("--tls-key", dest="server.tls_key", metavar="PEM", help="the certificate's key")
    serve.add_argument(
        "--broker", dest="broker.url", metavar="redis://HOST:PORT", help="share the talk through Redis"
    )
    serve.add_argument(
        "--workers", dest="server.workers", type=int, metavar="N", help="listener processes (needs --broker)"
    )
    serve.add_argument(
        "--operator-port",
        dest="server.operator_port",
        type=_port,
        metavar="PORT",
        help="with --workers: where the console and the operator API are served (default: port + 1)",
    )
    serve.add_argument(
        "--listener-only",
        dest="broker.listener_only",
        action="store_const",
        const=True,
        help="serve listeners of a talk whose pipeline runs elsewhere (needs --broker)",
    )
    serve.add_argument("-v", "--verbose", action="store_true", help="log at info level")
    evaluate = commands.add_parser(
        "eval", help="replay a talk through the service and measure lag and quality per language"
    )
    evaluate.add_argument("talk", metavar="TALK.wav")
    evaluate.add_argument("--reference", metavar="REF.json", help="utterance timings, text, translations")
    evaluate.add_argument("--config", help="TOML settings file")
    evaluate.add_argument(
        "--engine",
        dest="engines",
        action="append",
        choices=table.choices(),
        help="the engine (repeat it to compare engines on the same talk, side by side)",
    )
    evaluate.add_argument("--source", help="the speaker's language (default en)")
    evaluate.add_argument("--target", dest="targets", action="append", metavar="LANG")
    evaluate.add_argument("--codec", choices=["pcm", "opus"], default="pcm", help="the listeners' codec")
    evaluate.add_argument(
        "--out", type=Path, default=Path("eval-results"), help="where eval.md and lag.png go"
    )
    check = commands.add_parser(
        "check",
        help="send a short utterance in the source language through each target's Azure engine, timed",
    )
    check.add_argument("--config", help="TOML settings file")
    check.add_argument("--source", help="the speaker's language (default en)")
    check.add_argument("--target", dest="targets", action="append", metavar="LANG")
    check.add_argument("--timeout", type=float, default=30.0, help="seconds per language (default 30)")
    check.add_argument(
        "--hours", type=_hours, default=1.0, help="how long the talk runs, for the cost estimate (default 1)"
    )
    check.add_argument(
        "--probe",
        action="store_true",
        help="run the experiments that settle what the docs leave open, on each Azure engine configured; "
        "save the exchange",
    )
    check.add_argument("--out", type=Path, help="--probe: where the exchange goes (default probe-TIME.jsonl)")
    rehearsing = commands.add_parser(
        "rehearse",
        help="play a recording through the room as configured, in real time, and list what to fix "
        "before the talk (exit 1 when a line fails)",
    )
    rehearsing.add_argument("talk", type=Path, metavar="TALK.wav", help="a recording of a speaker")
    rehearsing.add_argument("--config", help="TOML settings file")
    rehearsing.add_argument("--room", metavar="ID", help="the room (default: the first)")
    rehearsing.add_argument(
        "--hours",
        type=_hours,
        default=2.0,
        help="how long the talk runs, for the disk and the quota (default 2)",
    )
    rehearsing.add_argument("-v", "--verbose", action="store_true", help="log at info level")
    exporting = commands.add_parser(
        "export",
        help="a talk's captions as SRT, WebVTT or text, or everything in one ZIP (--bundle); "
        "no --talk: list talks",
    )
    exporting.add_argument("--config", help="TOML settings file")
    exporting.add_argument("--talk", metavar="ID", help="the talk (as listed without --talk)")
    exporting.add_argument("--lang", metavar="LANG", help="the language of the captions")
    exporting.add_argument("--format", choices=["srt", "vtt", "txt"], default="srt")
    exporting.add_argument(
        "--bundle",
        action="store_true",
        help="the take-home bundle: the original audio, each language's audio, subtitles and "
        "transcript, and a manifest, in one ZIP (default TALK.zip)",
    )
    exporting.add_argument("--out", type=Path, help="write here instead of standard output")
    glossary = commands.add_parser(
        "glossary",
        help="a term list as CSV or TSV (a column per language): check it, apply it to the running "
        "service, or write out the one in use",
    )
    actions = glossary.add_subparsers(dest="action", required=True, metavar="ACTION")
    checking = actions.add_parser("check", help="read FILE against the room's languages (no service needed)")
    importing = actions.add_parser("import", help="apply FILE to the room in the running service")
    dumping = actions.add_parser(
        "export", help="write out the glossary the room uses (CSV unless --format tsv)"
    )
    for action in (checking, importing, dumping):
        action.add_argument("--config", help="TOML settings file")
        action.add_argument("--room", metavar="ID", help="the room (on a server of several)")
    for action in (checking, importing):
        action.add_argument("file", type=Path, metavar="FILE", help="a .csv or .tsv file (UTF-8)")
    for action in (importing, dumping):
        action.add_argument("--url", help="the service (default: this machine, on the configured port)")
    dumping.add_argument("--format", choices=["csv", "tsv"], default="csv")
    dumping.add_argument("--out", type=Path, help="write here instead of standard output")
    commands.add_parser("devices", help="list the sound devices that can record")
    return parser


def _version() -> str:
    try:
        return importlib.metadata.version("live-translator")
    except importlib.metadata.PackageNotFoundError:
        return "(not installed)"


def _port(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None


def _hours(value: str) -> float:
    try:
        hours = float(value)
    except ValueError:
        hours = 0.0
    if not 0 < hours <= 24 * 7:
        raise argparse.ArgumentTypeError(f"not a number of hours between 0 and 168: {value!r}")
    return hours


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (2 for bad settings, 1 for other failures)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "devices":
            return _devices()
        if args.command == "eval":
            return _evaluate(args)
        if args.command == "check":
            return _check(args)
        if args.command == "rehearse":
            return _rehearse(args)
        if args.command == "export":
            return _export(args)
        if args.command == "glossary":
            return _glossary(args)
        from translator.server.workers import settings_from_parent

        overrides = {k: v for k, v in vars(args).items() if k not in ("command", "config", "verbose")}
        settings = settings_from_parent()
        if settings is None:
            settings = _load(args, overrides)
        else:
            logs.configure(settings.log)
        # The server is imported once the settings are good: a bad one is said at once, not after
        # the two seconds the server's modules take to load.
        import uvloop

        from translator.server import stopping
        from translator.server.app import serve

        # uvloop: the fan-out writes one prebuilt frame per listener, where the loop's own cost shows.
        # Cancelled: stopped while it started (`stopping`); interrupted: before it could catch signals.
        with contextlib.suppress(KeyboardInterrupt, asyncio.CancelledError):
            uvloop.run(serve(settings))
        stopping.leave()
        return 0
    except ConfigError as exc:
        print(f"translator: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AddressError as exc:
        print(f"translator: error: {exc}", file=sys.stderr)
        return EXIT_ADDRESS
    except TranslatorError as exc:
        print(f"translator: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except BrokenPipeError:
        # The reader left (`translator export | head -1`): nothing to report. Python would also
        # fail to flush stdout at exit and print that, so what is left goes nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def _load(args: argparse.Namespace, overrides: dict[str, object]) -> Settings:
    """The settings, with logging set up as they say (``-v`` raises the default level to info)."""
    settings = load_settings(args.config, overrides=overrides)
    logs.configure(settings.log, getattr(args, "verbose", False))
    return settings


def _evaluate(args: argparse.Namespace) -> int:
    from translator.evaluation.run import compare, evaluate

    overrides = {"source": args.source, "targets": args.targets, "audio.input": args.talk}
    engines = args.engines or []
    if len(engines) <= 1:
        settings = _load(args, {**overrides, "engine": next(iter(engines), None)})
        evaluate(settings, args.talk, args.reference, args.out, args.codec)
        return 0
    # Each engine serves every language: what the per-language settings chose is set aside.
    runs = {name: _load(args, {**overrides, "engine": name, "engines": {}}) for name in engines}
    compare(runs, args.talk, args.reference, args.out, args.codec)
    return 0


def _check(args: argparse.Namespace) -> int:
    from translator.check import check, utterance
    from translator.languages import get_language
    from translator.probe import probe
    from translator.probe_translate import probe_translate

    # Each language on its Azure engine; a probe records each configured Azure engine's exchange.
    settings = _load(args, {"source": args.source, "targets": args.targets})
    if args.probe:
        out = args.out or Path(time.strftime("probe-%Y%m%d-%H%M%S.jsonl"))
        both = bool(settings.azure.endpoint and settings.translate.endpoint)
        translate_out = out.with_name(f"{out.stem}-translate{out.suffix}") if both else out
        if not (settings.azure.endpoint or settings.translate.endpoint):
            print(
                "nothing to probe: set AZURE_VOICELIVE_ENDPOINT (Voice Live) or AZURE_OPENAI_ENDPOINT "
                "(gpt-realtime-translate)",
                file=sys.stderr,
            )
            return EXIT_FAILURE

        async def run_probe() -> None:
            pcm, _ = await utterance(get_language(settings.source))
            if settings.azure.endpoint:
                await probe(settings, pcm, out)
            if settings.translate.endpoint:
                await probe_translate(settings, pcm, translate_out)

        asyncio.run(run_probe())
        return 0
    results = asyncio.run(check(settings, args.timeout, args.hours))
    return 0 if all(r.ok for r in results) else EXIT_FAILURE


def _rehearse(args: argparse.Namespace) -> int:
    from translator.rehearse_command import rehearse

    checklist = rehearse(_load(args, {}), args.talk, args.room, args.hours)
    return EXIT_FAILURE if checklist.failed else 0


def _glossary(args: argparse.Namespace) -> int:
    from translator import glossary_command

    settings = load_settings(args.config)
    rooms = settings.room_configs()
    room = next((r for r in rooms if r.id == args.room), None) if args.room else rooms[0]
    if room is None:
        raise ConfigError("--room", f"no room {args.room!r}; rooms: {', '.join(r.id for r in rooms)}")
    if args.action == "check":
        print(f"{args.file}: {glossary_command.summary(glossary_command.read_file(args.file, room))}")
    elif args.action == "import":
        print(glossary_command.apply_file(settings, room, args.file, args.url))
    else:
        table = glossary_command.fetch_table(settings, room, args.format, args.url)
        if args.out is None:
            sys.stdout.write(table)
        else:
            args.out.write_text(table, encoding="utf-8")
    return 0


def _export(args: argparse.Namespace) -> int:
    from translator.transcripts.export import export
    from translator.transcripts.store import list_transcripts, read_transcript, transcripts_directory

    settings = load_settings(args.config)
    directory = transcripts_directory(settings.transcripts)
    if args.talk is None:
        talks = list_transcripts(directory)
        if not talks:
            print(f"no talks in {directory}")
        for talk in talks:
            started = time.strftime("%Y-%m-%d %H:%M", time.localtime(talk.started_at / 1000))
            # Read whole: the languages added during the talk are on lines of their own.
            languages = read_transcript(directory, talk.id).header.targets
            print(f"{talk.id}  {started}  {talk.room}  {talk.event_name}  ({', '.join(languages)})")
        return 0
    if args.bundle:
        return _bundle(directory, args.talk, args.out or Path(f"{args.talk}.zip"), settings.prices)
    if args.lang is None:
        raise ConfigError("--lang", "which language? e.g. --lang es")
    text = export(read_transcript(directory, args.talk), args.lang, args.format)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


def _bundle(directory: Path, talk: str, out: Path, prices: PricesConfig) -> int:
    from translator.outputs.bundle import bundle

    # Written aside and renamed: an interrupted export leaves no half a ZIP under the name.
    partial = out.with_name(out.name + ".part")
    with partial.open("wb") as file:
        manifest = bundle(directory, talk, file, prices)
    partial.replace(out)
    audio = sum(f.kind == "audio" for f in manifest.files)
    print(
        f"{out}: {len(manifest.files)} files ({audio} audio, languages: "
        f"{', '.join(['original', *(language.code for language in manifest.languages)])})"
    )
    return 0


def _devices() -> int:
    from translator.audio.mic import list_input_devices

    devices = list_input_devices()
    if not devices:
        print("no input devices found")
    for device in devices:
        print(f"{device.index:3}  {device.name}  ({device.channels} ch, {device.rate:.0f} Hz)")
    return 0
