"""Languages: English, Dari (``fa``), Pashto (``ps``) and Arabic (``ar``), right to left for the
last three. Catalogs are gettext ``.po`` files in ``locale/<lang>/LC_MESSAGES/messages.po``,
compiled when the service starts (babel; no build step). A request's language: the ``lang``
query parameter, else the ``evacops_lang`` cookie, else the best of ``Accept-Language``, else
English. A page asked with ``?lang=`` sets the cookie (:func:`evacops.web.pages.keep_language`).
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from fastapi import Request

from evacops.web.security import LANG_COOKIE

LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = {"en": "English", "fa": "دری", "ps": "پښتو", "ar": "العربية"}
RTL = frozenset({"fa", "ps", "ar"})
DEFAULT = "en"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog of ``lang`` (English: the messages as written)."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def gettext_of(tr: gettext.NullTranslations):
    """``tr``'s gettext for the pages: a percent sign stays on the line of its number (a
    no-break space before ``%%``; a line break between "-80.8" and "%" read as two figures in a
    right-to-left sentence on a phone)."""

    def _(message: str) -> str:
        return tr.gettext(message).replace(" %%", "\u00a0%%")

    return _


def _accept(header: str) -> str | None:
    best, best_q = None, 0.0
    for part in header.split(","):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        code = tag.strip().lower().split("-")[0]
        if code in LANGUAGES and q > best_q:
            best, best_q = code, q
    return best


def language(request: Request) -> str:
    for candidate in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if candidate in LANGUAGES:
            return candidate
    return _accept(request.headers.get("accept-language", "")) or DEFAULT


def direction(lang: str) -> str:
    return "rtl" if lang in RTL else "ltr"
