"""A WHIP encoder in a process of its own (aiortc, as OBS would be): it publishes a WAV file, looped,
until it is stopped (SIGINT: it ends its session with DELETE) or killed (no goodbye at all).

    python -m harness.whip_encoder http://127.0.0.1:8000/whip KEY talk.wav
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaPlayer


async def publish(url: str, key: str, talk: str) -> None:
    """Publish ``talk`` to ``url`` until cancelled, then end the session."""
    pc = RTCPeerConnection()
    sound = MediaPlayer(talk, loop=True).audio
    assert sound is not None, "a WAV file has sound"
    pc.addTransceiver(sound, direction="sendonly")
    await pc.setLocalDescription(await pc.createOffer())
    auth = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            url, content=pc.localDescription.sdp, headers={"Content-Type": "application/sdp", **auth}
        )
        answer.raise_for_status()
        await pc.setRemoteDescription(RTCSessionDescription(answer.text, "answer"))
        try:
            await asyncio.Event().wait()
        finally:
            await client.delete(httpx.URL(url).join(answer.headers["location"]), headers=auth)
            await pc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("key")
    parser.add_argument("talk")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(publish(args.url, args.key, args.talk))


if __name__ == "__main__":
    main()
