"""The operation picture's plan against what happened, beyond people out: flights with people
per UTC day (the plan's departures with a load, the registry's departures with anyone boarded)
and the plan's people at each staging base now beside the people there (the outline's
``occupancy``, from the plan folder's occupancy table). The registry lays both on the
operation's calendar; bad values are refused with the field named. SQLite, and PostgreSQL when
EVACOPS_TEST_DATABASE_URL is set."""

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
GOOD = {"start": "2030-01-01T00:00:00+00:00", "period_h": 1}


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


def test_the_outline_carries_the_plans_people_at_each_base(plan):
    p, folder, _ = plan
    outline = plan_outline(folder)
    occ = outline["occupancy"]
    assert occ["start"] == PLAN_START.isoformat() and occ["period_h"] == 1.0
    net = p.network
    staging = [s for s, k in zip(net.sites, net.site_kind, strict=True) if k == "staging"]
    assert list(occ["sites"]) == staging == ["Al Udeid"]
    held = p.final.hold.sum(axis=0)[list(net.sites).index("Al Udeid")]
    assert occ["sites"]["Al Udeid"] == [round(float(v)) for v in held]
    assert max(occ["sites"]["Al Udeid"]) > 0  # people wait there in this plan
    # a re-plan's outline (no folder of its own) says the same
    assert outline_of(p)["occupancy"] == occ


def test_the_plans_flights_are_its_departures_with_people_per_utc_day(world: World, plan):
    p, folder, _ = plan
    got = world.admin.attach_plan(OPERATION, plan_outline(folder))
    sched = p.schedule()
    carrying = sched[sched["load"] > 0]
    assert 0 < len(carrying) < len(sched)  # an empty leg back is not a flight with people
    by_day = carrying["departure"].map(lambda t: t.tz_convert("UTC").date().isoformat())
    assert got["planned_flights"] == by_day.value_counts().sort_index().to_dict()


@pytest.fixture
def world(registry_env, admin, plan, monkeypatch) -> World:
    """The web world served with the test scenario, the plan attached with its day 1 laid on
    yesterday, and every registry of the service reading the clock at ``world.now``: 29 h 20 min
    after the plan's start on the operation's calendar."""
    _, folder, path = plan
    w = World(registry_env, admin)
    today = datetime.now(UTC).date()
    w.day1 = today - timedelta(days=1)
    w.now = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=5, minutes=20)
    admin.attach_plan(OPERATION, plan_outline(folder), first_day=w.day1)
    w.app = create_app(
        w.app.state.settings.model_copy(update={"scenario": path}), accounts=w.accounts
    )
    w.service_clock(monkeypatch, lambda: w.now)
    yield w
    w.app.state.replanner.shutdown()


def test_the_picture_shows_flights_and_bases_planned_against_actual(world: World, plan):
    _, folder, _ = plan
    outline = plan_outline(folder)
    # today (the operation's calendar) one flight leaves with two people, one empty, and one
    # is only scheduled
    for code in ("F1", "F2", "F3"):
        world.admin.add_flight(OPERATION, code, origin="HKIA", destination="Al Udeid", seats=9)
    for pid in world.ids[:2]:
        world.admin.scan(OPERATION, world.payload[pid], "gate-in", site="Gate A")
        world.admin.scan(OPERATION, world.payload[pid], "board", flight="F1", override="test")
    world.admin.depart(OPERATION, "F1")
    world.admin.depart(OPERATION, "F2")
    today = datetime.now(UTC).date()
    pic = world.client().get(f"{API}/picture", headers=world.auth("planner")).json()["plan"]
    assert pic["has_flights"] is True
    rows = {d["date"]: d for d in pic["days"]}
    assert rows[today.isoformat()]["actual_flights"] == 1  # the empty one is not counted
    # the plan's two flights with people, on its own 1 Jan 2030, laid on day 1 (yesterday)
    assert rows[world.day1.isoformat()]["planned_flights"] == 2
    assert rows[today.isoformat()]["planned_flights"] == 0
    # 29 h 20 min after the plan's start on this calendar: past its 12 periods, no figure
    assert pic["bases"] is None
    # the same plan laid on today: 5 periods ended by 05:20; the 5th ends with 12 people at
    # Al Udeid (16 after the 4th, 8 after the 6th)
    world.admin.attach_plan(OPERATION, outline, first_day=today)
    assert outline["occupancy"]["sites"]["Al Udeid"][3:6] == [16, 12, 8]
    pic = world.client().get(f"{API}/picture", headers=world.auth("planner")).json()["plan"]
    at = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=5)
    assert pic["bases"] == {"at": at.isoformat(), "sites": {"Al Udeid": 12}}
    page = world.page_login("planner").get(f"/o/{OPERATION}/picture").text
    base = re.search(r'<tr data-base="Al Udeid">(.*?)</tr>', page, re.S).group(1)
    assert f"<td data-planned-now>{pic['bases']['sites']['Al Udeid']}</td>" in base
    assert f"\u2068{at.isoformat()[:16].replace('T', ' ')} UTC\u2069" in page  # isolated
    row = re.search(rf'<tr data-date="{today}">(.*?)</tr>', page).group(1)
    assert "<td data-planned-flights>2</td><td data-actual-flights>1</td>" in row
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
        ("occupancy", {"start": "2030-01-01T00:00:00", "period_h": 1, "sites": {"A": [1]}}),
        ("occupancy", {"start": "2030-01-01T00:00:00+00:00", "period_h": 0, "sites": {"A": [1]}}),
        ("occupancy", {"start": "2030-01-01T00:00:00+00:00", "period_h": 1, "sites": {"A": [-1]}}),
        ("occupancy", {"start": "2030-01-01T00:00:00+00:00", "period_h": 1, "sites": {"A": "12"}}),
        ("occupancy", {"start": "2030-01-01T00:00:00+00:00", "period_h": 1}),
        ("occupancy", {"start": "2030-01-01T00:00:00+00:00", "period_h": 1, "sites": MANY}),
        ("occupancy", {**GOOD, "sites": {f"B{i}": [0] for i in range(1001)}}),  # too many bases
        ("occupancy", {**GOOD, "sites": {}}),
        ("occupancy", {**GOOD, "sites": {"A": []}}),
        ("occupancy", {**GOOD, "sites": {"A": [1, 2], "B": [1]}}),  # not the same periods
        ("occupancy", {**GOOD, "sites": {"A": [True]}}),
        ("occupancy", {**GOOD, "sites": {"A": [2.9]}}),
        ("occupancy", {**GOOD, "sites": {"A": [float("inf")]}}),
        ("occupancy", {**GOOD, "sites": {"A": [float("nan")]}}),
        ("occupancy", {**GOOD, "sites": {"A" * 201: [1]}}),
    ],
)
def test_bad_bases_are_refused_with_the_field_named(world: World, field, value):
    outline = {"name": "bad", "daily_out": {"2030-01-01": 5, "2030-01-02": 6}, field: value}
    before = world.admin.plan_vs_actual(OPERATION)["name"]
    with pytest.raises(RegistryError) as e:
        world.admin.attach_plan(OPERATION, outline)
    assert e.value.field == field and "\n" not in str(e.value)
    assert world.admin.plan_vs_actual(OPERATION)["name"] == before  # nothing recorded


def test_the_api_takes_the_bases_with_the_outline(world: World, plan):
    _, folder, _ = plan
    body = {**plan_outline(folder), "name": "by-api", "first_day": date(2030, 1, 1).isoformat()}
    r = world.client().post(f"{API}/plans", json=body, headers=world.auth("planner"))
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["planned_flights"] == {"2030-01-01": 2}
    assert got["occupancy_bases"] == 1 and "occupancy" not in got
    bad = {**body, "occupancy": {**body["occupancy"], "sites": {"Al Udeid": [-3]}}}
    r = world.client().post(f"{API}/plans", json=bad, headers=world.auth("planner"))
    assert r.status_code == 422 and r.json()["field"] == "occupancy"
    assert world.admin.plan_vs_actual(OPERATION)["name"] == "by-api"  # the bad one not recorded
