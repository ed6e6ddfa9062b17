"""The matplotlib plots (PNG) of the reports: a plan's cumulative people, site occupancy,
aircraft use and gate densities; a simulation's spreads across runs (fans and bands).

Every plot takes tidy DataFrames indexed by time and a path, draws, saves and closes its figure,
and returns the path.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from evacops.report.levels import FRUIN_LINES


def _time_axis(ax) -> None:
    # ticks at days over weeks, at hours over a day or two: each labelled at its own level
    # ("14 Aug", or "06:00" with the date where it changes), never one date repeated
    locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(
        mdates.ConciseDateFormatter(
            locator,
            formats=["%Y", "%b", "%d %b", "%H:%M", "%H:%M", "%S.%f"],
            zero_formats=["", "%Y", "%b", "%d %b", "%H:%M", "%H:%M"],
            offset_formats=["", "%Y", "%b %Y", "%d %b %Y", "%d %b %Y", "%d %b %Y %H:%M"],
        )
    )
    ax.grid(True, alpha=0.3)
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")


def _naive(index: pd.Index) -> pd.Index:
    """Local wall-clock times for plotting (matplotlib would convert aware times to UTC)."""
    if isinstance(index, pd.DatetimeIndex) and index.tz is not None:
        return index.tz_localize(None)
    return index


def _finish_grid(fig, axes, used: int, title: str, path: Path, **legend) -> Path:
    """Hide the unused panels of a grid of plots, add the legend and the title, save, close."""
    for ax in list(axes.flat)[used:]:
        ax.set_visible(False)
    axes.flat[0].legend(**legend)
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))  # room for the title
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _capacity_line(ax, x, capacity: np.ndarray) -> None:
    """A site's holding capacity over time, in red, where it is finite."""
    if np.isfinite(capacity).any():
        ax.step(x, np.where(np.isfinite(capacity), capacity, np.nan), where="post", color="red",
                lw=1, label="capacity")  # fmt: skip


def _finish_cumulative(fig, ax, deadline, title: str, path: Path) -> Path:
    """The finish of a cumulative people plot: the deadline line, labels, legend, saved PNG."""
    if deadline is not None:
        ax.axvline(
            pd.Timestamp(deadline).tz_localize(None), color="red", ls="--", lw=1, label="deadline"
        )
    ax.set_ylabel("people (cumulative)")
    ax.set_title(title)
    ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    ax.legend(loc="upper left", fontsize=8)
    _time_axis(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_cumulative(cum: pd.DataFrame, path: Path, title: str, deadline=None) -> Path:
    """Stacked cumulative people (periods x cohorts)."""
    fig, ax = plt.subplots(figsize=(9, 4.8))
    x = _naive(cum.index)
    ax.stackplot(x, *[cum[c].to_numpy() for c in cum.columns], labels=list(cum.columns), alpha=0.85)
    ax.plot(x, cum.sum(axis=1).to_numpy(), color="black", lw=1, label="total")
    return _finish_cumulative(fig, ax, deadline, title, path)


def plot_daily_out(daily: pd.DataFrame, path: Path, title: str) -> Path:
    """People out per day, stacked by cohort (days x cohorts, without a total column)."""
    fig, ax = plt.subplots(figsize=(11, 4.8))
    labels = [f"{pd.Timestamp(d):%d %b}" for d in daily.index]
    bottom = np.zeros(len(daily))
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, 20))  # one each for up to 20 cohorts
    for i, c in enumerate(daily.columns):
        values = daily[c].to_numpy(dtype=float)
        ax.bar(labels, values, bottom=bottom, label=str(c), color=colours[i % 20], alpha=0.9)
        bottom += values
    ax.set_ylabel("people out that day")
    ax.set_title(title)
    ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    for label in ax.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_occupancy(occ: pd.DataFrame, cap: pd.DataFrame, path: Path, title: str) -> Path:
    """Occupancy of each site (columns) against its holding capacity, small multiples."""
    sites = list(occ.columns)
    ncol = 3
    nrow = max(1, int(np.ceil(len(sites) / ncol)))
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.6 * nrow), squeeze=False, sharex=True)
    x = _naive(occ.index)
    for ax, site in zip(axes.flat, sites, strict=False):
        ax.fill_between(x, occ[site].to_numpy(), step="post", alpha=0.6, label="people")
        _capacity_line(ax, x, cap[site].to_numpy())
        ax.set_title(site, fontsize=9)
        ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        _time_axis(ax)
    return _finish_grid(fig, axes, len(sites), title, path, fontsize=7, loc="upper left")


def plot_aircraft_use(use: pd.DataFrame, available: pd.Series, path: Path, title: str) -> Path:
    """Aircraft airborne by fleet (stacked), with the aircraft available in each period."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    x = _naive(use.index)
    cols = [c for c in use.columns if use[c].max() > 0]
    if cols:
        ax.stackplot(x, *[use[c].to_numpy() for c in cols], labels=cols, alpha=0.85)
    ax.step(
        x,
        available.to_numpy(),
        where="post",
        color="black",
        ls=":",
        lw=1,
        label="aircraft available",
    )
    ax.set_ylabel("aircraft airborne")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=7, ncol=2)
    _time_axis(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_gate_density(
    plan_d: pd.DataFrame,
    cf_d: pd.DataFrame,
    path: Path,
    title: str,
    safe: float,
    queues: dict[str, float] | None = None,
) -> Path:
    """Crowd density in front of each gate (columns), with the call-forward plan and with
    everyone coming at once; Fruin's levels as lines. Densities never pass the physical maximum
    (beyond it the crowd queues along the approach: ``queues``, metres, gives the longest queue
    of each gate's counterfactual in its title)."""
    gates = list(plan_d.columns)
    ncol = 2
    nrow = max(1, int(np.ceil(len(gates) / ncol)))
    fig, axes = plt.subplots(nrow, ncol, figsize=(11, 2.8 * nrow), squeeze=False, sharex=True)
    x = _naive(plan_d.index)
    colors = ("#f2c94c", "#f2994a", "#eb5757", "#7b1f1f")
    for ax, gate in zip(axes.flat, gates, strict=False):
        cf = cf_d[gate].to_numpy()
        ax.step(x, cf, where="post", color="grey", lw=1, label="everyone at once")
        ax.step(
            x,
            plan_d[gate].to_numpy(),
            where="post",
            color="tab:blue",
            lw=1.5,
            label="call-forward plan",
        )
        for (level, words), col in zip(FRUIN_LINES, colors, strict=True):
            ax.axhline(level, color=col, ls="--", lw=0.8, label=words)
        ax.axhline(safe, color="tab:green", ls=":", lw=1, label=f"safe density {safe:g}")
        ax.set_ylim(0, max(7.5, float(np.nanmax(cf, initial=0.0)) + 0.5))
        queue = "" if queues is None else f", queue up to {queues.get(gate, 0.0):,.0f} m"
        ax.set_title(
            f"{gate} (peak: plan {plan_d[gate].max():.1f}, at once {cf.max():,.1f} "
            f"persons/m²{queue})",
            fontsize=9,
        )
        ax.set_ylabel("persons/m²", fontsize=8)
        _time_axis(ax)
    return _finish_grid(fig, axes, len(gates), title, path, fontsize=6, loc="upper left", ncol=2)


# ---- simulation (evacops simulate): spreads across Monte Carlo runs -------------------------


def plot_fan(
    q: pd.DataFrame,
    path: Path,
    title: str,
    deadline=None,
    plan: pd.Series | None = None,
    observed: pd.Series | None = None,
) -> Path:
    """Fan chart of a cumulative quantity across runs: ``q`` has columns p10, p25, p50, p75,
    p90 by time; the plan's own line (if given) and a user's own running totals (``observed``,
    points at the end of each day, labelled by the series' name) for comparison."""
    fig, ax = plt.subplots(figsize=(9, 4.8))
    x = _naive(q.index)
    ax.fill_between(
        x,
        q["p10"].to_numpy(),
        q["p90"].to_numpy(),
        color="tab:blue",
        alpha=0.2,
        lw=0,
        label="P10-P90",
    )
    if "p25" in q and "p75" in q:
        ax.fill_between(
            x,
            q["p25"].to_numpy(),
            q["p75"].to_numpy(),
            color="tab:blue",
            alpha=0.35,
            lw=0,
            label="P25-P75",
        )
    ax.plot(x, q["p50"].to_numpy(), color="tab:blue", lw=1.5, label="P50")
    if plan is not None:
        ax.plot(_naive(plan.index), plan.to_numpy(), color="black", ls="--", lw=1, label="the plan")
    if observed is not None:
        ax.plot(
            _naive(observed.index),
            observed.to_numpy(),
            color="tab:red",
            marker="o",
            ms=4,
            lw=1,
            label=f"your counts ({observed.name})",
        )
    return _finish_cumulative(fig, ax, deadline, title, path)


def plot_density_bands(bands: dict[str, pd.DataFrame], path: Path, title: str, safe: float) -> Path:
    """Crowd density in front of each gate across runs (P50 line, P10-P90 band), with Fruin's
    levels; one panel per gate (``bands[gate]`` has columns p10, p50, p90 by time)."""
    gates = list(bands)
    ncol = 2
    nrow = max(1, int(np.ceil(len(gates) / ncol)))
    fig, axes = plt.subplots(nrow, ncol, figsize=(11, 2.8 * nrow), squeeze=False, sharex=True)
    colors = ("#f2c94c", "#f2994a", "#eb5757", "#7b1f1f")
    top = 10.0
    for ax, gate in zip(axes.flat, gates, strict=False):
        b = bands[gate]
        x = _naive(b.index)
        ax.fill_between(
            x,
            np.minimum(b["p10"].to_numpy(), top),
            np.minimum(b["p90"].to_numpy(), top),
            step="post",
            color="tab:blue",
            alpha=0.25,
            lw=0,
            label="P10-P90",
        )
        ax.step(
            x,
            np.minimum(b["p50"].to_numpy(), top),
            where="post",
            color="tab:blue",
            lw=1.2,
            label="P50",
        )
        for (level, words), col in zip(FRUIN_LINES, colors, strict=True):
            ax.axhline(level, color=col, ls="--", lw=0.8, label=words)
        ax.axhline(safe, color="tab:green", ls=":", lw=1, label=f"safe density {safe:g}")
        ax.set_ylim(0, top + 0.5)
        ax.set_title(f"{gate} (peak P90 {b['p90'].max():.1f} persons/m²)", fontsize=9)
        ax.set_ylabel("persons/m²", fontsize=8)
        _time_axis(ax)
    return _finish_grid(fig, axes, len(gates), title, path, fontsize=6, loc="upper left", ncol=2)


def plot_occupancy_bands(bands: dict[str, pd.DataFrame], path: Path, title: str) -> Path:
    """People at each site across runs (P50 line, P10-P90 band) against its holding capacity
    (``bands[site]`` has columns p10, p50, p90 and capacity by time)."""
    sites = list(bands)
    ncol = 3
    nrow = max(1, int(np.ceil(len(sites) / ncol)))
    fig, axes = plt.subplots(nrow, ncol, figsize=(12, 2.6 * nrow), squeeze=False, sharex=True)
    for ax, site in zip(axes.flat, sites, strict=False):
        b = bands[site]
        x = _naive(b.index)
        ax.fill_between(
            x,
            b["p10"].to_numpy(),
            b["p90"].to_numpy(),
            step="post",
            color="tab:blue",
            alpha=0.25,
            lw=0,
            label="P10-P90",
        )
        ax.step(x, b["p50"].to_numpy(), where="post", color="tab:blue", lw=1.2, label="P50")
        _capacity_line(ax, x, b["capacity"].to_numpy())
        ax.set_title(site, fontsize=9)
        ax.yaxis.set_major_formatter(matplotlib.ticker.StrMethodFormatter("{x:,.0f}"))
        _time_axis(ax)
    return _finish_grid(fig, axes, len(sites), title, path, fontsize=7, loc="upper left")
