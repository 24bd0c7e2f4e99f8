"""Headless Chromium as the tests and benchmarks launch it."""

from __future__ import annotations

# Headless Chromium as testing.md describes it; venue.test is a plain-http origin that is not
# localhost, as a phone on the venue network sees the page (an insecure context).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--host-resolver-rules=MAP venue.test 127.0.0.1",
]
