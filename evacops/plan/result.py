"""The plan a planner can use: tidy DataFrames of people, flows, sorties and a per-aircraft
schedule, completion per cohort and the summary printed by ``evacops plan --json``."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from evacops.network import Network
from evacops.plan import whole_cost
from evacops.plan.gates import gate_densities
from evacops.plan.highs import Solution
from evacops.plan.priority import priority_summary
from evacops.plan.tails import assign_tails

EPS = 1e-6


def _whole(x: float) -> int:
    return int(np.floor(x + EPS))


def largest_remainder(values: np.ndarray, total: int) -> np.ndarray:
    """Whole numbers summing to ``total`` and each within 1 of ``values`` (Hamilton's method)."""
    base = np.floor(values + EPS).astype(int)
    short = total - int(base.sum())
    if short > 0:
        order = np.argsort(-(values - base), kind="stable")
        base[order[:short]] += 1
    return base


@dataclass
class Plan:
    network: Network
    lp: Solution
    final: Solution
    integer: bool
    repair: dict | None = None
    binding: list = field(default_factory=list)
    wall_s: float = 0.0
    moment: int = 0
    """A re-plan's first period: its sorties before it were flown (fixed, from the plan it
    re-plans) and its people start there, so it knows no loads before it."""
    schedule_kept: bool = False
    """A re-plan of the people alone, on the whole sorties of the plan it re-plans
    (:func:`evacops.plan.replan.replan_people`): no LP, so no bound (``lp`` is ``final``)."""
    window_end: int | None = None
    """A re-plan of the aircraft in a window (:func:`evacops.plan.replan.replan` with
    ``window_h``): the first period after it, from which the plan's sorties were kept; its LP
    bound holds for schedules that keep them."""
    crews_held: dict | None = None
    """What holding every aircraft to its crew cost (:func:`evacops.plan.tails.held_crews`):
    sorties dropped, people out by the deadline lost; None if no fleet has a crew limit or the
    sorties were not re-planned (a re-plan of the people alone)."""

    # ---- basic quantities ----------------------------------------------------------------------
    @property
    def scenario(self):
        return self.network.scenario

    @property
    def times(self) -> pd.DatetimeIndex:
        return self.network.timeline.index()

    @cached_property
    def sortie_counts(self) -> np.ndarray:
        """Whole sorties (move x period)."""
        return np.round(self.final.sorties).astype(int)

    @cached_property
    def out_by_period(self) -> np.ndarray:
        """People of each cohort leaving the evacuation airport in each period (C x T)."""
        return self.final.flow[:, self.network.out_arcs, :].sum(axis=1)

    @cached_property
    def delivered_by_period(self) -> np.ndarray:
        """People of each cohort reaching a destination in each period (C x T)."""
        net = self.network
        out = np.zeros((len(net.cohorts), net.T))
        for a in np.flatnonzero(net.dest_sites[net.arc_to]):
            d = int(net.arc_delay[a])
            if d < net.T:  # (a leg longer than the horizon delivers nobody within it)
                out[:, d:] += self.final.flow[:, a, : net.T - d]
        return out

    # ---- tidy DataFrames -------------------------------------------------------------------------
    def people(self) -> pd.DataFrame:
        """People waiting by period, site and cohort (non-zero rows)."""
        net = self.network
        c, s, t = np.nonzero(self.final.hold > EPS)
        return pd.DataFrame(
            {
                "time": self.times[t],
                "period": t,
                "site": np.array(net.sites)[s],
                "cohort": np.array(net.cohorts)[c],
                "people": self.final.hold[c, s, t],
            }
        )

    def flows(self) -> pd.DataFrame:
        """People setting off on each arc, by period and cohort (non-zero rows)."""
        net = self.network
        c, a, t = np.nonzero(self.final.flow > EPS)
        fleet = np.array([net.fleets[net.move_fleet[m]] if m >= 0 else "" for m in net.arc_move])
        return pd.DataFrame(
            {
                "time": self.times[t],
                "period": t,
                "leg": np.array(net.arc_leg)[a],
                "kind": net.arc_kind[a],
                "fleet": fleet[a],
                "origin": np.array(net.sites)[net.arc_from[a]],
                "destination": np.array(net.sites)[net.arc_to[a]],
                "cohort": np.array(net.cohorts)[c],
                "people": self.final.flow[c, a, t],
                "arrival": [net.timeline.time_of(int(x)) for x in t + net.arc_delay[a]],
            }
        )

    def sorties(self) -> pd.DataFrame:
        """Sorties by fleet, leg, direction and departure period (non-zero rows)."""
        net = self.network
        m, t = np.nonzero(self.sortie_counts > 0)
        return pd.DataFrame(
            {
                "time": self.times[t],
                "period": t,
                "fleet": np.array(net.fleets)[net.move_fleet[m]],
                "leg": np.array(net.move_leg)[m],
                "direction": np.where(net.move_forward[m], "outbound", "back"),
                "origin": np.array(net.sites)[net.move_from[m]],
                "destination": np.array(net.sites)[net.move_to[m]],
                "sorties": self.sortie_counts[m, t],
                "arrival": [net.timeline.time_of(int(x)) for x in t + net.move_land[m]],
            }
        )

    @cached_property
    def _schedule(self) -> pd.DataFrame:
        """Give every sortie an aircraft of the fleet ready at the origin
        (:func:`evacops.plan.tails.assign_tails`);
        loads split over the sortie's aircraft in whole people, cohort by cohort."""
        net = self.network
        counts = self.sortie_counts
        arc_of_move = {int(m): a for a, m in enumerate(net.arc_move) if m >= 0}
        rows: list[dict[str, Any]] = []
        tails = assign_tails(net, counts, self.moment)
        for (m, t), picked in sorted(tails.picks.items(), key=lambda e: (e[0][1], e[0][0])):
            fi = int(net.move_fleet[m])
            loads = self._loads(m, t, len(picked), arc_of_move)
            for j, aid in enumerate(picked):
                row = {
                    "aircraft": f"{net.fleets[fi]}-{aid + 1:02d}",
                    "fleet": net.fleets[fi],
                    "type": net.fleet_type[fi],
                    "leg": net.move_leg[m],
                    "direction": "outbound" if net.move_forward[m] else "back",
                    "origin": net.sites[int(net.move_from[m])],
                    "destination": net.sites[int(net.move_to[m])],
                    "dep_period": t,
                    "arr_period": t + int(net.move_land[m]),
                    "ready_period": t + int(net.move_ready[m]),
                    "departure": net.timeline.time_of(t),
                    "arrival": net.timeline.time_of(t + int(net.move_land[m])),
                    "load": int(loads[:, j].sum()),
                }
                for c, cname in enumerate(net.cohorts):
                    row[f"load_{cname}"] = int(loads[c, j])
                rows.append(row)
        cols = [
            "aircraft",
            "fleet",
            "type",
            "leg",
            "direction",
            "origin",
            "destination",
            "dep_period",
            "arr_period",
            "ready_period",
            "departure",
            "arrival",
            "load",
            *[f"load_{c}" for c in net.cohorts],
        ]
        df = self._mark_flown(pd.DataFrame(rows, columns=cols))
        return df.sort_values(["dep_period", "aircraft"], kind="stable").reset_index(drop=True)

    def _loads(self, m: int, t: int, k: int, arc_of_move: dict[int, int]) -> np.ndarray:
        """(cohorts, k) whole people on each of the ``k`` sorties of move ``m`` leaving in
        ``t``: the flow on its arc in whole people, the higher priorities seated first."""
        net = self.network
        loads = np.zeros((len(net.cohorts), k), dtype=int)
        if not net.move_forward[m]:
            return loads
        flow = self.final.flow[:, arc_of_move[m], t]
        seats = int(net.arc_load[arc_of_move[m]])  # max load on a surge leg
        per_cohort = largest_remainder(flow, min(_whole(flow.sum()), k * seats))
        room = np.full(k, seats)
        for c in np.argsort(-net.priority, kind="stable"):
            left = per_cohort[c]
            for j in range(k):
                take = min(left, room[j])
                loads[c, j] += take
                room[j] -= take
                left -= take
        return loads

    def _mark_flown(self, df: pd.DataFrame) -> pd.DataFrame:
        """A re-plan's sorties before its moment were flown: their loads are not the
        re-plan's (its people start at the moment), so they are unknown here, not zero."""
        flown = df["dep_period"] < self.moment
        loads = [c for c in df.columns if c == "load" or c.startswith("load_")]
        df.insert(int(df.columns.get_loc("load")), "flown_before_replan", flown)
        for col in loads:
            df[col] = df[col].astype("Int64").mask(flown)
        return df

    def schedule(self) -> pd.DataFrame:
        """Per-aircraft schedule: aircraft, leg, departure, arrival, load by cohort. In a
        re-plan, sorties that left before its moment are marked ``flown_before_replan`` and
        their loads are empty (unknown to the re-plan)."""
        return self._schedule.copy()

    def out_cumulative(self) -> pd.DataFrame:
        """Cumulative people off the evacuation airport by the end of each period, by cohort."""
        return pd.DataFrame(
            np.cumsum(self.out_by_period, axis=1).T,
            index=self.times + pd.Timedelta(hours=self.network.period_h),
            columns=self.network.cohorts,
        )

    def daily_out(self, utc: bool = False) -> pd.DataFrame:
        """People off the evacuation airport per calendar day (in the time zone of the scenario's
        start), by cohort, with a total: whole people, each cohort's days adding up to its
        ``evacuated`` in :meth:`completion` (the running total rounded down, differenced).
        With ``utc``, per UTC day, as an operation's registry counts its days: a period's people
        fall on the UTC day of its middle (Kabul's hours start at half past in UTC, so the
        period from 23:30 to 00:30 counts on the day it ends in)."""
        cum = np.floor(np.cumsum(self.out_by_period, axis=1) + EPS)
        times = self.times
        if utc:
            times = (times + pd.Timedelta(hours=self.network.period_h / 2)).tz_convert("UTC")
        per = pd.DataFrame(cum.T, index=times, columns=self.network.cohorts)
        end = per.groupby(per.index.date).last()
        day = end.diff().fillna(end).astype(int)
        day.index.name = "date"
        day["total"] = day.sum(axis=1)
        return day

    def occupancy(self) -> pd.DataFrame:
        """People waiting at each site at the end of each period (periods x sites)."""
        return pd.DataFrame(
            self.final.hold.sum(axis=0).T, index=self.times, columns=self.network.sites
        )

    def aircraft_use(self) -> pd.DataFrame:
        """Aircraft of each fleet airborne in each period (from departure until landing)."""
        net = self.network
        use = np.zeros((len(net.fleets), net.T))
        for m in range(len(net.move_leg)):
            k = self.sortie_counts[m]
            for d in range(min(int(net.move_land[m]), net.T)):
                use[net.move_fleet[m], d:] += k[: net.T - d]
        return pd.DataFrame(use.T, index=self.times, columns=net.fleets)

    def completion(self) -> pd.DataFrame:
        """Per cohort: size, priority, out by the deadline, evacuated and delivered within the
        horizon, left at the deadline, and the hour by which the last of it left the evacuation
        airport (NaN if not all)."""
        net = self.network
        size = net.appear.sum(axis=(1, 2))
        cum = np.cumsum(self.out_by_period, axis=1)
        dl = self.network.deadline_period
        rows = []
        for c, name in enumerate(net.cohorts):
            done = np.flatnonzero(cum[c] >= size[c] - 0.5)
            comp = float((done[0] + 1) * net.period_h) if done.size else np.nan
            out_dl = cum[c, dl - 1] if dl > 0 else 0.0
            rows.append(
                {
                    "cohort": name,
                    "size": int(size[c]),
                    "priority": net.priority[c],
                    "out_by_deadline": _whole(out_dl),
                    "evacuated": _whole(cum[c, -1]),
                    "delivered": _whole(self.delivered_by_period[c].sum()),
                    "left_behind": int(size[c]) - _whole(out_dl),
                    "completion_h": comp,
                    "completion_time": (net.timeline.start + pd.Timedelta(hours=comp))
                    if np.isfinite(comp)
                    else pd.NaT,
                }
            )
        return pd.DataFrame(rows).set_index("cohort")

    # ---- summary ---------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        comp = self.completion()
        all_h = comp["completion_h"]
        completion = float(all_h.max()) if all_h.notna().all() else None
        lp_obj, fin_obj = self.lp.objective, self.final.objective
        mode = "mip" if self.integer else ("lp+repair" if self.repair else "lp")
        out: dict[str, Any] = {
            "scenario": self.scenario.name,
            "status": self.final.status,
            "objective": fin_obj,
            # people re-planned on a kept schedule: optimal for it, no bound on any other
            "lp_bound": None if self.schedule_kept else lp_obj,
            "mode": "schedule-kept" if self.schedule_kept else mode,
            # a re-plan of the aircraft until then only (its bound is for that window)
            "window_until": None
            if self.window_end is None
            else self.network.timeline.time_of(self.window_end).isoformat(),
            "mip_gap": self.final.mip_gap,
            "evacuated_total": int(comp["evacuated"].sum()),
            "delivered_total": int(comp["delivered"].sum()),
            "left_behind": int(comp["left_behind"].sum()),
            "completion_h": completion,
            "periods": self.network.T,
            "period_h": self.network.period_h,
            "variables": self.final.variables,
            "constraints": self.final.constraints,
            "solve_s": round(
                self.lp.solve_s + (self.final.solve_s if self.final is not self.lp else 0.0), 3
            ),
            "build_s": round(
                self.lp.build_s + (self.final.build_s if self.final is not self.lp else 0.0), 3
            ),
            "lp_solve_s": round(self.lp.solve_s, 3),
            # after the LP: repair to whole sorties, or the MIP
            "after_lp_s": round(self.final.solve_s if self.final is not self.lp else 0.0, 3),
            "sorties": int(self.sortie_counts.sum()),
            "cohorts": [
                {
                    "name": k,
                    **{
                        c: (None if isinstance(v, float) and np.isnan(v) else v)
                        for c, v in row.items()
                        if c != "completion_time"
                    },
                }
                for k, row in comp.astype(object).iterrows()
            ],
        }
        if self.repair is not None or self.integer:
            # what whole sorties cost against the LP bound (objective is minimised)
            lp_out = _whole(self.lp.flow[:, self.network.out_arcs, :].sum())
            out["repair"] = {
                **(self.repair or {}),
                "objective_gap": (fin_obj - lp_obj) / abs(lp_obj) if lp_obj else 0.0,
                "lp_evacuated_total": lp_out,
                "evacuated_cost": lp_out - out["evacuated_total"],
                # where: per cohort (summing to evacuated_cost) and per fleet
                "by_cohort": whole_cost.by_cohort(self, lp_out, comp["evacuated"].tolist()),
                "by_fleet": whole_cost.by_fleet(self),
            }
        out["daily_out"] = [
            {
                "date": str(d),
                "total": int(row["total"]),
                "by_cohort": {c: int(n) for c, n in row.drop("total").items()},
            }
            for d, row in self.daily_out().iterrows()
        ]
        out["priority"] = priority_summary(self)
        out["safe_density_per_m2"] = self.scenario.safe_density_per_m2
        out["crowd"] = self.scenario.crowd.model_dump()
        out["gates"] = gate_densities(self)
        out["binding"] = [b.as_dict() for b in self.binding]
        out["wall_s"] = round(self.wall_s, 3)
        return out
