"""Where the service keeps what must outlive a restart on this machine (the operator token, the
caption services' counters): ``$XDG_STATE_HOME/live-translator`` (``~/.local/state/...``)."""

from __future__ import annotations

import os
from pathlib import Path


def state_directory() -> Path:
    """The service's own folder of state (not made here)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "live-translator"
