"""The time axes of the plots: each tick labelled at its own level, so a two-day scenario shows
hours (not one date repeated under every tick) and a 17-day one shows days."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from evacops.report.plots import _time_axis, plot_fan


@pytest.mark.parametrize("hours", [12, 48, 408])
def test_tick_labels_are_distinct(hours):
    idx = pd.date_range("2030-01-01", periods=hours, freq="h")
    fig, ax = plt.subplots()
    ax.plot(idx, np.arange(hours))
    _time_axis(ax)
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    plt.close(fig)
    assert len(labels) >= 3
    days = [label for label in labels if ":" not in label]
    assert len(set(days)) == len(days), labels  # a date appears once, where the day begins
    assert len(set(labels)) > len(labels) / 2, labels
    if hours <= 48:
        assert any(":" in label for label in labels)  # hours are shown


def test_fan_chart_of_two_days_is_written(tmp_path):
    idx = pd.date_range("2030-01-01", periods=48, freq="h", tz="UTC")
    q = pd.DataFrame({p: np.arange(48.0) * (1 + k / 10) for k, p in enumerate(
        ["p10", "p25", "p50", "p75", "p90"])}, index=idx)  # fmt: skip
    path = plot_fan(q, tmp_path / "fan.png", "two days")
    assert path.stat().st_size > 1000
