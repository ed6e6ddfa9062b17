"""The one exception family of evacops.

A subclass of :class:`UserError` is a mistake in what the user gave us (a file, an option): the
CLI prints its message on one line and exits with status 2. Anything else escaping is a bug.

Services and solvers speak of their own parameters, never of a command's flags: an error about
one input says which in ``field`` (the parameter's name, e.g. ``runs``) and ``value`` (what was
given), and its message is the problem and the fix (``must be 1 or more runs``). ``str()`` reads
``runs 0: must be 1 or more runs``; each edge words it for its user (the CLI as ``--runs 0: ...``
through :func:`evacops.cli.output.describe`, the web service as the form field or JSON member).

A refusal that a person at a gate, the ramp or arrival is shown also carries ``code``, a stable
machine name (``already-boarded``, ``not-on-manifest``, ``wrong-site``, ...), and ``params``, the
values its words need that are not personal (a flight code, a site, a credential's short code):
the API sends both beside the English ``detail``, and the pages show the message of ``code`` in
the page's language (:mod:`evacops.web.refusals`).
"""

from __future__ import annotations

from collections.abc import Mapping


class EvacopsError(Exception):
    """Base of every error evacops raises on purpose.

    ``field``/``value``: the input the error is about, if it is about one (see the module's
    docstring); ``problem``: the message without them; ``code``/``params``: the refusal's
    machine name and the values its words need (see the module's docstring).
    """

    field: str | None = None
    value: object = None
    code: str | None = None

    def __init__(
        self,
        message: str = "",
        *,
        field: str | None = None,
        value: object = None,
        code: str | None = None,
        params: Mapping[str, str | int] | None = None,
    ):
        self.problem = message
        self.field = field
        self.value = value
        if code is not None:
            self.code = code
        self.params = dict(params or {})
        if field is not None:
            shown = "" if value is None else f" {value}"
            message = f"{field}{shown}: {message}"
        super().__init__(message)


class UserError(EvacopsError):
    """A mistake in the user's input; the message names the place and the fix."""


class ScenarioError(UserError):
    """A scenario file that cannot be read or does not validate.

    ``problems`` holds every problem found, one line each; ``str()`` gives the first and a count.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        first = self.problems[0] if self.problems else "invalid scenario"
        more = len(self.problems) - 1
        super().__init__(first + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""))


class InstanceError(UserError):
    """A network instance file (docs/routing.md) that cannot be read or does not make sense.

    The message is one line naming ``file:line`` and the fix.
    """


class InfeasibleError(UserError):
    """The scenario admits no plan; the message says which cohort or constraint makes it so."""


class SolverError(EvacopsError):
    """The solver failed for a reason that is not the scenario's (time limit, numerical trouble)."""


class PlanFolderError(UserError):
    """A plan folder (``evacops simulate --plan DIR``) that cannot be followed: missing, not a
    plan, or made for another scenario. The message is one line with the fix."""


class SchedulerError(UserError):
    """A Dask scheduler that cannot be reached (``evacops simulate --scheduler``)."""


class RegistryError(UserError):
    """A registry request that cannot be carried out (unknown operation, person, flight, site;
    a state that does not allow the action). One line, never holding personal data."""


class AccessDenied(RegistryError):
    """The acting user's role does not allow the action (docs/registry.md, Roles)."""


class RateLimited(RegistryError):
    """Too many requests of one kind by one user in a short time (e.g. short codes typed at a
    gate); the message says when to try again."""


class CredentialError(RegistryError):
    """A credential that is malformed, forged, expired, revoked, for another operation or
    already used for boarding."""


class RegistrationFileError(RegistryError):
    """A registration file (CSV/XLSX) with bad rows; nothing from it was imported.

    ``problems`` holds one line per bad row (``file:line: column: problem; fix``), never the
    cell's value, since the values are personal data.
    """

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        first = self.problems[0] if self.problems else "invalid registration file"
        more = len(self.problems) - 1
        super().__init__(first + (f" (and {more} more bad row{'s' * (more > 1)})" if more else ""))
