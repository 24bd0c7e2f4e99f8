"""The Litestar application and the uvicorn server around it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import uvicorn
from litestar import Litestar
from litestar.datastructures import State

from translator.audio import AudioSource, open_source
from translator.config import Settings
from translator.engines import create_engine
from translator.hub import Hub
from translator.pipeline import Pipeline
from translator.server import api, pages
from translator.server.listen import listen
from translator.server.services import Services
from translator.server.urls import public_url
from translator.tasks import cancel_and_wait

# Listeners only send keep-alives: anything bigger is refused by uvicorn with close code 1009.
WS_MAX_MESSAGE_BYTES = 4096


def create_app(services: Services) -> Litestar:
    """The app; its lifespan runs the pipeline (the source and engine are opened by the caller)."""

    @asynccontextmanager
    async def run_pipeline(app: Litestar) -> AsyncIterator[None]:
        task = asyncio.create_task(services.pipeline.run(), name="pipeline")
        try:
            yield
        finally:
            await cancel_and_wait(task)

    return Litestar(
        route_handlers=[
            api.languages,
            api.status,
            api.healthz,
            api.readyz,
            listen,
            *pages.handlers,
        ],
        lifespan=[run_pipeline],
        state=State({"services": services}),
    )


def uvicorn_config(app: Litestar, settings: Settings, **extra: object) -> uvicorn.Config:
    """Uvicorn settings for listener traffic: no permessage-deflate (audio does not compress)."""
    server = settings.server
    return uvicorn.Config(
        app,
        host=server.host,
        port=server.port,
        ws_per_message_deflate=False,
        ws_max_size=WS_MAX_MESSAGE_BYTES,
        ssl_certfile=server.tls_cert,
        ssl_keyfile=server.tls_key,
        **extra,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def open_services(settings: Settings, source: AudioSource | None = None) -> AsyncIterator[Services]:
    """Open the input and start the engine (failing early with a clear error); close both on exit."""
    hub = Hub(settings.targets)
    async with AsyncExitStack() as stack:
        source = await stack.enter_async_context(source or open_source(settings.audio))
        engine = await stack.enter_async_context(create_engine(settings))
        yield Services(settings, hub, Pipeline(source, engine, hub))


@asynccontextmanager
async def running(settings: Settings, source: AudioSource | None = None) -> AsyncIterator[Services]:
    """The whole service started in this event loop, until the block ends (``translator eval``, tests).

    ``settings.server.port`` 0 picks a free port; the port in use is written back into the settings.
    """
    async with open_services(settings, source) as services:
        server = uvicorn.Server(uvicorn_config(create_app(services), settings, log_level="warning"))
        task = asyncio.create_task(server.serve(), name="uvicorn")
        try:
            while not server.started:
                if task.done():
                    task.result()
                    raise OSError(f"the server did not start on port {settings.server.port}")
                await asyncio.sleep(0.02)
            settings.server.port = server.servers[0].sockets[0].getsockname()[1]
            yield services
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 10)


async def serve(settings: Settings) -> None:
    """Serve listeners until stopped, printing the URLs to open once the service is up."""
    engine = settings.resolved_engine()
    what = "loading the offline models" if engine == "local" else "connecting to Azure AI Voice Live"
    print(f"translator: starting: {what}…", flush=True)
    async with open_services(settings) as services:
        server = uvicorn.Server(uvicorn_config(create_app(services), settings, log_level="warning"))
        print_urls(settings, services.pipeline.engine.name, services.pipeline.source.description)
        await server.serve()


def print_urls(settings: Settings, engine: str, input_description: str) -> None:
    """Tell the operator what is running and where to point people."""
    base = public_url(settings)
    first = settings.targets[0]
    print(
        f"translator: {engine} engine, {settings.source} → {', '.join(settings.targets)}, "
        f"input: {input_description}"
    )
    print(f"  Audience page:    {base}")
    print(f"  Join (QR code):   {base}join")
    print(f"  Caption overlay:  {base}overlay?lang={first}")
    print(f"  Status:           {base}api/status")
    print("Press Ctrl+C to stop.", flush=True)
