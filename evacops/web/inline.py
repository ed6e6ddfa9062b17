"""Static files put inline in a page (the gate's style and script), with the hashes the page's
Content-Security-Policy names so that exactly these inline blocks run.

On Chromium's "slow 3G" profile every request costs a 2 s round trip; a gate page that needs its
HTML, then its style sheet and script, is usable after two. Inline, it is usable after one
(benchmarks/web_gate.py). The files stay in static/ (the other pages link style.css).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class Inline:
    css: str
    js: str
    csp: str  # the page's Content-Security-Policy, allowing these two blocks by hash


def _hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@cache
def gate() -> Inline:
    """The gate page's inline style (static/style.css) and script (static/gate.js)."""
    from evacops.web.app import CSP

    css = (STATIC / "style.css").read_text(encoding="utf-8")
    js = (STATIC / "gate.js").read_text(encoding="utf-8")
    if "</" in css or "</script" in js.lower():
        raise RuntimeError("an inline block may not hold '</': it would end the element early")
    csp = f"{CSP}; script-src 'self' {_hash(js)}; style-src 'self' {_hash(css)}"
    return Inline(css, js, csp)
