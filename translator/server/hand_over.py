"""The ASGI extension by which a listener's handler hands its connection over (see
``listener_connection.py``): the app returns, and the connection lives on."""

from __future__ import annotations

from collections.abc import Callable

from translator.hub import Listener

HAND_OVER = "translator.hand_over"
"""The scope extension holding a WebSocket's `HandOver`."""

HandOver = Callable[[Listener, Callable[[], None]], None]
"""``hand_over(listener, on_gone)``: the connection becomes ``listener``'s; ``on_gone`` is called once
it has ended, whoever ended it."""
