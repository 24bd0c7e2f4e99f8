"""The Litestar app that listeners connect to (`app.py`), and its parts; imported part by part, so
that a command that needs one part (a token file, the glossary client) does not load the app."""
