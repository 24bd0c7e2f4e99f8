"""Logging set-up: one line per event, as text or JSON, at the configured level.

Secrets never reach a line: settings mask their secrets in ``repr``, and the Azure SDK, which logs
every message and header it handles at DEBUG, is held at INFO.
"""

from __future__ import annotations

import logging

from pythonjsonlogger.json import JsonFormatter

from translator.config import LogConfig

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure(config: LogConfig, verbose: bool = False) -> None:
    """Replace the root handler with one that writes ``config.format`` lines at ``config.level``."""
    level = logging.INFO if verbose and config.level == "warning" else getattr(logging, config.level.upper())
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonFormatter(JSON_FIELDS) if config.format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("azure").setLevel(max(level, logging.INFO))
    # httpx logs every request's address at INFO: a caption service's carries its signature.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
