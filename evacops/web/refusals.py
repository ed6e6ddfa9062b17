"""The words of a refusal in the page's language.

A refusal the registry gives a gate, the ramp or arrival carries a stable ``code`` and the
``params`` its words need (:class:`evacops.errors.EvacopsError`). The API sends them beside its
English ``detail`` (:mod:`evacops.web.problems`); a page shows :data:`MESSAGES`'s words for the
code, translated by the page's gettext catalog (``python -m evacops.web.catalogs`` adds these
messages to the catalogs with the templates'). The gate page gets them all at once, translated,
for its script (:func:`translated`): an answer that arrives later (a sync, an online scan) is
worded there. A code not listed here is shown in the registry's English words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

_AMBIGUOUS = "More than one credential has this code: ask for the full code or scan the QR code."
_NOT_OURS = "Not a credential of this operation."

#: code -> the English message (a gettext msgid; ``%(name)s`` takes the refusal's params) of
#: the refusals a gate, the ramp, arrival or the picture may be given
_GATE_MESSAGES: dict[str, str] = {
    # the credential itself
    "credential-malformed": "Not a credential: scan the QR code again, or type the short code.",
    "credential-signature": (
        "The credential's signature does not match: forged or altered. Refuse it."
    ),
    "credential-operation": "This credential is for another operation. Refuse it.",
    "credential-revoked": "This credential was revoked: send the holder to a registrar.",
    "credential-expired": "This credential has expired: send the holder to a registrar "
    "for a new one.",
    "credential-unknown": _NOT_OURS,
    "person-merged": "This credential's record was merged into another: send the holder to a "
    "registrar.",
    # short codes typed in
    "code-malformed": "Not a short code: six letters and digits, as printed (e.g. K7Q-2MX).",
    "code-ambiguous": _AMBIGUOUS,
    "code-unknown": _NOT_OURS,
    "too-many-codes": "Too many codes typed: scan the QR code or wait a minute.",
    # boarding and flights
    "already-boarded": "This credential was used for boarding already (single use).",
    "not-checked-in": "Not checked in: check in at %(site)s first.",
    "not-on-manifest": "Not on the manifest of flight %(flight)s: give a reason to board anyway "
    "(logged).",
    "flight-full": "Flight %(flight)s: all %(seats)s seats are taken.",
    "flight-full-laps": "Flight %(flight)s: all %(seats)s lap places are taken.",
    "flight-closed": "Flight %(flight)s has left: no more boarding.",
    "flight-departed": "Flight %(flight)s has left already.",
    "flight-not-departed": "Flight %(flight)s has not departed: record its departure first.",
    "not-on-flight": "Not on flight %(flight)s: report it at reconciliation.",
    "unknown-flight": "Flight %(flight)s is not scheduled in this operation.",
    "flight-needed": "Choose the flight.",
    # where the person is
    "on-a-flight": "Boarded or in flight: deplane first.",
    "not-missing": "Not reported missing.",
    "left-independently": "Left on their own: record 'found' first.",
    "wrong-site": "This device is enrolled at %(enrolled)s, not %(site)s.",
    "unknown-site": "%(site)s is not a site of this operation.",
    "site-needed": "Choose the site of this scan.",
    # the operation, the scan, the caller
    "shredded": "This operation was shredded: its personal data no longer exists.",
    "scan-race": "Another gate changed this flight at the same moment: scan again.",
    "scan-id-reused": "This scan id was used for another scan: give each scan its own id.",
    "seq-reused": "Another scan was synced under this number already.",
    "not-allowed": "Your role may not do this here: ask an admin.",
    # re-plans (the picture's what-if)
    "no-plan": "No plan is attached: a planner attaches the plan first.",
    "plan-other-scenario": "The plan was made for another scenario than the one served: attach "
    "a plan made for it.",
    "plan-without-sorties": "The plan was attached without its sorties: attach its folder again.",
    "replan-not-finished": "This re-plan has not finished with a plan: wait for it, or ask again.",
    "no-scenario": "The service was started without the scenario: an admin sets EVACOPS_SCENARIO.",
    "replans-waiting": "Three re-plans are running or waiting already: ask again when one is done.",
    # offline scans recorded with a conflict (the sync's answer: conflict-<kind>)
    "conflict-two-gates": "Scanned at another gate too: kept for review.",
    "conflict-revoked-while-stale": "Revoked before this scan: kept for review.",
    "conflict-expired": "Expired before this scan: kept for review.",
    "conflict-over-seats": "More boarded than seats: kept for review.",
    "conflict-refused-online": "Would have been refused online: kept for review.",
    "conflict-ambiguous-code": _AMBIGUOUS,
}

#: the refusals only the admin page's forms give: worded there like the others, and left out of
#: what the gate page carries (:func:`translated`), which a phone loads over a slow link
ADMIN_MESSAGES: dict[str, str] = {
    "user-exists": "This user name is taken: choose another.",
    "password-short": "The password is too short: use at least %(min)s characters.",
    "no-such-user": "No such user: add the user first.",
    "user-is-admin": "This user is an admin: an admin has every operation already.",
    "not-an-operation-role": "Not a role in an operation: choose one from the list.",
    "not-a-role": "Not a role: choose one from the list.",
    "not-a-device-role": "Not a role a device may have: choose gate or manifest.",
    "label-needed": "Give the device a label (1 to 100 characters).",
    "confirm-shred": "Type the operation's id exactly to confirm.",
    "unknown-action": "Unknown action: reload the page.",
    "category-needed": "Give the category a name.",
    "cohort-needed": "Give the cohort of the plan this category's people go in.",
    "priority-number": "The priority must be a number 0 or more, such as 1 or 2.5.",
    "category-exists": "This category exists already.",
    "category-exists-retired": "This category exists already, retired: restore it.",
    "not-a-category": "Not a category of this operation.",
    "retired-already": "This category is retired already.",
    "not-retired": "This category is not retired.",
}
ADMIN_CODES = frozenset(ADMIN_MESSAGES)

_KEEP_FIX = 're-plan the aircraft too (leave "Keep the aircraft schedule" unticked).'
#: why a re-plan failed, as the operation picture words it (the planner's error carries the
#: code and its values, :func:`evacops.plan.replan._not_kept`); not on the gate page either
REPLAN_MESSAGES: dict[str, str] = {
    "replan-infeasible": "No plan from this state keeps every constraint (aircraft removed "
    "while away from home, or a site closed that people or aircraft are on their way to): "
    "re-plan from a later moment or with fewer changes.",
    "replan-moment": "The moment to re-plan from is outside the plan's horizon (%(first)s to "
    "%(last)s UTC, on the plan's calendar): attach a plan that covers now, or re-plan from a "
    "moment within it with the API or the command line.",
    "schedule-flown-over": "The sorties flown before the moment leave %(count)s aircraft of "
    "%(fleet)s away from home at %(time)s (%(hours)s h from the moment), where this state "
    "leaves %(left)s: no plan keeps that. Change the aircraft from a later moment.",
    "schedule-site-closed": "The plan's schedule flies %(move)s at %(time)s (%(hours)s h from "
    "the moment), which this state rules out (a site closed): " + _KEEP_FIX,
    "schedule-fleet-over": "The plan's schedule has %(count)s aircraft of %(fleet)s away from "
    "home at %(time)s (%(hours)s h from the moment), where this state leaves %(left)s: "
    + _KEEP_FIX,
    "schedule-not-fit": "The plan's schedule does not fit this state (fewer slots, or people "
    "who cannot all be held): " + _KEEP_FIX,
    "window-hours": "Give the hours to re-plan the aircraft for: above 0 and at most %(max)s.",
    "window-and-kept": "Re-plan the aircraft for some hours, or keep their schedule: choose one "
    "(a kept schedule re-plans no aircraft).",
    "window-not-fit": "The plan's sorties after the first %(hours)s h do not fit this state "
    "(fewer aircraft or slots, or people who cannot all be held): re-plan with a longer window, "
    "or without one.",
}
REPLAN_CODES = frozenset(REPLAN_MESSAGES)
#: every refusal's English words, by code
MESSAGES: dict[str, str] = {**_GATE_MESSAGES, **ADMIN_MESSAGES, **REPLAN_MESSAGES}


def text(
    gettext: Callable[[str], str],
    code: str | None,
    params: Mapping[str, Any] | None = None,
    fallback: str = "",
) -> str:
    """The refusal ``code`` in the language of ``gettext``, filled with ``params``;
    ``fallback`` (the registry's English words) for a code not in :data:`MESSAGES` or params
    that do not fill its words."""
    msgid = MESSAGES.get(code or "")
    if msgid is None:
        return fallback
    try:
        return gettext(msgid) % dict(params or {})
    except (KeyError, TypeError, ValueError):
        return fallback or msgid


def isolate(value: Any) -> str:
    """``value`` in a bidi isolate (U+2068 ... U+2069), so that a time, a signed number of
    hours or a fleet's Latin name keeps its own order inside a right-to-left sentence."""
    return f"\u2068{value}\u2069"


def isolated(params: Mapping[str, Any] | None) -> dict[str, str]:
    """``params`` each in a bidi isolate (:func:`isolate`)."""
    return {k: isolate(v) for k, v in dict(params or {}).items()}


def of_error(gettext: Callable[[str], str], exc: Any) -> str:
    """An :class:`~evacops.errors.EvacopsError` as a page shows it: its code's words in the
    page's language, else its English words."""
    return text(gettext, getattr(exc, "code", None), getattr(exc, "params", None), str(exc))


def translated(gettext: Callable[[str], str]) -> dict[str, str]:
    """Every refusal's words a gate, the ramp or arrival may be given, in the language of
    ``gettext``, by code (for the gate's script, which fills ``%(name)s`` from the answer's
    ``params``); not the admin page's own (:data:`ADMIN_CODES`) nor the picture's
    (:data:`REPLAN_CODES`)."""
    return {code: gettext(msgid) for code, msgid in _GATE_MESSAGES.items()}
