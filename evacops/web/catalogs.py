"""Write the web service's gettext catalogs (evacops/web/locale/<lang>/LC_MESSAGES/messages.po)
from the messages the templates, the navigation and the refusals (evacops/web/refusals.py)
use: ``python -m evacops.web.catalogs [TRANSLATIONS.py]`` merges the translations a file gives
(``T = {msgid: (fa, ps, ar)}``) with the catalogs there are, and lists the messages still
missing. The service compiles the .po files when it starts (no build step)."""

from __future__ import annotations

import re
import runpy
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent
LANGS = ("fa", "ps", "ar")
_MSG = re.compile(r"""_\((?:"([^"]+)"|'([^']+)')\)""")


def msgids() -> list[str]:
    found = set()
    for f in sorted((ROOT / "templates").glob("*.html")):
        found |= {a or b for a, b in _MSG.findall(f.read_text())}
    from evacops.web.pages import NAV
    from evacops.web.refusals import MESSAGES

    found |= {label for *_, label in NAV}
    found |= set(MESSAGES.values())
    return sorted(found)


def main(argv: list[str]) -> int:
    given = runpy.run_path(argv[0])["T"] if argv else {}
    missing = 0
    for i, lang in enumerate(LANGS):
        po = ROOT / "locale" / lang / "LC_MESSAGES" / "messages.po"
        old = {}
        if po.exists():
            with po.open("rb") as f:
                old = {m.id: m.string for m in read_po(f) if m.id}
        cat = Catalog(locale=lang, project="evacops", charset="utf-8", fuzzy=False)
        for mid in msgids():
            text = given[mid][i] if mid in given else old.get(mid, "")
            missing += not text
            cat.add(mid, text)
        po.parent.mkdir(parents=True, exist_ok=True)
        with po.open("wb") as f:
            write_po(f, cat, omit_header=False, width=100)
    print(f"{len(msgids())} messages; {missing} translations missing")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
