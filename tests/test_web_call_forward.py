"""The plan's call-forward on the gate page: attached with the plan (counts only), laid on the
operation's calendar, the next 3 hours for the page's gates, in the page's language; bad rows
refused with the field named. SQLite, and PostgreSQL when EVACOPS_TEST_DATABASE_URL is set."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import OPERATION
from test_web_support import World

from evacops.errors import RegistryError

PLAN_DAY = date(2030, 1, 1)


@pytest.fixture
def world(registry_env, admin) -> World:
    return World(registry_env, admin)


def _plan_time(now: datetime, hours: float) -> str:
    """The plan's own time (its calendar starts on PLAN_DAY) of ``now`` + ``hours``, when the
    plan's day 1 is laid on today."""
    t = now + timedelta(hours=hours)
    return (t - (now.date() - PLAN_DAY)).isoformat()


def _attach(world: World, rows: list) -> dict:
    outline = {"name": "kabul-test", "daily_out": {PLAN_DAY.isoformat(): 10}, "call_forward": rows}
    return world.admin.attach_plan(OPERATION, outline, first_day=datetime.now(UTC).date())


def test_the_gate_page_shows_the_plans_call_forward_for_the_next_hours(world: World):
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    got = _attach(
        world,
        [
            [_plan_time(now, 0.5), "Gate A", "Assembly", "SIV and families", 300],
            [_plan_time(now, 1.5), "Gate B", "Assembly", "US citizens", 40],
            [_plan_time(now, 5.5), "Gate A", "Assembly", "SIV and families", 999],  # too late
            [_plan_time(now, 0.5), "Nowhere", "Assembly", "US citizens", 777],  # not a gate here
        ],
    )
    assert got["call_forward_rows"] == 4 and "call_forward" not in got
    page = world.page_login("gate").get(f"/o/{OPERATION}/gate").text
    section = page.split('id="call-forward"')[1].split("</section>")[0]
    assert re.search(r"Gate A</bdi></td><td><bdi>SIV and families</bdi></td><td>300<", section)
    assert re.search(r"Gate B</bdi></td><td><bdi>US citizens</bdi></td><td>40<", section)
    assert "999" not in section and "777" not in section and "Nowhere" not in section
    # in Dari: the heading translated, times left to right
    fa = world.page_login("gate").get(f"/o/{OPERATION}/gate", params={"lang": "fa"}).text
    assert "فراخوان (برنامه)" in fa and '<bdi dir="ltr">' in fa.split('id="call-forward"')[1]


def test_a_plan_that_calls_nobody_here_says_so_and_no_plan_shows_nothing(world: World):
    page = world.page_login("gate").get(f"/o/{OPERATION}/gate").text
    assert 'id="call-forward"' not in page  # no plan attached
    now = datetime.now(UTC)
    _attach(world, [[_plan_time(now, 7), "Gate A", "Assembly", "US citizens", 5]])
    page = world.page_login("gate").get(f"/o/{OPERATION}/gate").text
    assert "The plan calls nobody to this gate in the next 3 hours." in page


@pytest.mark.parametrize(
    "rows",
    [
        [["2030-01-01T00:00:00", "Gate A", "Assembly", "US citizens", 1]],  # no zone
        [["2030-01-01T00:00:00+00:00", "Gate A", "Assembly", "US citizens", -1]],
        [["2030-01-01T00:00:00+00:00", "Gate A", "US citizens", 1]],  # a field missing
        "not a list",
    ],
)
def test_bad_call_forward_rows_are_refused_with_the_field(world: World, rows):
    with pytest.raises(RegistryError) as e:
        _attach(world, rows)
    assert e.value.field == "call_forward"


def test_the_api_takes_the_call_forward_with_the_plan(world: World):
    now = datetime.now(UTC)
    body = {
        "name": "api-plan",
        "daily_out": {PLAN_DAY.isoformat(): 3},
        "first_day": now.date().isoformat(),
        "call_forward": [[_plan_time(now, 0), "Gate C", "Assembly", "US citizens", 12]],
    }
    r = world.client().post(
        f"/api/v1/operations/{OPERATION}/plans", json=body, headers=world.auth("planner")
    )
    assert r.status_code == 201, r.text
    assert r.json()["call_forward_rows"] == 1
    page = world.page_login("gate").get(f"/o/{OPERATION}/gate").text
    assert re.search(r"Gate C</bdi></td><td><bdi>US citizens</bdi></td><td>12<", page)


def test_the_ramp_page_shows_the_plans_departures_for_the_next_hours(world: World):
    now = datetime.now(UTC).replace(minute=30, second=0, microsecond=0)
    outline = {
        "name": "kabul-test",
        "daily_out": {PLAN_DAY.isoformat(): 10},
        "departures": [
            [_plan_time(now, 0.5), "HKIA", "Al Udeid", "usaf-c17-03", 380],
            [_plan_time(now, 1.5), "Al Udeid", "HKIA", "usaf-c17-03", 0],  # back, empty
            [_plan_time(now, 6), "HKIA", "Ramstein", "usaf-c17-04", 400],  # too late
        ],
    }
    got = world.admin.attach_plan(OPERATION, outline, first_day=now.date())
    assert got["departures_rows"] == 3
    page = world.page_login("manifest").get(f"/o/{OPERATION}/ramp").text
    section = page.split('id="planned-departures"')[1].split("</section>")[0]
    row = r'usaf-c17-03</bdi></td><td><bdi dir="ltr">HKIA → Al Udeid</bdi></td><td>380<'
    assert re.search(row, section)
    assert re.search(r'<bdi dir="ltr">Al Udeid → HKIA</bdi></td><td>0<', section)
    assert "usaf-c17-04" not in section
    ar = world.page_login("manifest").get(f"/o/{OPERATION}/ramp", params={"lang": "ar"}).text
    assert "المغادرات (الخطة)" in ar


def _plan_of_three_days(world: World, **extra) -> None:
    today = datetime.now(UTC).date()
    own = [PLAN_DAY + timedelta(days=i) for i in range(3)]
    outline = {"name": "drift-test", "daily_out": {d.isoformat(): 100 for d in own}, **extra}
    world.admin.attach_plan(OPERATION, outline, first_day=today - timedelta(days=2))


def test_the_picture_flags_a_replan_when_people_out_drift_past_the_threshold(world: World):
    _plan_of_three_days(world)  # 300 planned out by today, nobody out: -100 %
    pva = world.admin.plan_vs_actual(OPERATION)
    assert pva["drift"]["planned"] == 300 and pva["drift"]["actual"] == 0
    assert pva["drift"]["pct"] == -100.0 and pva["drift"]["replan"] is True
    page = world.page_login("planner").get(f"/o/{OPERATION}/picture").text
    assert 'id="drift"' in page and "\u2068-100.0\u2069\u00a0% off the plan (0 against 300" in page
    fa = world.page_login("planner").get(f"/o/{OPERATION}/picture", params={"lang": "fa"}).text
    assert "برنامه‌ریزی دوباره" in fa
    # a percent sign never wraps away from its number, and a signed number is isolated (its
    # minus sign kept with it in a right-to-left line on a phone)
    drift = fa.split('id="drift"')[1].split("</p>")[0]
    assert "\u2068-100.0\u2069\u00a0%" in drift and not re.search(r"\d %", drift)
    # a cell that sets the threshold beyond the gap sees no flag
    _plan_of_three_days(world, drift_pct=150)
    assert world.admin.plan_vs_actual(OPERATION)["drift"]["replan"] is False
    page = world.page_login("planner").get(f"/o/{OPERATION}/picture").text
    assert 'id="drift"' not in page
    with pytest.raises(RegistryError) as e:
        _plan_of_three_days(world, drift_pct=-5)
    assert e.value.field == "drift_pct"
