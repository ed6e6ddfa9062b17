"""Names for matching registrations: normal form, transliteration skeleton and tokens.

Afghan names reach the registry romanised by many hands: ``Mohammad``, ``Muhammad``,
``Mohammed``; ``Hussain``, ``Hossein``; ``Abdul Rahman``, ``Abdurrahman``. Matching needs a key
that is the same for all spellings of one name and different for different names.
:func:`skeleton` is that key: a designed rule set for Dari, Pashto and Arabic romanisations
(docs/registry-dedup.md, "Names"). Each rule is written and explained once, in
:data:`LATIN_RULES` and the functions below, in the order they apply.

Native-script (Arabic-script) names are normalised too (diacritics, letter variants,
tatweel, zero-width non-joiner), so they never crash and compare with native-script names; they
are not transliterated, so a native-script name does not match its romanisation.

Nothing here logs or raises with a name in the message.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["LATIN_RULES", "normalise", "skeleton", "tokens"]

# Latin letters that NFKD does not decompose into a base letter and a mark.
_LETTERS = str.maketrans(
    {
        "ø": "o",
        "æ": "ae",
        "œ": "oe",
        "ł": "l",
        "đ": "d",
        "ð": "d",
        "þ": "th",
        "ı": "i",
        "ħ": "h",
    }
)
# Apostrophe-like marks stand for the Arabic ayn or hamza (Ja'far, Sa'id): dropped, no space.
_APOSTROPHES = re.compile(r"['’‘`´ʼʻʿʾ]")
# Arabic-script letter variants folded to one letter; tatweel and zero-width marks dropped.
_ARABIC = str.maketrans(
    {
        "ى": "ي",  # alef maksura -> yeh
        "ی": "ي",  # Persian yeh -> Arabic yeh
        "ې": "ي",  # Pashto yeh
        "ۍ": "ي",  # Pashto yeh
        "ێ": "ي",
        "ک": "ك",  # Persian keheh -> kaf
        "ة": "ه",  # teh marbuta -> heh
        "ۀ": "ه",
        "ە": "ه",
        "ـ": None,  # tatweel
        "\u200c": None,  # zero-width non-joiner (Persian)
        "\u200d": None,
        "\u200f": None,
    }
)
_ARABIC_RANGE = re.compile(r"[\u0600-\u06ff\u0750-\u077f\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufeff]")


@lru_cache(maxsize=200_000)
def normalise(name: str) -> str:
    """Casefolded name without accents, punctuation or hyphens; single spaces between words.

    Apostrophes are dropped (``Ja'far`` -> ``jafar``); hyphens and other punctuation become a
    space (``Abdul-Rahman`` -> ``abdul rahman``). Arabic-script letters are kept, with their
    diacritics removed and letter variants folded.
    """
    s = unicodedata.normalize("NFKD", name.casefold())
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = s.translate(_LETTERS).translate(_ARABIC)
    s = _APOSTROPHES.sub("", s)
    # Every character that is not a letter or a digit (punctuation, hyphens, symbols) -> space.
    s = "".join(c if c.isalnum() else " " for c in s)
    return " ".join(s.split())


# --- Tokens: particles are joined to the word they belong to ---------------------------------
# "abd" and its spellings begin a compound (Abdul Rahman = "servant of the Merciful").
_ABD = {"abd", "abdu", "abdul", "abdal", "abdel", "abdol", "abdur", "abdar", "abdus", "abdas"}
# Arabic article spellings; they join the next word (al-Rashid -> alrashid, ud-Din -> uddin).
_ARTICLES = {"al", "el", "ul", "ol", "ur", "ud", "ad", "ed", "as", "us", "ar", "an", "un", "az"}
# Second halves written apart: Habib Ullah, Nasir ud Din, Ahmad Zai, Tani Khel.
_SUFFIXES = {
    "ullah",
    "ulla",
    "ollah",
    "olla",
    "allah",
    "alla",
    "ulah",
    "olah",
    "uddin",
    "udin",
    "uddeen",
    "eddin",
    "addin",
    "din",
    "deen",
    "zai",
    "zay",
    "khel",
    "khail",
}


@lru_cache(maxsize=200_000)
def tokens(name: str) -> tuple[str, ...]:
    """The words of the normalised name, with particles joined to their word.

    ``Abd al-Rahman`` -> ``("abdalrahman",)``; ``Habib Ullah`` -> ``("habibullah",)``;
    ``Ahmad Zai`` -> ``("ahmadzai",)``; ``Nasir ud Din`` -> ``("nasiruddin",)``.
    """
    words = normalise(name).split()
    out: list[str] = []
    carry = ""
    for w in words:
        if w in _SUFFIXES and (out or carry):
            if carry:
                carry += w
            else:
                out[-1] += w
            continue
        if w in _ABD or w in _ARTICLES:
            carry += w
            continue
        out.append(carry + w)
        carry = ""
    if carry:
        out.append(carry)
    return tuple(out)


# --- Skeleton: Latin rules, in the order they apply to each token ---------------------------
_VOWELS = "aeiouy"
LATIN_RULES: tuple[tuple[str, str, str], ...] = (
    # (pattern, replacement, why)
    (
        r"^abd[aeiou]*(?:l|([a-z])(?=\1))?(?=[a-z])",
        "abdl",
        "abd- compounds: Abdul/Abdel/Abdol/Abdal/Abd al-/Abdur-r (sun-letter assimilation) -> abdl",
    ),
    (r"x", "ks", "x is rare in romanised Dari/Pashto; spelt out so that x can hold sh below"),
    (r"ph", "f", "ph = f"),
    (r"ck", "k", "ck = k"),
    (r"c(?!h)", "k", "c outside ch = k"),
    (r"kh", "k", "kh (Arabic/Persian kha) ~ k: Khalid/Kalid, Khan/Kahn (with the h rule)"),
    (r"q", "k", "q (qaf) ~ k: Qasim/Kasim, Qadir/Kadir"),
    (r"gh", "g", "gh (ghayn) ~ g: Ghulam/Gulam"),
    (r"sh", "x", "sh is one sound (shin); one letter, kept apart from s"),
    (r"ch", "c", "ch is one sound (che); one letter"),
    (r"th", "s", "th (tha) is said s in Dari/Pashto: Uthman/Usman"),
    (r"dh", "z", "dh (dhal) is said z: Dhakir/Zakir"),
    (r"zh|dj", "j", "zh (zhe) and dj are written j too"),
    (r"v", "w", "v ~ w (vav): Vahid/Wahid, Javad/Jawad, Navid/Nawid"),
    (r"ou|oo", "u", "ou, oo = u: Massoud/Masood/Masud, Yousef/Yusef, Haroon/Harun"),
    (r"ee", "i", "ee = i: Waheed/Wahid, Naseer/Nasir"),
    (r"([a-z])\1+", r"\1", "doubled letters are single: Mohammad/Muhamad, Hussain/Husain"),
    (
        r"(?<=[aeiouy])h(?![aeiouy])",
        "",
        "h after a vowel and not before one is dropped: Ahmad/Ahmed ~ Amad, Fatimah/Fatima, "
        "Kahn/Khan, -ullah/-ulla",
    ),
    (r"(?<=[aeiou])w(?=[uo])", "", "w gliding into u is dropped: Dawud/Dawood/Daud"),
    (r"(?<=[aeiou])w(?![aeiouy])", "u", "w closing a syllable is a vowel: Dawlat/Daulat"),
)
_COMPILED = tuple((re.compile(p), r) for p, r, _ in LATIN_RULES)
# y starting a word before a vowel is a consonant (Yusuf); anywhere else it is a vowel.
_Y_CONSONANT = re.compile(r"^y(?=[aeiou])")
_VOWEL_RUN = re.compile(r"[aeiouy]+")
# A vowel run holding one of these is a diphthong (e): Hussain/Hossein/Husayn, Zainab/Zeinab,
# Sayed/Said/Saeed, Ismail/Ismael. Every other run of vowels folds to a.
_DIPHTHONG = re.compile(r"ai|ay|ei|ey|ae")
_DOUBLE = re.compile(r"(.)\1+")


def _vowel_run(m: re.Match[str]) -> str:
    return "e" if _DIPHTHONG.search(m.group(0)) else "a"


def _latin_skeleton(tok: str) -> str:
    for pat, rep in _COMPILED:
        tok = pat.sub(rep, tok)
    start = ""
    if _Y_CONSONANT.match(tok):
        start, tok = "Y", tok[1:]
    tok = _VOWEL_RUN.sub(_vowel_run, tok)
    return (start + tok).lower()


def _arabic_skeleton(tok: str) -> str:
    return _DOUBLE.sub(r"\1", tok)


@lru_cache(maxsize=200_000)
def skeleton(name: str) -> str:
    """The transliteration-folded key of a name (given or family), without spaces.

    Spellings of one name share it: Mohammad, Muhammad, Mohammed, Mohamed, Muhamad ->
    ``mahamad``; Hussain, Husain, Hossein, Husayn -> ``hasen``; Abdul Rahman, Abdulrahman,
    Abdurrahman, Abd al-Rahman -> ``abdlraman``. Words are joined (so a split or joined
    compound gives one key). ``""`` for a name with no letters.
    """
    parts = []
    for tok in tokens(name):
        parts.append(_arabic_skeleton(tok) if _ARABIC_RANGE.search(tok) else _latin_skeleton(tok))
    return _DOUBLE.sub(r"\1", "".join(parts))
