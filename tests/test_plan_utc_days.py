"""People out per UTC day: a plan's own days are its scenario's (Kabul's start at 00:00+04:30),
the registry counts UTC days, so the plan folder carries both (``daily_out.csv``,
``daily_out_utc.csv``) and the picture compares the plan's UTC days with the people who left.
Here the scenario starts at 00:00+04:30, so its 12 hours fall on one day of its own and on two
UTC days (19:30 to 24:00 and 00:00 to 07:30). SQLite, and PostgreSQL when
EVACOPS_TEST_DATABASE_URL is set."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
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

API = f"/api/v1/operations/{OPERATION}"
# the scenario's start in UTC, and the first UTC midnight after it (4.5 hours later)
START_UTC = datetime(2029, 12, 31, 19, 30, tzinfo=UTC)
MIDNIGHT = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    """A plan of the test scenario started at 00:00 Kabul time, and its folder."""
    d = tmp_path_factory.mktemp("plan-utc")
    path = d / "scenario.yaml"
    sc = _scenario()
    sc["time"]["start"] = "2030-01-01T00:00:00+04:30"
    path.write_text(yaml.safe_dump(sc))
    p = solve_plan(load(path), check_binding=0)
    write_plan(p, d / "plan", scenario_path=path)
    return p, d / "plan"


def test_a_period_counts_on_the_utc_day_of_its_middle(plan):
    p, _ = plan
    own, utc = p.daily_out(), p.daily_out(utc=True)
    assert [str(d) for d in own.index] == ["2030-01-01"]
    assert [str(d) for d in utc.index] == ["2029-12-31", "2030-01-01"]
    # each cohort's days add up to the same people either way
    assert (own.sum() == utc.sum()).all() and utc["total"].sum() > 0
    # through 31 Dec (UTC): the periods whose middle is before midnight, whole people
    middles = (p.times + timedelta(minutes=30)).tz_convert("UTC")
    before = np.asarray(middles < MIDNIGHT)
    assert before.sum() == 4 and p.times[0] == START_UTC  # 19:30-23:30 UTC
    first = np.floor(p.out_by_period[:, before].sum(axis=1) + 1e-6)
    assert list(utc.iloc[0][p.network.cohorts]) == list(first)
    assert 0 < utc["total"].iloc[0] < utc["total"].sum()  # people leave on both UTC days


def test_the_folder_and_the_outline_carry_both_kinds_of_days(plan):
    p, folder = plan
    outline = plan_outline(folder)
    assert outline["daily_out"] == {"2030-01-01": int(p.daily_out()["total"].iloc[0])}
    utc = p.daily_out(utc=True)["total"]
    assert outline["daily_out_utc"] == {str(d): int(n) for d, n in utc.items()}
    assert outline_of(p)["daily_out_utc"] == outline["daily_out_utc"]  # a re-plan's outline


def test_a_folder_written_before_has_its_own_days_only(plan, tmp_path):
    _, folder = plan
    old = tmp_path / "old"
    old.mkdir()
    for f in folder.iterdir():
        if f.name != "daily_out_utc.csv":
            (old / f.name).write_bytes(f.read_bytes())
    assert "daily_out_utc" not in plan_outline(old)


@pytest.fixture
def world(registry_env, admin) -> World:
    return World(registry_env, admin)


def test_the_picture_compares_utc_days_laid_on_the_operations_calendar(world: World, plan):
    _, folder = plan
    outline = plan_outline(folder)
    utc = list(outline["daily_out_utc"].values())
    today = datetime.now(UTC).date()
    # the plan's own day 1 (1 Jan 2030, Kabul) laid on today: its evening of 31 Dec UTC is
    # yesterday here, day 0
    world.admin.attach_plan(OPERATION, outline, first_day=today)
    # one person leaves today
    pid = world.ids[0]
    world.admin.add_flight(OPERATION, "U1", origin="HKIA", destination="Al Udeid", seats=9)
    world.admin.scan(OPERATION, world.payload[pid], "gate-in", site="Gate A")
    world.admin.scan(OPERATION, world.payload[pid], "board", flight="U1", override="test")
    world.admin.depart(OPERATION, "U1")
    pic = world.client().get(f"{API}/picture", headers=world.auth("planner")).json()["plan"]
    assert pic["utc_days"] is True and pic["planned"] == sum(utc)
    rows = {d["date"]: d for d in pic["days"]}
    yesterday = (today - timedelta(days=1)).isoformat()
    assert rows[yesterday]["planned"] == utc[0] and rows[yesterday]["day"] == 0
    assert rows[today.isoformat()]["planned"] == utc[1]
    assert rows[today.isoformat()]["actual"] == 1
    # so far (through today, UTC) the plan's two UTC days against the one person
    assert pic["drift"]["planned"] == sum(utc) and pic["drift"]["actual"] == 1
    page = world.page_login("planner").get(f"/o/{OPERATION}/picture", params={"lang": "fa"})
    assert "افراد خارج شده در هر روز به وقت UTC" in page.text
    env = {**world.env.env, "EVACOPS_PASSWORD": PASSWORD, "COLUMNS": "200"}
    shown = evacops("registry", "plan", "show", "--user", "reporter", env=env)
    assert shown.returncode == 0, shown.stderr
    assert "date (UTC)" in shown.stdout


def test_a_plan_with_its_own_days_only_is_laid_as_before(world: World, plan):
    _, folder = plan
    outline = {k: v for k, v in plan_outline(folder).items() if k != "daily_out_utc"}
    world.admin.attach_plan(OPERATION, outline, first_day=date(2030, 2, 1))
    pva = world.admin.plan_vs_actual(OPERATION)
    assert pva["utc_days"] is False
    # its people out on its day 1 as they are; its flights keep their UTC days (the evening
    # of 31 Dec UTC, laid on 31 Jan)
    planned = {d["date"]: (d["planned"], d["planned_flights"] > 0) for d in pva["days"]}
    assert planned == {
        "2030-01-31": (0, True),
        "2030-02-01": (outline["daily_out"]["2030-01-01"], True),
    }
    page = world.page_login("planner").get(f"/o/{OPERATION}/picture").text
    assert "People out per day: the latest plan" in page


@pytest.mark.parametrize(
    "value",
    [
        {"2029-12-31": 3, "2030-01-01": 3},  # not the same people as daily_out (5)
        {"31 Dec": 5},
        {"2030-01-01": 2.9, "2030-01-02": 2.1},
        {"2030-01-01": -1, "2030-01-02": 6},
        {"2030-01-01": True, "2030-01-02": 4},
        {},
        [5],
        {"2030-01-01": 0, "2031-01-02": 5},  # more than 366 days
    ],
)
def test_bad_utc_days_are_refused_with_the_field_named(world: World, value):
    world.admin.attach_plan(OPERATION, {"name": "good", "daily_out": {"2030-01-01": 5}})
    outline = {"name": "bad", "daily_out": {"2030-01-01": 5}, "daily_out_utc": value}
    with pytest.raises(RegistryError) as e:
        world.admin.attach_plan(OPERATION, outline)
    assert e.value.field == "daily_out_utc" and "\n" not in str(e.value)
    assert world.admin.plan_vs_actual(OPERATION)["name"] == "good"  # nothing recorded


def test_the_api_takes_the_utc_days(world: World, plan):
    _, folder = plan
    body = {**plan_outline(folder), "name": "by-api"}
    r = world.client().post(f"{API}/plans", json=body, headers=world.auth("planner"))
    assert r.status_code == 201, r.text
    assert r.json()["planned_out_utc"] == body["daily_out_utc"]
    bad = {**body, "daily_out_utc": {"2030-01-01": 1}}
    r = world.client().post(f"{API}/plans", json=bad, headers=world.auth("planner"))
    assert r.status_code == 422 and r.json()["field"] == "daily_out_utc"
