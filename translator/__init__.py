"""Live speech translation: one speaker, many languages, audio and captions to every listener."""

__version__ = "0.1.0"
