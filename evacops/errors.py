"""The one exception family of evacops.

A subclass of :class:`UserError` is a mistake in what the user gave us (a file, an option): the
CLI prints its message on one line and exits with status 2. Anything else escaping is a bug.
"""

from __future__ import annotations


class EvacopsError(Exception):
    """Base of every error evacops raises on purpose."""


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
