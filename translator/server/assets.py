"""What a page loads, read from the files themselves: its stylesheets and scripts, every module
they import, worklets and decoders they fetch. The console's own graph is what the operator's
reserve lets through when the public has taken every place (`limits.py`); a list kept by hand
missed two modules and left the console showing "…" exactly when it was needed."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
STATIC = "/static/"

# In HTML: <script src> and <link href>. In scripts: static and dynamic imports, URLs made
# relative to the module, and paths under /static/ written out.
_HTML_REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["'](/static/[^"']+)["']""")
_SCRIPT_REFERENCE = re.compile(
    r"""(?:\bfrom\s*|\bimport\s*\(?\s*|new\s+URL\(\s*)["'](\.{1,2}/[^"']+)["']|["'](/static/[^"']+)["']"""
)


@cache
def loaded_by(page: str) -> frozenset[str]:
    """The ``/static/…`` paths that ``web/{page}`` loads, directly or through its modules."""
    found: set[str] = set()
    waiting = [path for path in _HTML_REFERENCE.findall((WEB_DIR / page).read_text(encoding="utf-8"))]
    while waiting:
        path = waiting.pop()
        if path in found:
            continue
        found.add(path)
        file = WEB_DIR / path.removeprefix(STATIC)
        if file.suffix != ".js" or not file.is_file():
            continue
        folder = path.rsplit("/", 1)[0]
        for relative, absolute in _SCRIPT_REFERENCE.findall(file.read_text(encoding="utf-8")):
            waiting.append(absolute or _join(folder, relative))
    return frozenset(found)


def _join(folder: str, relative: str) -> str:
    parts = folder.split("/")
    for part in relative.split("/"):
        if part == "..":
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)
