"""The time-expanded network that the planner and the simulator share.

- :mod:`evacops.network.compile`: a validated scenario compiled to plain numpy arrays
  (:class:`Network`), indexed by period, site, cohort, arc and move;
- :mod:`evacops.network.keys`: the names of arcs, moves and stations in tables and models, and
  small index helpers.
"""

from evacops.network.compile import Network, compile_network

__all__ = ["Network", "compile_network"]
