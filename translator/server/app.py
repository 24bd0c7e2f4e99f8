"""The Litestar application and the uvicorn server around it."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

import msgspec
import uvicorn
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.types import Scope

from translator.audio import AudioSource, open_source
from translator.config import Settings
from translator.engines import create_engine
from translator.errors import AddressError
from translator.hub import Hub
from translator.hub.broker import RedisBroker
from translator.languages import get_language
from translator.pipeline import Pipeline
from translator.printable import printable
from translator.remote_talk import RemoteTalk
from translator.server import api, control, log_limits, metrics, pages, sse, transcripts, workers
from translator.server.edge import Edge
from translator.server.limits import AdmissionLimit, ConnectionBudget, connection_limit
from translator.server.listen import CLOSE_GOING_AWAY, listen
from translator.server.operator import OperatorToken, resolve_token
from translator.server.services import Services
from translator.server.urls import public_url
from translator.server.uvicorn_protocols import MAX_HEADER_BYTES, bounded_protocols
from translator.tasks import cancel_and_wait
from translator.transcripts.store import TranscriptHeader, TranscriptWriter, transcripts_directory

log = logging.getLogger(__name__)

# A listener-only process that has not heard the talk's state by then says what it waits for.
STATE_NOTICE_S = 5.0
# Listeners only send keep-alives: anything bigger is refused by uvicorn with close code 1009.
WS_MAX_MESSAGE_BYTES = 4096


def create_app(services: Services, operator: bool = True) -> Litestar:
    """The app. With ``operator``, the operator surfaces too, and its lifespan runs the pipeline
    (the source and engine are opened by the caller); without, listeners and public pages only."""
    pipeline = services.pipeline

    @asynccontextmanager
    async def run_pipeline(app: Litestar) -> AsyncIterator[None]:
        if not operator or not isinstance(pipeline, Pipeline):
            yield
            return
        task = asyncio.create_task(pipeline.run(), name="pipeline")
        try:
            yield
        finally:
            await cancel_and_wait(task)

    public = [api.languages, api.healthz, api.readyz, listen, sse.captions, *pages.handlers]
    operators = [
        api.status,
        *control.handlers,
        transcripts.transcripts,
        transcripts.transcript_export,
        metrics.metrics,
        pages.console,
    ]
    with_operator = operator and isinstance(pipeline, Pipeline)
    return Litestar(
        route_handlers=public + (operators if with_operator else []),
        lifespan=[run_pipeline],
        after_exception=[_log_unexpected],
        exception_handlers={RecursionError: _too_deep},
        # The largest body is a glossary: 400 entries of at most 100 characters per language.
        request_max_body_size=MAX_BODY_BYTES,
        # The service's own logging set-up (``logs.py``: level, text or JSON) stays: Litestar's would
        # replace the root handler.
        logging_config=None,
        state=State(
            {"services": services} | ({"registry": metrics.install(services)} if with_operator else {})
        ),
        # No schema pages: they load scripts from public CDNs and show more than listeners need.
        openapi_config=None,
    )


_unexpected = log_limits.Windows()
MAX_BODY_BYTES = 1024 * 1024


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
    services: Services = app.state.services
    budget = ConnectionBudget(
        connection_limit(server), server.max_connections_per_address, server.trusted_proxies
    )
    http, ws = bounded_protocols(budget)
    config = uvicorn.Config(
        Edge(AdmissionLimit(app, budget, services.carries_operator_token)),
        host=server.host,
        port=server.port,
        http=http,
        ws=ws,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        limit_concurrency=budget.limit,
        forwarded_allow_ips=server.trusted_proxies,
        ws_per_message_deflate=False,
        ws_max_size=WS_MAX_MESSAGE_BYTES,
        ssl_certfile=server.tls_cert,
        ssl_keyfile=server.tls_key,
        # uvicorn's lines go through the service's own handler (``logs.py``), in its format.
        log_config=None,
        **extra,  # type: ignore[arg-type]
    )
    log_limits.install()
    return config


@asynccontextmanager
async def open_services(settings: Settings, source: AudioSource | None = None) -> AsyncIterator[Services]:
    """Open the input and start the engine (failing early with a clear error), and the broker when
    processes share the talk; close them all on exit. A listener-only process opens no input or
    engine: it follows the talk through the broker."""
    hub = Hub([] if settings.broker.listener_only else settings.targets)
    async with AsyncExitStack() as stack:
        if settings.broker.listener_only:
            talk = RemoteTalk(hub, get_language(settings.source))
            broker = RedisBroker(settings.broker, hub, on_snapshot=talk.update)
            await broker.start()
            stack.push_async_callback(broker.stop)
            # Listeners are taken once the talk's languages are known: before, every one would be
            # told its language does not exist. Connections wait in the socket's backlog meanwhile.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(broker.heard.wait(), STATE_NOTICE_S)
            if not broker.heard.is_set():
                log.warning("waiting for the talk's state in Redis: is the pipeline's process running?")
                await broker.heard.wait()
            yield Services(settings, hub, talk, resolve_token(settings).value, broker)
            return
        engine = create_engine(settings)
        engine.check()  # a language the engine cannot serve is said before the input is opened
        source = await stack.enter_async_context(source or open_source(settings.audio))
        engine = await stack.enter_async_context(engine)
        pipeline = Pipeline(source, engine, hub)
        if settings.transcripts.enabled:
            pipeline.transcript = TranscriptWriter(
                transcripts_directory(settings.transcripts), lambda: talk_header(settings, pipeline)
            )
            stack.callback(pipeline.transcript.close)
        broker = None
        if settings.broker.url is not None:
            broker = hub.broker = RedisBroker(settings.broker, hub, snapshot=pipeline.snapshot)
            await broker.start()
            stack.push_async_callback(broker.stop)
        yield Services(settings, hub, pipeline, resolve_token(settings).value, broker)


def talk_header(settings: Settings, pipeline: Pipeline) -> TranscriptHeader:
    """The transcript's first line, once the talk has started."""
    started = pipeline.input.talk_started_at or int(time.time() * 1000)
    return TranscriptHeader(
        TranscriptWriter.talk_id(started),
        started,
        settings.server.event_name,
        settings.source,
        [target.code for target in pipeline.engine.targets],
        pipeline.source.description,
    )


class _Server(uvicorn.Server):
    """uvicorn, except that listeners hear 1001 (going away) before it closes their connections, and
    that SIGHUP (the terminal closed, a service manager's reload) stops it as SIGTERM does."""

    def __init__(self, config: uvicorn.Config, hub: Hub) -> None:
        super().__init__(config)
        self.hub = hub

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            previous = signal.signal(signal.SIGHUP, self.handle_exit)
            try:
                yield
            finally:
                signal.signal(signal.SIGHUP, previous)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.should_exit:
            log.warning("stopping: %s received", signal.Signals(sig).name)
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.hub.close_all(CLOSE_GOING_AWAY, "the service is shutting down", within_s=2.0)
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
async def running(settings: Settings, source: AudioSource | None = None) -> AsyncIterator[Services]:
    """The whole service started in this event loop, until the block ends (``translator eval``, tests)."""
    sock = bind(settings, reuse_port=settings.broker.listener_only)
    async with open_services(settings, source) as services:
        server = _Server(uvicorn_config(create_app(services), settings, log_level="warning"), services.hub)
        task = asyncio.create_task(server.serve(sockets=[sock]), name="uvicorn")
        try:
            while not server.started:
                if task.done():
                    task.result()
                    raise AddressError(f"the server did not start on port {settings.server.port}")
                await asyncio.sleep(0.02)
            yield services
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)


async def serve(settings: Settings) -> None:
    """Serve listeners until stopped, printing the URLs to open once the service is up."""
    if settings.broker.listener_only:
        await _serve_listeners(settings)
        return
    if settings.server.workers > 1:
        await _serve_with_workers(settings)
        return
    sock = bind(settings)
    token = resolve_token(settings)
    _starting(settings)
    async with open_services(settings) as services:
        server = _Server(uvicorn_config(create_app(services), settings, log_level="warning"), services.hub)
        print_urls(settings, services, token)
        await server.serve(sockets=[sock])


def _starting(settings: Settings) -> None:
    engine = settings.resolved_engine()
    what = "loading the offline models" if engine == "local" else "connecting to Azure AI Voice Live"
    print(f"translator: starting: {what}…", flush=True)


async def _serve_listeners(settings: Settings) -> None:
    """A listener-only process: the public surfaces of a talk whose pipeline runs elsewhere."""
    sock = bind(settings, reuse_port=True)
    async with open_services(settings) as services:
        server = _Server(
            uvicorn_config(create_app(services, operator=False), settings, log_level="warning"), services.hub
        )
        parent = os.environ.get(workers.PARENT_ENV)
        watchdog = asyncio.create_task(workers.exit_with_parent(int(parent), server)) if parent else None
        print(
            f"translator: serving listeners of {settings.broker.channel!r} at {public_url(settings)}",
            flush=True,
        )
        try:
            await server.serve(sockets=[sock])
        finally:
            if watchdog is not None:
                await cancel_and_wait(watchdog)


async def _serve_with_workers(settings: Settings) -> None:
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
    async with open_services(settings) as services, workers.supervised(settings):
        app = create_app(services)
        server = _Server(uvicorn_config(app, operator_settings, log_level="warning"), services.hub)
        print_urls(settings, services, token, operator_port=operator_settings.server.port)
        await server.serve(sockets=[sock])


def print_urls(
    settings: Settings, services: Services, token: OperatorToken, operator_port: int | None = None
) -> None:
    """Tell the operator what is running and where to point people."""
    pipeline = services.pipeline
    assert isinstance(pipeline, Pipeline)
    base = public_url(settings)
    operator = base if operator_port is None else f"http://{settings.server.host}:{operator_port}/"
    first = settings.targets[0]
    print(
        f"translator: {pipeline.engine.name} engine, {settings.source} → {', '.join(settings.targets)}, "
        f"input: {pipeline.source.description}"
    )
    if operator_port is not None:
        # Host and port only: a Redis URL may carry a password.
        redis_at = urlsplit(settings.broker.url or "").netloc.rpartition("@")[2]
        print(
            f"  Listener processes: {settings.server.workers}, sharing the talk through Redis at {redis_at}"
        )
    print(f"  Audience page:    {base}")
    print(f"  Join (QR code):   {base}join")
    print(f"  Caption overlay:  {base}overlay?lang={first}")
    print(f"  Status:           {operator}api/status  (operator token required)")
    # The operator's own terminal: the console's whole address, its token in the fragment (which
    # the browser never sends, and the console clears from the address bar).
    print(f"  Console:          {operator}console#token={token.value}")
    if token.source == "generated":
        print(f"  Operator token:   generated and kept in {token.path}")
    elif token.source == "stored":
        print(f"  Operator token:   kept in {token.path}")
    if not services.urls()["reachable_by_phones"]:
        print(
            "  Note: phones cannot reach this address (it is this machine's loopback): start with "
            "--host 0.0.0.0 or set --public-url to let them in."
        )
    print("Press Ctrl+C to stop.", flush=True)
