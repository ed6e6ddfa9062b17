"""A leg longer than the horizon: its people are out but reach no destination within it, and
the plan's tables, plots and summary say so instead of failing. (Until 7 Dec 2026 a delivery
leg longer than the horizon but more than half as long as it stopped ``evacops plan`` with a
traceback: the shuttle's 100-hour onward leg over a 72-hour horizon.)"""

from __future__ import annotations

import numpy as np
import pytest

from evacops.plan import solve_plan
from tests.helpers import evacops, scenario_from, shuttle_dict


@pytest.mark.parametrize("horizon_h", [12, 60, 72, 99])
def test_a_delivery_leg_longer_than_the_horizon_delivers_nobody_within_it(horizon_h):
    d = shuttle_dict()
    d["time"]["horizon_h"] = horizon_h  # the onward leg (ground) takes 100 hours
    p = solve_plan(scenario_from(d), check_binding=-1)
    assert p.out_by_period.sum() > 0
    assert np.array_equal(p.delivered_by_period, np.zeros_like(p.delivered_by_period))
    use = p.aircraft_use()
    assert len(use) == p.network.T and (use.to_numpy() >= 0).all()
    s = p.summary()
    assert s["delivered_total"] == 0 and s["evacuated_total"] > 0


def test_the_command_line_plans_it(tmp_path):
    import yaml

    d = shuttle_dict()
    d["time"]["horizon_h"] = 72
    f = tmp_path / "long.yaml"
    f.write_text(yaml.safe_dump(d))
    r = evacops("plan", f, "--check", "0", "--out", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and (tmp_path / "p" / "report.html").exists()
