"""The linopy model of the time-expanded network, built in vectorised blocks.

Variables (named ``Component-attr``, indexed like the network arrays):

- ``Site-hold[cohort, site, period]``: people of a cohort waiting at a site at the end of a period;
- ``Arc-flow[cohort, arc, period]``: people who set off on an arc (ground leg, or air leg flown by
  a fleet) in a period; they arrive ``arc_delay`` periods later;
- ``Move-sorties[move, period]``: sorties of a fleet on an air leg (outbound or back) leaving in a
  period; integer with ``integer=True``;
- ``Station-idle[station, period]``: aircraft of a fleet ready and idle at an airfield.

One function per constraint family, each over all components and periods at once: rows are built
by gathering variable labels with numpy (no Python loop per aircraft, arc or period) and handed to
linopy as a :class:`linopy.LinearExpression` of padded terms.
"""

from __future__ import annotations

import linopy
import numpy as np
import xarray as xr

from evacops.network import Network
from evacops.network.keys import padded

TERM = "_term"


def gather(labels: np.ndarray, idx: np.ndarray, lag: np.ndarray) -> np.ndarray:
    """Labels ``labels[..., idx[r, k], t - lag[r, k]]`` as an array ``(..., R, T, K)``.

    ``labels`` is ``(..., X, T)``; ``idx`` and ``lag`` are ``(R, K)``; a padded (``idx < 0``) or
    out-of-horizon term gives label -1, which linopy ignores.
    """
    T = labels.shape[-1]
    t = np.arange(T)[None, :, None] - lag[:, None, :]  # (R, T, K)
    ok = (t >= 0) & (idx[:, None, :] >= 0)
    ii = np.broadcast_to(np.where(idx >= 0, idx, 0)[:, None, :], t.shape)
    out = labels[..., ii, np.where(ok, t, 0)]
    return np.where(ok, out, -1)


class Builder:
    """Builds the model of one :class:`Network` (see module docs)."""

    def __init__(
        self,
        net: Network,
        integer: bool = False,
        sortie_bounds: tuple[np.ndarray, np.ndarray] | None = None,
        seat_demand: np.ndarray | None = None,
        shortfall_value: np.ndarray | None = None,
    ):
        """``seat_demand`` (arc x period, people) builds the aircraft-only repair model instead:
        no people variables; whole sorties that cover the demand, shortfalls priced by
        ``self.shortfall_value`` (see :meth:`define_seat_cover`)."""
        self.net = net
        self.m = linopy.Model()
        n = net
        T = n.T
        self.coords = {
            "cohort": n.cohorts,
            "site": n.sites,
            "arc": n.arc_name,
            "move": n.move_names,
            "station": n.station_names,
            "period": np.arange(T),
        }
        self.integer = integer
        self.sortie_bounds = sortie_bounds
        self.seat_demand = seat_demand
        self.shortfall_value = shortfall_value
        self._variables()

    # ---- helpers -----------------------------------------------------------------------------
    def _da(self, arr: np.ndarray, dims: list[str]) -> xr.DataArray:
        return xr.DataArray(arr, coords={d: self.coords[d] for d in dims}, dims=dims)

    def _terms(
        self, parts: list[tuple[np.ndarray, np.ndarray | float]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """(labels, coeffs) of (labels (*dims, K), coeff) parts concatenated on the terms."""
        shape = np.broadcast_shapes(*[p[0].shape[:-1] for p in parts])
        vs, cs = [], []
        for labels, coeff in parts:
            labels = np.broadcast_to(labels, (*shape, labels.shape[-1]))
            vs.append(labels)
            cs.append(np.where(labels >= 0, np.broadcast_to(coeff, labels.shape), 0.0))
        return np.concatenate(vs, axis=-1), np.concatenate(cs, axis=-1).astype(float)

    def _expr(self, v: np.ndarray, c: np.ndarray, dims: list[str]) -> linopy.LinearExpression:
        coords = {d: self.coords[d] for d in dims}
        ds = xr.Dataset({"coeffs": ([*dims, TERM], c), "vars": ([*dims, TERM], v)}, coords=coords)
        ds["const"] = xr.DataArray(np.zeros(v.shape[:-1]), coords=coords, dims=dims)
        return linopy.LinearExpression(ds, self.m)

    def _con(
        self,
        name: str,
        parts,
        dims: list[str],
        sign: str,
        rhs: np.ndarray,
        mask: np.ndarray | None = None,
    ) -> None:
        v, c = self._terms(parts)
        rhs = np.broadcast_to(rhs, v.shape[:-1])
        keep = np.isfinite(rhs) & (v.max(axis=-1) >= 0)
        if mask is not None:
            keep &= mask
        if not keep.any():
            return
        self.m.add_constraints(
            self._expr(v, c, dims),
            sign,
            self._da(np.where(keep, rhs, 0.0), dims),
            name=name,
            mask=self._da(keep, dims),
        )

    def _per_period(self, values: np.ndarray) -> np.ndarray:
        """A per-entity limit as (entity, period)."""
        return np.broadcast_to(values[:, None], (values.shape[0], self.net.T))

    # ---- variables ---------------------------------------------------------------------------
    def _variables(self) -> None:
        n, m, T = self.net, self.m, self.net.T
        self._aircraft_variables()
        if self.seat_demand is not None:
            # backlog of people waiting for seats on an air arc, from its first demand on
            first = np.cumsum(self.seat_demand > 1e-9, axis=1) > 0
            air = (n.arc_move >= 0)[:, None] & first
            self.short = m.add_variables(
                lower=0,
                name="Arc-backlog",
                coords=[self.coords["arc"], self.coords["period"]],
                dims=["arc", "period"],
                mask=self._da(air, ["arc", "period"]),
            )
            self.L_short = self.short.labels.values
            return
        C = len(n.cohorts)
        allowed_site = np.zeros((C, len(n.sites)), dtype=bool)
        for ci in range(C):
            allowed_site[ci, n.arc_from[n.arc_allowed[ci]]] = True
            allowed_site[ci, n.arc_to[n.arc_allowed[ci]]] = True
            allowed_site[ci, n.appear[ci].sum(axis=1) > 0] = True
        hold_mask = np.broadcast_to(allowed_site[:, :, None], (C, len(n.sites), T))
        self.hold = m.add_variables(
            lower=0,
            name="Site-hold",
            coords=[self.coords[d] for d in ("cohort", "site", "period")],
            dims=["cohort", "site", "period"],
            mask=self._da(hold_mask, ["cohort", "site", "period"]),
        )
        flow_mask = n.arc_allowed[:, :, None] & n.arc_open[None, :, :]
        self.flow = m.add_variables(
            lower=0,
            name="Arc-flow",
            coords=[self.coords[d] for d in ("cohort", "arc", "period")],
            dims=["cohort", "arc", "period"],
            mask=self._da(flow_mask, ["cohort", "arc", "period"]),
        )
        self.L_hold = self.hold.labels.values
        self.L_flow = self.flow.labels.values

    def _aircraft_variables(self) -> None:
        n, m = self.net, self.m
        lower: float | xr.DataArray = 0.0
        upper: float | xr.DataArray = np.inf
        if self.sortie_bounds is not None:
            lower = self._da(self.sortie_bounds[0], ["move", "period"])
            upper = self._da(self.sortie_bounds[1], ["move", "period"])
        self.sortie = m.add_variables(
            lower=lower,
            upper=upper,
            name="Move-sorties",
            coords=[self.coords["move"], self.coords["period"]],
            dims=["move", "period"],
            integer=self.integer,
            mask=self._da(n.move_open, ["move", "period"]),
        )
        self.idle = m.add_variables(
            lower=0,
            name="Station-idle",
            coords=[self.coords["station"], self.coords["period"]],
            dims=["station", "period"],
        )
        self.L_sortie = self.sortie.labels.values
        self.L_idle = self.idle.labels.values

    # ---- constraint families -----------------------------------------------------------------
    def define_people_balance(self) -> None:
        """hold[t] - hold[t-1] - arrivals[t] + departures[t] = appearing[t], per cohort and site."""
        n = self.net
        S = len(n.sites)
        ins = padded([list(np.flatnonzero(n.arc_to == s)) for s in range(S)])
        outs = padded([list(np.flatnonzero(n.arc_from == s)) for s in range(S)])
        in_lag = np.where(ins >= 0, n.arc_delay[np.maximum(ins, 0)], 0)
        me = np.arange(S)[:, None]
        parts = [
            (gather(self.L_hold, me, np.zeros_like(me)), 1.0),
            (gather(self.L_hold, me, np.ones_like(me)), -1.0),
            (gather(self.L_flow, ins, in_lag), -1.0),
            (gather(self.L_flow, outs, np.zeros_like(outs)), 1.0),
        ]
        rhs = n.appear
        mask = self.L_hold >= 0
        # a site a cohort may not be at has no hold variable: its rows must still hold 0 = 0
        self._con("Site-balance", parts, ["cohort", "site", "period"], "=", rhs, mask)

    def define_holding_limits(self) -> None:
        """Sum over cohorts of people waiting at a site <= its holding capacity, every period."""
        lab = np.moveaxis(self.L_hold, 0, -1)  # (S, T, C)
        self._con("Site-holding", [(lab, 1.0)], ["site", "period"], "<=", self.net.cap)

    def define_processing_rates(self) -> None:
        """People leaving a site in a period <= its processing rate (screening, out-processing)."""
        n = self.net
        S = len(n.sites)
        outs = padded([list(np.flatnonzero(n.arc_from == s)) for s in range(S)])
        g = gather(self.L_flow, outs, np.zeros_like(outs))  # (C, S, T, K)
        lab = np.moveaxis(g, 0, -1).reshape(S, n.T, -1)
        rhs = self._per_period(n.rate)
        self._con("Site-processing", [(lab, 1.0)], ["site", "period"], "<=", rhs)

    def define_ground_capacity(self) -> None:
        """People setting off on a ground leg in a period <= its capacity."""
        n = self.net
        lab = np.moveaxis(self.L_flow, 0, -1)  # (A, T, C)
        rhs = self._per_period(n.arc_cap)
        self._con("Arc-capacity", [(lab, 1.0)], ["arc", "period"], "<=", rhs)

    def define_seat_capacity(self) -> None:
        """People on a fleet's sorties on an air leg <= planning load x sorties."""
        n = self.net
        air = n.arc_move >= 0
        lab = np.moveaxis(self.L_flow, 0, -1)  # (A, T, C)
        mv = np.where(air, n.arc_move, 0)
        sl = np.where(air[:, None], self.L_sortie[mv], -1)[..., None]  # (A, T, 1)
        load = n.fleet_load[n.move_fleet[mv]][:, None, None]
        rhs = np.where(air[:, None], 0.0, np.inf) * np.ones((1, n.T))
        self._con("Arc-seats", [(lab, 1.0), (sl, -load)], ["arc", "period"], "<=", rhs)

    def define_aircraft_balance(self) -> None:
        """idle[t] - idle[t-1] + departures[t] - ready arrivals[t] = aircraft supplied[t]."""
        n = self.net
        K = len(n.stations)
        ins = padded([list(np.flatnonzero(n.move_to_station == k)) for k in range(K)])
        outs = padded([list(np.flatnonzero(n.move_from_station == k)) for k in range(K)])
        in_lag = np.where(ins >= 0, n.move_ready[np.maximum(ins, 0)], 0)
        me = np.arange(K)[:, None]
        parts = [
            (gather(self.L_idle, me, np.zeros_like(me)), 1.0),
            (gather(self.L_idle, me, np.ones_like(me)), -1.0),
            (gather(self.L_sortie, outs, np.zeros_like(outs)), 1.0),
            (gather(self.L_sortie, ins, in_lag), -1.0),
        ]
        supply = np.zeros((K, n.T))
        supply[n.fleet_home_station, 0] = n.fleet_count
        self._con("Station-balance", parts, ["station", "period"], "=", supply)

    def define_fleet_availability(self) -> None:
        """Aircraft idle at home >= aircraft that exist - aircraft available, every period."""
        n = self.net
        K = len(n.stations)
        need = np.full((K, n.T), -np.inf)
        short = n.fleet_count[:, None] - n.fleet_avail  # (F, T)
        need[n.fleet_home_station] = np.where(short > 0, short, -np.inf)
        lab = self.L_idle[:, :, None]
        self._con("Station-availability", [(lab, 1.0)], ["station", "period"], ">=", need)

    def _window(self, base: np.ndarray, lag0: np.ndarray, w: int) -> tuple[np.ndarray, np.ndarray]:
        """Index/lag arrays covering lags lag0 .. lag0 + w - 1 for each entry of base."""
        idx = np.repeat(base, w, axis=1)
        lag = np.repeat(lag0, w, axis=1) + np.tile(np.arange(w), base.shape[1])[None, :]
        return idx, np.where(idx >= 0, lag, 0)

    def define_slots(self) -> None:
        """Departures (arrivals) at an airfield within any slot window <= the slots it allows
        (see :meth:`Network.slot_windows`)."""
        n = self.net
        S = len(n.sites)
        for name, ends, attr, lag_of in (
            ("Airfield-departures", n.move_from, "dep_slots", None),
            ("Airfield-arrivals", n.move_to, "arr_slots", n.move_land),
        ):
            w, most = n.slot_windows(getattr(n, attr))
            W = int(w.max())
            base = padded([list(np.flatnonzero(ends == s)) for s in range(S)])
            lag0 = (
                np.zeros_like(base)
                if lag_of is None
                else np.where(base >= 0, lag_of[np.maximum(base, 0)], 0)
            )
            idx, lag = self._window(base, lag0, W)
            offset = np.tile(np.arange(W), base.shape[1])[None, :]
            idx = np.where(offset < w[:, None], idx, -1)  # each site its own window
            self._con(
                name,
                [(gather(self.L_sortie, idx, lag), 1.0)],
                ["site", "period"],
                "<=",
                self._per_period(most),
            )

    def define_mog(self) -> None:
        """Aircraft on the ground at an airfield (idle, or in their ground time) <= its MOG."""
        n = self.net
        S = len(n.sites)
        st_site = np.array([s for _, s in n.stations])
        idle_idx = padded([list(np.flatnonzero(st_site == s)) for s in range(S)])
        groups_i, groups_l = [], []
        for s in range(S):
            ii, ll = [], []
            for m in np.flatnonzero(n.move_to == s):
                for k in range(n.move_land[m], n.move_ready[m]):
                    ii.append(m)
                    ll.append(k)
            groups_i.append(ii)
            groups_l.append(ll)
        gi, gl = padded(groups_i), padded(groups_l, 0)
        # aircraft not yet (or no longer) available are held idle at home but are not on its
        # ground: they do not count against the MOG
        away = np.zeros((S, n.T))
        home_site = st_site[n.fleet_home_station]
        np.add.at(away, home_site, np.maximum(n.fleet_count[:, None] - n.fleet_avail, 0.0))
        rhs = self._per_period(n.mog) + away
        self._con(
            "Airfield-mog",
            [
                (gather(self.L_idle, idle_idx, np.zeros_like(idle_idx)), 1.0),
                (gather(self.L_sortie, gi, gl), 1.0),
            ],
            ["site", "period"],
            "<=",
            rhs,
        )

    # ---- objective -------------------------------------------------------------------------
    def define_objective(self) -> None:
        """Minimise -(people off the evacuation airport, weighted by priority and earliness)
        - delivery weight x (people at destinations, likewise) + sortie weight x sorties
        + gate-wait weight x person-hours waiting in front of gates."""
        n = self.net
        ob = n.scenario.objective
        T, dt = n.T, n.period_h
        remaining_h = (T - np.arange(T)) * dt  # hours of the horizon left from period t on
        out = n.out_arcs
        dest = n.dest_sites[n.arc_to]
        C, A = len(n.cohorts), len(n.arc_name)
        arr_t = np.arange(T)[None, :] + n.arc_delay[:, None]  # (A, T) arrival period
        arr_rem = np.where(arr_t < T, (T - arr_t) * dt, 0.0)
        coef = np.zeros((C, A, T))
        coef -= ob.evacuation * n.priority[:, None, None] * out[None, :, None] * remaining_h
        coef -= ob.delivery * n.priority[:, None, None] * dest[None, :, None] * arr_rem[None]
        coef = np.where(self.L_flow >= 0, coef, 0.0)
        self.flow_coef = coef
        terms = [
            linopy.LinearExpression(
                xr.Dataset(
                    {
                        "coeffs": (["_term"], coef.ravel()[coef.ravel() != 0]),
                        "vars": (["_term"], self.L_flow.ravel()[coef.ravel() != 0]),
                    }
                ),
                self.m,
            ),
        ]
        sv = self.L_sortie.ravel()
        sv = sv[sv >= 0]
        terms.append(
            linopy.LinearExpression(
                xr.Dataset(
                    {"coeffs": (["_term"], np.full(sv.shape, ob.sortie)), "vars": (["_term"], sv)}
                ),
                self.m,
            )
        )
        # people waiting in front of a gate: a small cost per person and hour, so that they are
        # called forward when the gate can take them (the evacuation terms do not mind where
        # people wait who will not be out by the deadline anyway)
        gate = n.site_kind == "gate"
        gh = self.L_hold[:, gate, :].ravel()
        gh = gh[gh >= 0]
        expr = terms[0] + terms[1]
        if gh.size and ob.gate_wait > 0:
            expr = expr + linopy.LinearExpression(
                xr.Dataset(
                    {
                        "coeffs": (["_term"], np.full(gh.shape, ob.gate_wait * dt)),
                        "vars": (["_term"], gh),
                    }
                ),
                self.m,
            )
        self.m.add_objective(expr)

    def define_seat_cover(self) -> None:
        """Repair model: a backlog of people on each air arc that whole sorties must work off.

        backlog[t] >= backlog[t-1] + people the LP put on the arc in t - load x sorties[t]
        (seats not used in a period are lost, never carried forward). The objective prices a
        person waiting one more period at what one period of earliness is worth on that arc, and
        one still waiting at the end of the horizon at the full value of flying them; plus the
        sortie weight. A person may thus take a later sortie at the cost of the delay, which a
        per-period cover would count as a person lost.
        """
        n = self.net
        T = n.T
        assert self.seat_demand is not None  # set by the repair, which alone adds this family
        air = n.arc_move >= 0
        mv = np.where(air, n.arc_move, 0)
        sl = np.where(air[:, None], self.L_sortie[mv], -1)[..., None]  # (A, T, 1)
        load = n.fleet_load[n.move_fleet[mv]][:, None, None]
        back = self.L_short
        prev = np.concatenate([np.full((back.shape[0], 1), -1), back[:, :-1]], axis=1)
        demand = np.where(air[:, None], self.seat_demand, 0.0)
        self._con(
            "Arc-seat-cover",
            [(back[..., None], 1.0), (prev[..., None], -1.0), (sl, load)],
            ["arc", "period"],
            ">=",
            np.where(back >= 0, demand, -np.inf),
            mask=back >= 0,
        )
        value = np.asarray(self.shortfall_value, dtype=float)  # (A, T) value of flying one at t
        delay = np.maximum(
            value - np.concatenate([value[:, 1:], np.zeros((len(value), 1))], axis=1), 1e-3
        )
        delay[:, T - 1] = np.maximum(value[:, T - 1], 1.0)
        keep = back.ravel() >= 0
        sv = self.L_sortie.ravel()
        sv = sv[sv >= 0]
        coeffs = np.concatenate(
            [delay.ravel()[keep], np.full(sv.shape, n.scenario.objective.sortie)]
        )
        labels = np.concatenate([back.ravel()[keep], sv])
        self.m.add_objective(
            linopy.LinearExpression(
                xr.Dataset({"coeffs": (["_term"], coeffs), "vars": (["_term"], labels)}), self.m
            )
        )

    def build(self) -> linopy.Model:
        if self.seat_demand is not None:
            self.define_aircraft_balance()
            self.define_fleet_availability()
            self.define_slots()
            self.define_mog()
            self.define_seat_cover()
            return self.m
        self.define_people_balance()
        self.define_holding_limits()
        self.define_processing_rates()
        self.define_ground_capacity()
        self.define_seat_capacity()
        self.define_aircraft_balance()
        self.define_fleet_availability()
        self.define_slots()
        self.define_mog()
        self.define_objective()
        return self.m
