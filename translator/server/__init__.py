"""The Litestar app that listeners connect to."""

from translator.server.app import create_app, serve

__all__ = ["create_app", "serve"]
