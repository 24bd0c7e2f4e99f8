"""Azure OpenAI's chat completions (the v1 API) on 127.0.0.1, for the summaries' tests: the real
``openai`` SDK talks to it.

``POST /openai/v1/chat/completions`` as Azure answers it: the key in ``api-key`` (401 with Azure's
error body otherwise), the deployment in ``model`` (404 ``DeploymentNotFound`` for another), and a
``chat.completion`` with its ``usage``. Its summary is made from the request, so a test can tell
which transcript went to which language: the language the instructions name, then the transcript's
first line without its time.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from harness.service_server import LocalServer

LANGUAGE = re.compile(r"Write the summary in (.+?), in at most (\d+) words")
TIME = re.compile(r"^\[\d\d:\d\d:\d\d\] ")


@dataclass
class ChatRequest:
    """One request the service took."""

    model: str
    instructions: str
    transcript: str


@dataclass
class FakeChat(LocalServer):
    """The resource, with ``deployment`` deployed and ``key`` its API key."""

    deployment: str = "gpt-4.1-mini"
    key: str = "chat-secret-key"
    requests: list[ChatRequest] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        super().__init__()

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/openai/v1/chat/completions", self._complete)

    async def _complete(self, request: web.Request) -> web.Response:
        if request.headers.get("api-key") != self.key:
            return _error(401, "401", "Access denied due to invalid subscription key or wrong API endpoint.")
        body: dict[str, Any] = await request.json()
        if body.get("model") != self.deployment:
            return _error(404, "DeploymentNotFound", "The API deployment for this resource does not exist.")
        messages = body.get("messages")
        if not isinstance(messages, list):
            return _error(400, "invalid_request_error", "messages: required")
        roles = [m.get("role") for m in messages]
        if roles != ["system", "user"] or not all(isinstance(m.get("content"), str) for m in messages):
            return _error(400, "invalid_request_error", "messages: a system and a user message, as text")
        instructions, transcript = messages[0]["content"], messages[1]["content"]
        self.requests.append(ChatRequest(body["model"], instructions, transcript))
        named = LANGUAGE.search(instructions)
        if named is None:
            return _error(400, "invalid_request_error", "the test service wants the language named")
        first = TIME.sub("", transcript.splitlines()[0]) if transcript else ""
        content = f"{named.group(1)}: {first}"
        prompt, completion = len((instructions + transcript).split()), len(content.split())
        return web.json_response(
            {
                "id": f"chatcmpl-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": "gpt-4.1-mini-2025-04-14",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "total_tokens": prompt + completion,
                },
            }
        )


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)
