"""The operation picture's plan against what happened, beyond people out: flights with people
per day (the plan's sorties with a load, the registry's departures) and the plan's people at
each staging base now beside the people there. The outline carries both from the plan folder
(``daily_flights``, ``occupancy``); the registry lays them on the operation's calendar; bad
values are refused with the field named. SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL
is set."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
import yaml
from conftest import OPERATION, PASSWORD
from helpers import evacops
from test_replan_registry import _scenario
from test_web_support import World

from evacops.errors import RegistryError
from evacops.plan import solve_plan
from evacops.planfolder import outline_of, plan_outline, write_plan
from evacops.scenario import load
from evacops.web.app import create_app

PLAN_START = datetime(2030, 1, 1, tzinfo=UTC)  # the test scenario's start
API = f"/api/v1/operations/{OPERATION}"
MANY = {f"B{i}": [0] * 1000 for i in range(401)}  # 401,000 numbers: one base too many


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    """A plan of the test scenario (12 one-hour periods, HKIA to the staging base Al Udeid,
    which processes 4 people an hour) and its folder."""
    d = tmp_path_factory.mktemp("plan-bases")
    path = d / "scenario.yaml"
    sc = _scenario()
    base = next(s for s in sc["sites"] if s["name"] == "Al Udeid")
    base["processing_rate_per_h"] = 4  # people wait there to be processed
    path.write_text(yaml.safe_dump(sc))
    p = solve_plan(load(path), check_binding=0)
    write_plan(p, d / "plan", scenario_path=path)
    return p, d / "plan", path


def test_the_outline_counts_the_plans_flights_per_day_and_its_people_at_each_base(plan):
    p, folder, _ = plan
    outline = plan_outline(folder)
    sched = p.schedule()
    carrying = sched[sched["load"] > 0]
    assert len(carrying) > 0
    by_day = carrying.groupby(carrying["departure"].map(lambda t: t.date().isoformat())).size()
    assert outline["daily_flights"] == {d: int(by_day.get(d, 0)) for d in outline["daily_out"]}
    occ = outline["occupancy"]
    assert occ["start"] == PLAN_START.isoformat() and occ["period_h"] == 1.0
    net = p.network
    staging = [s for s, k in zip(net.sites, net.site_kind, strict=True) if k == "staging"]
    assert list(occ["sites"]) == staging == ["Al Udeid"]
    held = p.final.hold.sum(axis=0)[list(net.sites).index("Al Udeid")]
    assert occ["sites"]["Al Udeid"] == [round(float(v)) for v in held]
    assert max(occ["sites"]["Al Udeid"]) > 0  # people wait there in this plan
    # a re-plan's outline (no folder of its own) says the same
    again = outline_of(p)
    assert again["daily_flights"] == outline["daily_flights"]
    assert again["occupancy"] == occ


@pytest.fixture
def world(registry_env, admin, plan, monkeypatch) -> World:
    """The web world served with the test scenario, the plan attached with its day 1 laid on
    yesterday, and every registry of the service reading the clock at ``world.now``: 27 h after
    the plan's start on the operation's calendar, that is 03:00 of the plan's day 2."""
    _, folder, path = plan
    w = World(registry_env, admin)
    today = datetime.now(UTC).date()
    w.day1 = today - timedelta(days=1)
    w.now = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=3, minutes=20)
    admin.attach_plan(OPERATION, plan_outline(folder), first_day=w.day1)
    w.app = create_app(
        w.app.state.settings.model_copy(update={"scenario": path}), accounts=w.accounts
    )
    make = w.accounts.registry

    def registry(actor):
        reg = make(actor)
        reg.clock = lambda: w.now
        return reg

    monkeypatch.setattr(w.accounts, "registry", registry)
    yield w
    w.app.state.replanner.shutdown()


def test_the_picture_shows_flights_and_bases_planned_against_actual(world: World, plan):
    _, folder, _ = plan
    outline = plan_outline(folder)
    # two flights leave today (the operation's calendar), one is only scheduled
    for code in ("F1", "F2", "F3"):
        world.admin.add_flight(OPERATION, code, origin="HKIA", destination="Al Udeid", seats=9)
    world.admin.depart(OPERATION, "F1")
    world.admin.depart(OPERATION, "F2")
    today = datetime.now(UTC).date().isoformat()
    pic = world.client().get(f"{API}/picture", headers=world.auth("planner")).json()["plan"]
    assert pic["has_flights"] is True
    rows = {d["date"]: d for d in pic["days"]}
    assert rows[today]["actual_flights"] == 2
    planned = list(outline["daily_flights"].values())  # the plan's days, laid from day 1
    for k, n in enumerate(planned):
        assert rows[(world.day1 + timedelta(days=k)).isoformat()]["planned_flights"] == n
    # 27 h 20 min after the plan's start on this calendar: the end of its 27th period, which
    # the 12-period plan does not reach: no planned figure
    assert pic["bases"] is None
    # the same plan laid on today: 3 periods ended by 03:20
    world.admin.attach_plan(OPERATION, outline, first_day=datetime.now(UTC).date())
    pic = world.client().get(f"{API}/picture", headers=world.auth("planner")).json()["plan"]
    at = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC) + timedelta(hours=3)
    assert pic["bases"] == {
        "at": at.isoformat(),
        "sites": {"Al Udeid": outline["occupancy"]["sites"]["Al Udeid"][2]},
        "at_text": f"\u2068{at.isoformat()[:16].replace('T', ' ')} UTC\u2069",
    }
    page = world.page_login("planner").get(f"/o/{OPERATION}/picture").text
    base = re.search(r'<tr data-base="Al Udeid">(.*?)</tr>', page, re.S).group(1)
    assert f"<td data-planned-now>{pic['bases']['sites']['Al Udeid']}</td>" in base
    row = re.search(rf'<tr data-date="{today}">(.*?)</tr>', page).group(1)
    n = planned[0]
    assert f"<td data-planned-flights>{n}</td><td data-actual-flights>2</td>" in row
    fa = world.page_login("planner").get(f"/o/{OPERATION}/picture", params={"lang": "fa"}).text
    assert "پروازهای انجام‌شده" in fa and "اکنون" in fa
    # the terminal's table has the two flight columns (a wide terminal)
    env = {**world.env.env, "EVACOPS_PASSWORD": PASSWORD, "COLUMNS": "200"}
    shown = evacops("registry", "plan", "show", "--user", "reporter", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "flights planned" in shown.stdout and "flights flown" in shown.stdout


def test_a_plan_without_flights_or_bases_shows_neither(world: World):
    world.admin.attach_plan(OPERATION, {"name": "old", "daily_out": {"2030-01-01": 5}})
    pva = world.admin.plan_vs_actual(OPERATION)
    assert pva["has_flights"] is False and pva["bases"] is None
    assert all(d["planned_flights"] is None for d in pva["days"])
    page = world.page_login("planner").get(f"/o/{OPERATION}/picture").text
    assert "data-planned-flights" not in page and "data-planned-now" not in page


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("daily_flights", {"2030-01-09": 3}),  # a day the plan does not have
        ("daily_flights", {"2030-01-01": -1}),
        ("daily_flights", ["2030-01-01", 3]),
        ("occupancy", {"start": "2030-01-01T00:00:00", "period_h": 1, "sites": {"A": [1]}}),
        ("occupancy", {"start": "2030-01-01T00:00:00+00:00", "period_h": 0, "sites": {"A": [1]}}),
        ("occupancy", {"start": "2030-01-01T00:00:00+00:00", "period_h": 1, "sites": {"A": [-1]}}),
        ("occupancy", {"start": "2030-01-01T00:00:00+00:00", "period_h": 1, "sites": {"A": "12"}}),
        ("occupancy", {"start": "2030-01-01T00:00:00+00:00", "period_h": 1}),
        ("occupancy", {"start": "2030-01-01T00:00:00+00:00", "period_h": 1, "sites": MANY}),
    ],
)
def test_bad_flights_or_bases_are_refused_with_the_field_named(world: World, field, value):
    outline = {"name": "bad", "daily_out": {"2030-01-01": 5, "2030-01-02": 6}, field: value}
    before = world.admin.plan_vs_actual(OPERATION)["name"]
    with pytest.raises(RegistryError) as e:
        world.admin.attach_plan(OPERATION, outline)
    assert e.value.field == field and "\n" not in str(e.value)
    assert world.admin.plan_vs_actual(OPERATION)["name"] == before  # nothing recorded


def test_the_api_takes_flights_and_bases_with_the_outline(world: World, plan):
    _, folder, _ = plan
    body = {**plan_outline(folder), "name": "by-api", "first_day": date(2030, 1, 1).isoformat()}
    r = world.client().post(f"{API}/plans", json=body, headers=world.auth("planner"))
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["planned_flights"] == list(body["daily_flights"].values())
    assert got["occupancy_bases"] == 1 and "occupancy" not in got
    bad = {**body, "occupancy": {**body["occupancy"], "sites": {"Al Udeid": [-3]}}}
    r = world.client().post(f"{API}/plans", json=bad, headers=world.auth("planner"))
    assert r.status_code == 422 and r.json()["field"] == "occupancy"
    assert world.admin.plan_vs_actual(OPERATION)["name"] == "by-api"  # the bad one not recorded
