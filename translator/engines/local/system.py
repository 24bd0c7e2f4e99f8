"""Programs from Debian packages that the offline engine runs, and the clear error when one is missing."""

from __future__ import annotations

import shutil

from translator.errors import PermanentEngineError


def require_program(program: str, package: str) -> str:
    """The path of ``program``, or an error naming the Debian package that provides it."""
    path = shutil.which(program)
    if path is None:
        raise PermanentEngineError(
            f"{program} is not installed: the offline engine needs the Debian package {package} "
            f"(sudo apt-get install {package})"
        )
    return path
