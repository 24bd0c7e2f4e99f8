"""The Litestar application and the uvicorn server around it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import msgspec
import uvicorn
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.types import ControllerRouterHandler, Scope

from translator.audio import AudioSource
from translator.config import Settings
from translator.engines import table
from translator.errors import AddressError, TranslatorError
from translator.outputs.playout import Output, Programme
from translator.outputs.table import Place, outputs_for
from translator.printable import printable
from translator.server import (
    api,
    ask_aloud,
    control,
    hls,
    log_limits,
    loop_watch,
    metrics,
    pages,
    publish,
    questions,
    rehearsal_api,
    rtmp,
    srt,
    sse,
    stopping,
    stream,
    transcripts,
    whip,
    workers,
)
from translator.server.edge import Edge
from translator.server.limits import AdmissionLimit, ConnectionBudget, connection_limit
from translator.server.listen import CLOSE_GOING_AWAY, listen
from translator.server.operator import OperatorToken, resolve_token
from translator.server.rooms import Rooms
from translator.server.urls import public_url
from translator.server.uvicorn_protocols import MAX_HEADER_BYTES, bounded_protocols
from translator.talk.remote import RemoteRoom
from translator.talk.room import Room

log = logging.getLogger(__name__)

# Listeners only send keep-alives: anything bigger is refused by uvicorn with close code 1009.
WS_MAX_MESSAGE_BYTES = 4096
GRACEFUL_S = 3


def create_app(rooms: Rooms, operator: bool = True) -> Litestar:
    """The app over rooms already opened. With ``operator``, the operator surfaces too (only where
    the rooms' talks run); without, listeners and public pages only."""
    public: list[ControllerRouterHandler] = [
        api.rooms,
        api.languages,
        api.healthz,
        api.readyz,
        listen,
        publish.publish,
        questions.ask,
        ask_aloud.ask_aloud,
        whip.whip,
        whip.end_whip,
        sse.captions,
        stream.stream,
        hls.hls,
        *pages.handlers,
    ]
    operators: list[ControllerRouterHandler] = [
        api.status,
        *control.handlers,
        publish.publish_info,
        publish.change_key,
        publish.speaker_qr,
        transcripts.transcripts,
        transcripts.report,
        transcripts.transcript_export,
        transcripts.talk_bundle,
        transcripts.make_summaries,
        transcripts.summaries,
        *rehearsal_api.handlers,
        *questions.moderation,
        metrics.metrics,
        pages.console,
    ]
    sessions = whip.WhipSessions()
    rehearsals = rehearsal_api.Rehearsals()
    return Litestar(
        route_handlers=public + (operators if operator else []),
        after_exception=[_log_unexpected],
        exception_handlers={RecursionError: _too_deep},
        # The largest body is a glossary: 400 entries of at most 100 characters per language.
        request_max_body_size=MAX_BODY_BYTES,
        # The service's own logging set-up (``logs.py``: level, text or JSON) stays: Litestar's would
        # replace the root handler.
        logging_config=None,
        state=State(
            {"rooms": rooms, "whip": sessions, "rehearsals": rehearsals}
            | ({"registry": metrics.install(rooms)} if operator else {})
        ),
        on_shutdown=[sessions.close, rehearsals.close],
        # No schema pages: they load scripts from public CDNs and show more than listeners need.
        openapi_config=None,
    )


_unexpected = log_limits.Windows()
MAX_BODY_BYTES = 1024 * 1024
PING_INTERVAL_S = 20.0
"""WebSocket keep-alive pings: a connection that has not answered one by the next is closed."""


def _nested_too_deep(exc: Exception) -> bool:
    # msgspec gives up on a body nested deeper than the recursion limit: the client's fault.
    return isinstance(exc, RecursionError) and "deserializing" in str(exc)


def _too_deep(request: Request[Any, Any, Any], exc: RecursionError) -> Response[dict[str, object]]:
    if not _nested_too_deep(exc):
        return Response({"status_code": 500, "detail": "Internal Server Error"}, status_code=500)
    return Response({"status_code": 400, "detail": "the request body is nested too deeply"}, status_code=400)


async def _log_unexpected(exc: Exception, scope: Scope) -> None:
    """A handler's bug answers 500; its traceback goes to the log (Litestar logs it only in debug
    mode), once a minute per kind of error and handler, with a count of the rest."""
    if isinstance(exc, HTTPException) or _nested_too_deep(exc):
        return
    handler = getattr(scope.get("route_handler"), "handler_name", "")
    suppressed = _unexpected.passes(f"{type(exc).__name__} {handler}")
    if suppressed is None:
        return
    more = f" ({suppressed} more in the last minute)" if suppressed else ""
    path = printable(scope["path"])
    log.error("unexpected error in %s %s%s", scope.get("method", "WS"), path, more, exc_info=exc)


def uvicorn_config(app: Litestar, settings: Settings, **extra: object) -> uvicorn.Config:
    """Uvicorn settings for listener traffic on a hostile network.

    No permessage-deflate (audio does not compress); bounded headers, requests, pings and pongs
    (`uvicorn_protocols.py`); connections capped in all and per address, with a reserve for the operator
    (`limits.py`); what every request meets first (`edge.py`); client faults logged once a minute.
    """
    server = settings.server
    rooms: Rooms = app.state.rooms
    budget = ConnectionBudget(
        connection_limit(server), server.max_connections_per_address, server.trusted_proxies
    )
    http, ws = bounded_protocols(budget, PING_INTERVAL_S)
    config = uvicorn.Config(
        Edge(AdmissionLimit(app, budget, rooms.carries_operator_token)),
        host=server.host,
        port=server.port,
        http=http,
        ws=ws,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        limit_concurrency=budget.limit,
        forwarded_allow_ips=server.trusted_proxies,
        ws_per_message_deflate=False,
        ws_ping_interval=PING_INTERVAL_S,
        ws_max_size=WS_MAX_MESSAGE_BYTES,
        ssl_certfile=server.tls_cert,
        ssl_keyfile=server.tls_key,
        # uvicorn's lines go through the service's own handler (``logs.py``), in its format.
        log_config=None,
        # Listeners are told and their streams end at once; a connection that still lingers is cut
        # after this, well within the service's stop bound (`stopping`).
        timeout_graceful_shutdown=GRACEFUL_S,
        **extra,  # type: ignore[arg-type]
    )
    log_limits.install()
    return config


@asynccontextmanager
async def open_rooms(
    settings: Settings, sources: Mapping[str, AudioSource] | None = None
) -> AsyncIterator[Rooms]:
    """Open every room and start its talk (``sources``: inputs the caller opened, by room id);
    close them all on exit. A server with one room fails to start, with a clear error, when that
    room cannot; of several, a room that cannot start is left ``failed`` with why, and the others
    run. A listener-only process opens no input or engine: it follows each room through Redis."""
    sources = sources or {}
    async with AsyncExitStack() as stack:
        configs = settings.room_configs()
        found: dict[str, Room | RemoteRoom] = {}
        if settings.broker.listener_only:
            for config in configs:
                found[config.id] = await stack.enter_async_context(RemoteRoom(config, settings))
            yield _played(stack, found, settings)
            return
        local = [
            await stack.enter_async_context(Room(config, settings, sources.get(config.id)))
            for config in configs
        ]
        found = {room.id: room for room in local}
        if len(local) == 1:
            await local[0].start()
        else:
            outcomes = await asyncio.gather(*(room.start() for room in local), return_exceptions=True)
            for room, outcome in zip(local, outcomes, strict=True):
                if isinstance(outcome, TranslatorError):
                    log.error("room %s cannot start: %s", room.id, outcome)
                elif isinstance(outcome, Exception):
                    log.error("room %s cannot start", room.id, exc_info=outcome)
                elif isinstance(outcome, BaseException):
                    raise outcome
        rooms = _played(stack, found, settings)
        await stack.enter_async_context(rtmp.listening(rooms))
        await stack.enter_async_context(srt.listening(rooms))
        yield rooms


def _played(stack: AsyncExitStack, rooms: dict[str, Room | RemoteRoom], settings: Settings) -> Rooms:
    """The rooms, each with its programme playing until ``stack`` closes (before the rooms do);
    where the talk runs here, its outputs too (`outputs/table.py`)."""
    hls = settings.outputs.hls
    if hls.enabled and hls.directory is None and not settings.broker.listener_only:
        # Written back: listener processes started later serve the same folder.
        hls.directory = tempfile.mkdtemp(prefix="translator-hls-")
        stack.callback(shutil.rmtree, hls.directory, ignore_errors=True)
    programmes: dict[str, Programme] = {}
    outputs: dict[str, list[Output]] = {}
    for room in rooms.values():
        programmes[room.id] = programme = Programme(room)
        programme.start()
        stack.push_async_callback(programme.stop)
        outputs[room.id] = outputs_for(Place(room, programme, settings))
        for output in outputs[room.id]:
            output.start()
            stack.push_async_callback(output.stop)
    return Rooms(settings, rooms, resolve_token(settings).value, programmes=programmes, outputs=outputs)


class _Server(uvicorn.Server):
    """uvicorn, except that listeners hear 1001 (going away) before it closes their connections, and
    that it leaves the signals to `stopping` (uvicorn's own re-raise SIGTERM and SIGHUP once it has
    stopped, killing the process before the rooms close)."""

    def __init__(self, config: uvicorn.Config, rooms: Rooms) -> None:
        super().__init__(config)
        self.rooms = rooms

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    def stop(self) -> None:
        """Stop serving: listeners are told, connections closed, then `serve` returns."""
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await asyncio.gather(
            *(
                room.hub.close_all(CLOSE_GOING_AWAY, "the service is shutting down", within_s=2.0)
                for room in self.rooms.rooms.values()
            )
        )
        await super().shutdown(sockets)


def bind(settings: Settings, reuse_port: bool = False) -> socket.socket:
    """The listening socket, opened before anything slow starts: a busy port is a one-line error.

    Port 0 picks a free port, written back into the settings. ``reuse_port``: listener processes
    share the port, the kernel spreading connections among them.
    """
    host, port = settings.server.host, settings.server.port
    try:
        sock = socket.create_server(
            (host, port),
            family=socket.AF_INET6 if ":" in host else socket.AF_INET,
            backlog=2048,
            reuse_port=reuse_port,
        )
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise AddressError(
                f"cannot listen on {host}:{port}: the port is in use (is another translator running?); "
                "choose another with --port"
            ) from None
        raise AddressError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    settings.server.port = sock.getsockname()[1]
    return sock


@asynccontextmanager
async def running(
    settings: Settings, sources: Mapping[str, AudioSource] | None = None
) -> AsyncIterator[Rooms]:
    """The whole service started in this event loop, until the block ends (``translator eval``, tests)."""
    sock = bind(settings, reuse_port=settings.broker.listener_only)
    async with open_rooms(settings, sources) as rooms:
        operator = not settings.broker.listener_only
        app = create_app(rooms, operator=operator)
        server = _Server(uvicorn_config(app, settings, log_level="warning"), rooms)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
        try:
            while not server.started:
                if task.done():
                    task.result()
                    raise AddressError(f"the server did not start on port {settings.server.port}")
                await asyncio.sleep(0.02)
            yield rooms
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)


async def serve(settings: Settings) -> None:
    """Serve listeners until stopped (SIGINT, SIGTERM or SIGHUP: `stopping`), printing the URLs to
    open once the service is up. A stop asked for while the rooms start cancels the start."""
    async with stopping.signals() as stop, loop_watch.watching(), workers.parent_watched(stop):
        task = asyncio.current_task()
        assert task is not None
        stop.on_request(task.cancel)
        if settings.broker.listener_only:
            await _serve_listeners(settings, stop)
        elif settings.server.workers > 1:
            await _serve_with_workers(settings, stop)
        else:
            await _serve_one(settings, stop)


async def _serve_one(settings: Settings, stop: stopping.Stopping) -> None:
    sock = bind(settings)
    token = resolve_token(settings)
    _starting(settings)
    async with open_rooms(settings) as rooms:
        server = _Server(uvicorn_config(create_app(rooms), settings, log_level="warning"), rooms)
        stop.on_request(server.stop)
        print_urls(rooms, token)
        await server.serve(sockets=[sock])


def _starting(settings: Settings) -> None:
    doing = sorted(
        {table.ENGINES[name].starting for room in settings.room_configs() for name in table.by_engine(room)}
    )
    print(f"translator: starting: {' and '.join(doing)}…", flush=True)


async def _serve_listeners(settings: Settings, stop: stopping.Stopping) -> None:
    """A listener-only process: the public surfaces of a talk whose pipeline runs elsewhere."""
    sock = bind(settings, reuse_port=True)
    async with open_rooms(settings) as rooms:
        server = _Server(
            uvicorn_config(create_app(rooms, operator=False), settings, log_level="warning"), rooms
        )
        stop.on_request(server.stop)
        print(
            f"translator: serving listeners of {', '.join(rooms.rooms)} ({settings.broker.channel!r}) "
            f"at {public_url(settings)}",
            flush=True,
        )
        await server.serve(sockets=[sock])


async def _serve_with_workers(settings: Settings, stop: stopping.Stopping) -> None:
    """The pipeline and the operator surfaces in this process, on the operator port; listeners in
    ``server.workers`` processes of their own sharing the public port."""
    bind(settings, reuse_port=True).close()  # a busy public port is one line, before anything loads
    operator_settings = msgspec.structs.replace(
        settings,
        server=msgspec.structs.replace(
            settings.server, port=settings.server.operator_port or settings.server.port + 1
        ),
    )
    sock = bind(operator_settings)
    token = resolve_token(settings)
    _starting(settings)
    async with open_rooms(settings) as rooms, workers.supervised(settings):
        app = create_app(rooms)
        server = _Server(uvicorn_config(app, operator_settings, log_level="warning"), rooms)
        stop.on_request(server.stop)
        print_urls(rooms, token, operator_port=operator_settings.server.port)
        await server.serve(sockets=[sock])


def print_urls(rooms: Rooms, token: OperatorToken, operator_port: int | None = None) -> None:
    """Tell the operator what is running and where to point people."""
    settings = rooms.settings
    base = rooms.base_url
    operator = base if operator_port is None else f"http://{settings.server.host}:{operator_port}/"
    several = len(rooms.rooms) > 1
    for room in rooms.rooms.values():
        assert isinstance(room, Room)
        urls = rooms.urls(room)
        title = f"room {room.id} ({room.name}): " if several else ""
        state = "" if room.state == "running" else f"  [{room.state}: {room.detail}]"
        targets = ", ".join(t.code for t in room.targets)
        spoken = "/".join(language.code for language in room.spoken)
        print(
            f"translator: {title}{room.engine_name} engine, {spoken} → {targets}, "
            f"input: {room.input_report().description}{state}"
        )
        indent = "    " if several else "  "
        print(f"{indent}Audience page:    {urls.audience}")
        print(f"{indent}Join (QR code):   {urls.join}")
        print(f"{indent}Caption overlay:  {urls.overlays[room.targets[0].code]}")
        if urls.speaker:
            # Not the key: the console hands out the speaker's link with it.
            print(f"{indent}Speaker page:     {urls.speaker}  (its link with the key is in the console)")
            rtmp_at = publish.rtmp_url(rooms, room)
            if rtmp_at:
                print(f"{indent}RTMP (encoders):  {rtmp_at}  (the stream key is in the console)")
            if room.id in rooms.srt_ports:
                port = rooms.srt_ports[room.id]
                print(f"{indent}SRT (encoders):   port {port} (UDP; the passphrase is in the console)")
    if several:
        print(f"  Rooms:            {base}  (lists them)")
    if operator_port is not None:
        # Host and port only: a Redis URL may carry a password.
        redis_at = urlsplit(settings.broker.url or "").netloc.rpartition("@")[2]
        print(
            f"  Listener processes: {settings.server.workers}, sharing the talk through Redis at {redis_at}"
        )
    print(f"  Status:           {operator}api/status  (operator token required)")
    # The token is printed once, when it is made: a terminal's scrollback, a screen share and a
    # service manager's journal keep whatever is printed at every start. In the fragment, the
    # browser never sends it, and the console clears it from the address bar.
    if token.source == "generated":
        print(f"  Console:          {operator}console#token={token.value}")
        print(f"  Operator token:   generated, printed this once, and kept in {token.path}")
    elif token.source == "stored":
        print(f"  Console:          {operator}console  (the operator token is in {token.path})")
    else:
        print(f"  Console:          {operator}console  (with the operator token you configured)")
    if not rooms.urls(next(iter(rooms.rooms.values()))).reachable_by_phones:
        print(
            "  Note: phones cannot reach this address (it is this machine's loopback): start with "
            "--host 0.0.0.0 or set --public-url to let them in."
        )
    print("Press Ctrl+C to stop.", flush=True)
