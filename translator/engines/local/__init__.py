"""The offline engine: Silero VAD → faster-whisper → Apertium → espeak-ng, all on this machine."""
