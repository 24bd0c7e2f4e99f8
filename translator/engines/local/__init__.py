"""The offline engine: Silero VAD → faster-whisper → Apertium → espeak-ng, all on this machine."""

from translator.engines.local.engine import LocalEngine

__all__ = ["LocalEngine"]
