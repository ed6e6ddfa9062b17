"""Results of a Monte Carlo simulation: per run, and across runs as P10, P50 and P90.

:class:`SimResult` holds the records of every run (arrays whose first axis is the run) and the
model they came from, and turns them into tidy DataFrames (``daily()``, ``runs()``, ``gates()``,
``staging()``, ``aircraft()``, the quantile series for plots) and the ``--json`` object
(``summary()``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from evacops.sim.model import SimModel

QS = (10, 50, 90)
DANGER_DENSITY = 5.0  # persons/m2: Fruin's "dangerous" level, for person-hours above it


def _q(x: np.ndarray, qs: tuple[int, ...] = QS) -> np.ndarray:
    """Percentiles along the run axis (linear interpolation between runs)."""
    return np.percentile(np.asarray(x, dtype=float), qs, axis=0)


def _num(v: float) -> float | None:
    v = float(v)
    return None if not np.isfinite(v) else round(v, 3)


@dataclass
class SimResult:
    model: SimModel
    rec: dict[str, np.ndarray]
    seed: int
    engine: str = "local"
    workers: int = 1
    random: bool = True
    wall_s: float = 0.0
    notes: list[str] = field(default_factory=list)

    # ---- basic per-run quantities -----------------------------------------------------------
    @property
    def runs_n(self) -> int:
        return int(self.rec["out"].shape[0])

    @property
    def mode(self) -> str:
        return "plan" if self.model.plan is not None else "policy"

    @property
    def times(self) -> pd.DatetimeIndex:
        md = self.model
        return pd.DatetimeIndex(
            [md.start + timedelta(hours=t * md.period_h) for t in range(md.T)], name="time"
        )

    def out_by_period(self) -> np.ndarray:
        """People leaving the evacuation airport in each period (runs x periods)."""
        return self.rec["out"].sum(axis=1)

    def cumulative_out(self) -> np.ndarray:
        return np.cumsum(self.out_by_period(), axis=1)

    def evacuated(self) -> np.ndarray:
        return self.cumulative_out()[:, -1]

    def delivered(self) -> np.ndarray:
        return self.rec["delivered"][:, -1]

    def left_behind(self) -> np.ndarray:
        """People not off the evacuation airport by the deadline, per run."""
        dl = self.model.deadline_period
        out = self.cumulative_out()[:, dl - 1] if dl > 0 else np.zeros(self.runs_n)
        return np.maximum(self.model.total_people - out, 0.0)

    def completion_h(self) -> np.ndarray:
        """Hours until everyone is off the evacuation airport, per run (inf if not within the
        horizon)."""
        cum = self.cumulative_out()
        done = cum >= self.model.total_people - 0.5
        first = np.where(done.any(axis=1), done.argmax(axis=1), -1)
        return np.where(first >= 0, (first + 1) * self.model.period_h, np.inf)

    def all_out_by_deadline(self) -> np.ndarray:
        return self.left_behind() < 0.5

    # ---- tables ------------------------------------------------------------------------------
    def daily(self) -> pd.DataFrame:
        """Per local day: people off the evacuation airport (P10, P50, P90), the running total
        since the start, and the flights that carried them, by operator (P50) - the form the
        Kabul airlift was reported in each day."""
        md = self.model
        day_of, days = md.day_index()
        starts = np.flatnonzero(np.r_[True, day_of[1:] != day_of[:-1]])
        per_day = np.add.reduceat(self.out_by_period(), starts, axis=1)  # (R, D)
        cum = np.cumsum(per_day, axis=1)
        flights = self.rec["flights_op_day"]  # (R, O, D)
        by_op = self.rec["out_op_day"]
        q_out, q_cum = _q(per_day), _q(cum)
        df = pd.DataFrame(
            {
                "date": days,
                "out_p10": q_out[0],
                "out_p50": q_out[1],
                "out_p90": q_out[2],
                "cumulative_p10": q_cum[0],
                "cumulative_p50": q_cum[1],
                "cumulative_p90": q_cum[2],
                "flights_p50": np.percentile(flights.sum(axis=1), 50, axis=0),
            }
        )
        for o, op in enumerate(md.operators):
            if flights[:, o].sum() > 0:
                df[f"out_{op}_p50"] = np.percentile(by_op[:, o], 50, axis=0)
                df[f"flights_{op}_p50"] = np.percentile(flights[:, o], 50, axis=0)
        num = [c for c in df.columns if c != "date"]
        df[num] = df[num].round(0).astype(int)
        return df.set_index("date")

    def runs(self) -> pd.DataFrame:
        """One row per run."""
        r = self.rec
        comp = self.completion_h()
        return pd.DataFrame(
            {
                "run": np.arange(self.runs_n),
                "evacuated": self.evacuated().round(1),
                "delivered": self.delivered().round(1),
                "left_behind": self.left_behind().round(1),
                "completion_h": np.where(np.isfinite(comp), comp, np.nan),
                "all_out_by_deadline": self.all_out_by_deadline(),
                "sorties": r["sorties_out"].sum(axis=1) + r["sorties_back"].sum(axis=1),
                "aborts": r["aborts"].sum(axis=1),
                "flights_held_for_staging": r["held_flights"].sum(axis=1),
                "people_switched_gate": r["gate_switched"].round(1),
                "people_went_back_from_a_gate": r["gave_up"].round(1),
                "people_turned_away_at_screening": r["refused"].round(1),
                "people_gave_up_for_good": r["quit"].sum(axis=1).round(1),
                "person_hours_over_stay": (r["overstay"].sum(axis=1) * self.model.period_h).round(
                    1
                ),
                "aircraft_sent_off_the_ramp": r["ramp_freed"],
                "aircraft_hours_over_ground_limit": r["ground_over"] * self.model.period_h,
                "aircraft_over_crew": self.aircraft_over_crew(),
                "air_holding_h": r["air_hold_periods"] * self.model.period_h,
            }
        ).set_index("run")

    def aircraft_over_crew(self) -> np.ndarray:
        """(runs,) aircraft that departed more than their fleet's ``max_sorties_per_day`` in
        some 24 hours (none unless forced off an airfield that limits time on the ground)."""
        md = self.model
        most = md.crews.per_aircraft[md.ac_fleet]
        return (self.rec["aircraft_most_24h"] > most[None, :]).sum(axis=1)

    def gate_density(self) -> np.ndarray:
        """Crowd density in front of each gate (runs x gates x periods), nan without an area:
        never above the physical maximum (the rest queue along the approach)."""
        area = self.model.gate_area
        return self.model.crowd.density(self.rec["gate_crowd"].astype(float), area[None, :, None])

    def gate_queue_m(self) -> np.ndarray:
        """Length of the queue before each gate in metres (runs x gates x periods), nan without
        an area."""
        md = self.model
        return md.crowd.queue_length_m(
            self.rec["gate_crowd"].astype(float),
            md.gate_area[None, :, None],
            md.gate_width[None, :, None],
        )

    def gates(self) -> pd.DataFrame:
        """Per gate with a crowd area: peak density, the longest queue in metres and
        person-hours in a crowd of at least 5 persons/m2 (P10, P50, P90 across runs)."""
        md = self.model
        rows = []
        dens = self.gate_density()
        queue = self.gate_queue_m()
        crowd = self.rec["gate_crowd"].astype(float)
        for g, site in enumerate(md.gates):
            area = md.gate_area[g]
            if not np.isfinite(area):
                continue
            peak = dens[:, g].max(axis=1)
            ph = (crowd[:, g] * (dens[:, g] >= DANGER_DENSITY - 1e-9)).sum(axis=1) * md.period_h
            qp, qh, qq = _q(peak), _q(ph), _q(queue[:, g].max(axis=1))
            rows.append(
                {
                    "gate": md.net.sites[site],
                    "area_m2": area,
                    "peak_density_p10": qp[0],
                    "peak_density_p50": qp[1],
                    "peak_density_p90": qp[2],
                    "peak_queue_m_p10": qq[0],
                    "peak_queue_m_p50": qq[1],
                    "peak_queue_m_p90": qq[2],
                    "person_hours_ge_5_p10": qh[0],
                    "person_hours_ge_5_p50": qh[1],
                    "person_hours_ge_5_p90": qh[2],
                }
            )
        cols = [
            "gate",
            "area_m2",
            "peak_density_p10",
            "peak_density_p50",
            "peak_density_p90",
            "peak_queue_m_p10",
            "peak_queue_m_p50",
            "peak_queue_m_p90",
            "person_hours_ge_5_p10",
            "person_hours_ge_5_p50",
            "person_hours_ge_5_p90",
        ]
        return pd.DataFrame(rows, columns=cols).set_index("gate")

    def staging(self) -> pd.DataFrame:
        """Per staging base: hours it was full, flights held because of it (and aircraft-hours
        they waited), flights diverted from it (P10, P50, P90 across runs), person-hours people
        stayed beyond its stay limit (P50)."""
        md = self.model
        r = self.rec
        rows = []
        for b, site in enumerate(md.staging):
            cap = md.net.cap[site]
            full = r["stage_full_periods"][:, b] * md.period_h
            held = r["held_flights"][:, b]
            held_h = r["held_aircraft_periods"][:, b] * md.period_h
            div = r["diverted_from"][:, b]
            over = r["overstay"][:, site] * md.period_h
            peak = r["stage_hold"][:, b].max(axis=1)
            qf, qh, qa, qd, qp = _q(full), _q(held), _q(held_h), _q(div), _q(peak)
            rows.append(
                {
                    "staging": md.net.sites[site],
                    "capacity": float(np.nanmax(np.where(np.isfinite(cap), cap, np.nan)))
                    if np.isfinite(cap).any()
                    else np.inf,
                    "peak_p50": qp[1],
                    "hours_full_p10": qf[0],
                    "hours_full_p50": qf[1],
                    "hours_full_p90": qf[2],
                    "flights_held_p10": qh[0],
                    "flights_held_p50": qh[1],
                    "flights_held_p90": qh[2],
                    "aircraft_hours_held_p50": qa[1],
                    "diverted_p50": qd[1],
                    "diverted_p90": qd[2],
                    "person_hours_over_stay_p50": float(np.percentile(over, 50)),
                }
            )
        return pd.DataFrame(rows).set_index("staging") if rows else pd.DataFrame()

    def aircraft(self) -> pd.DataFrame:
        """Per fleet: sorties out and back, flying hours, load factor of the outbound sorties,
        aborts (P50 across runs, and P10-P90 of the outbound sorties)."""
        md = self.model
        r = self.rec
        seats = r["seats_flown"]
        lf = np.where(seats > 0, r["people_flown"] / np.where(seats > 0, seats, 1.0), np.nan)
        rows = []
        for f, name in enumerate(md.net.fleets):
            qo = _q(r["sorties_out"][:, f])
            lf_f = lf[:, f]
            rows.append(
                {
                    "fleet": name,
                    "aircraft": int(md.fleet_count[f]),
                    "sorties_out_p10": qo[0],
                    "sorties_out_p50": qo[1],
                    "sorties_out_p90": qo[2],
                    "sorties_back_p50": float(np.percentile(r["sorties_back"][:, f], 50)),
                    "flying_hours_p50": float(np.percentile(r["airborne_periods"][:, f], 50))
                    * md.period_h,
                    "load_factor_p50": float(np.nanpercentile(lf_f, 50))
                    if np.isfinite(lf_f).any()
                    else np.nan,
                    "aborts_p50": float(np.percentile(r["aborts"][:, f], 50)),
                }
            )
        return pd.DataFrame(rows).set_index("fleet")

    # ---- series for plots ----------------------------------------------------------------------
    def cumulative_quantiles(self, qs: tuple[int, ...] = (10, 25, 50, 75, 90)) -> pd.DataFrame:
        """Cumulative people off the evacuation airport by the end of each period."""
        q = _q(self.cumulative_out(), qs)
        idx = self.times + pd.Timedelta(hours=self.model.period_h)
        return pd.DataFrame(q.T, index=idx, columns=[f"p{x}" for x in qs])

    def plan_cumulative(self) -> pd.Series | None:
        """The plan's own cumulative people off the evacuation airport, for comparison."""
        md = self.model
        if md.plan is None:
            return None
        out = md.plan.flow[:, md.net.arc_from == md.net.evac, :].sum(axis=(1, 2))
        idx = self.times + pd.Timedelta(hours=md.period_h)
        return pd.Series(np.cumsum(out), index=idx, name="plan")

    def density_quantiles(self) -> dict[str, pd.DataFrame]:
        """Per gate with a crowd area: density P10, P50, P90 in each period."""
        md = self.model
        dens = self.gate_density()
        out = {}
        for g, site in enumerate(md.gates):
            if np.isfinite(md.gate_area[g]):
                q = _q(dens[:, g])
                out[md.net.sites[site]] = pd.DataFrame(
                    q.T, index=self.times, columns=["p10", "p50", "p90"]
                )
        return out

    def staging_quantiles(self) -> dict[str, pd.DataFrame]:
        """Per staging base that anyone reaches: people there P10, P50, P90, and its capacity."""
        md = self.model
        out = {}
        hold = self.rec["stage_hold"].astype(float)
        for b, site in enumerate(md.staging):
            if hold[:, b].max() <= 0:
                continue
            q = _q(hold[:, b])
            df = pd.DataFrame(q.T, index=self.times, columns=["p10", "p50", "p90"])
            df["capacity"] = md.net.cap[site]
            out[md.net.sites[site]] = df
        return out

    # ---- the --json object ---------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        md = self.model
        ev, dl, lb = _q(self.evacuated()), _q(self.delivered()), _q(self.left_behind())
        comp = self.completion_h()
        qc = np.percentile(comp, QS, method="inverted_cdf")  # a run that never finishes is inf
        daily = self.daily()
        ops = [
            c
            for c in daily.columns
            if c.startswith("out_") and c.endswith("_p50") and c not in ("out_p50",)
        ]
        out: dict[str, Any] = {
            "scenario": md.name,
            "mode": self.mode,
            "runs": self.runs_n,
            "seed": self.seed,
            "engine": self.engine,
            "workers": self.workers,
            "random": self.random,
            "periods": md.T,
            "period_h": md.period_h,
            "people": round(md.total_people),
            "safe_density_per_m2": md.safe_density_per_m2,
            "p_all_out_by_deadline": round(float(self.all_out_by_deadline().mean()), 4),
            "evacuated_p10": _num(ev[0]),
            "evacuated_p50": _num(ev[1]),
            "evacuated_p90": _num(ev[2]),
            "delivered_p10": _num(dl[0]),
            "delivered_p50": _num(dl[1]),
            "delivered_p90": _num(dl[2]),
            "left_behind_p10": _num(lb[0]),
            "left_behind_p50": _num(lb[1]),
            "left_behind_p90": _num(lb[2]),
            "completion_h_p10": _num(qc[0]),
            "completion_h_p50": _num(qc[1]),
            "completion_h_p90": _num(qc[2]),
            "daily": [
                {
                    "date": str(d),
                    **{
                        k: int(row[k])
                        for k in (
                            "out_p10",
                            "out_p50",
                            "out_p90",
                            "cumulative_p10",
                            "cumulative_p50",
                            "cumulative_p90",
                            "flights_p50",
                        )
                    },
                    "by_operator": {
                        c[4:-4]: {
                            "out_p50": int(row[c]),
                            "flights_p50": int(row[f"flights_{c[4:-4]}_p50"]),
                        }
                        for c in ops
                    },
                }
                for d, row in daily.iterrows()
            ],
            "gates": [
                {"name": g, **{k: _num(v) for k, v in row.items()}}
                for g, row in self.gates().iterrows()
            ],
            "staging": [
                {"name": s, **{k: _num(v) for k, v in row.items()}}
                for s, row in self.staging().iterrows()
            ],
            "aircraft": self._aircraft_summary(),
            "operation": self._operation_summary(),
            "wall_s": round(self.wall_s, 3),
        }
        return out

    def _operation_summary(self) -> dict[str, Any]:
        """What the crowds and the dispatch did (P50 across runs): people who walked to another
        gate, went back from one, were turned away at screening, gave up for good; person-hours
        beyond a stay limit; aircraft sent off the evacuation airport's ramp; aircraft-hours on
        the ground past an airfield's ``max_ground_h`` (runway, crews or a closure kept them);
        the most aircraft in a run that flew beyond their crew in some 24 hours."""
        runs = self.runs()
        cols = {
            "people_switched_gate": "people_switched_gate_p50",
            "people_went_back_from_a_gate": "people_went_back_from_a_gate_p50",
            "people_turned_away_at_screening": "people_turned_away_at_screening_p50",
            "people_gave_up_for_good": "people_gave_up_for_good_p50",
            "person_hours_over_stay": "person_hours_over_stay_p50",
            "aircraft_sent_off_the_ramp": "aircraft_sent_off_the_ramp_p50",
            "aircraft_hours_over_ground_limit": "aircraft_hours_over_ground_limit_p50",
        }
        out = {v: _num(np.percentile(runs[k].to_numpy(float), 50)) for k, v in cols.items()}
        # each aircraft is held to its crew (evacops.sim.crews): none in any run
        out["aircraft_over_crew_max"] = int(runs["aircraft_over_crew"].max()) if len(runs) else 0
        return out

    def _aircraft_summary(self) -> dict[str, Any]:
        md = self.model
        r = self.rec
        sorties = r["sorties_out"].sum(axis=1) + r["sorties_back"].sum(axis=1)
        seats = r["seats_flown"].sum(axis=1)
        lf = np.where(
            seats > 0, r["people_flown"].sum(axis=1) / np.where(seats > 0, seats, 1), np.nan
        )
        qs = _q(sorties)
        return {
            "sorties_p10": _num(qs[0]),
            "sorties_p50": _num(qs[1]),
            "sorties_p90": _num(qs[2]),
            "flying_hours_p50": _num(
                np.percentile(r["airborne_periods"].sum(axis=1), 50) * md.period_h
            ),
            "load_factor_p50": _num(np.nanpercentile(lf, 50)) if np.isfinite(lf).any() else None,
            "aborts_p50": _num(np.percentile(r["aborts"].sum(axis=1), 50)),
            "air_holding_hours_p50": _num(np.percentile(r["air_hold_periods"], 50) * md.period_h),
            "fleets": [
                {"name": f, **{k: _num(v) for k, v in row.items()}}
                for f, row in self.aircraft().iterrows()
            ],
        }
