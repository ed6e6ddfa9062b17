"""Re-plans through the service: a planner asks (API or the picture's what-if form), the server
re-plans from the registry's people and the attached plan's sorties in its worker process, keeps
the request and what came of it, and a planner adopts it: the ramp and the gates then follow it.
Roles, a stored plan never changed by a re-plan, refusals. SQLite, and PostgreSQL when
EVACOPS_TEST_DATABASE_URL is set. Generated people."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from conftest import OPERATION
from helpers import assert_user_error, evacops
from markupsafe import escape
from test_replan_registry import _moved, _scenario
from test_web_support import World, csrf_of

from evacops.plan import solve_plan
from evacops.planfolder import plan_outline, write_plan
from evacops.registry.services.plans import latest_plan
from evacops.scenario import load
from evacops.web.app import create_app

API = f"/api/v1/operations/{OPERATION}"


@pytest.fixture
def world(registry_env, admin, tmp_path) -> World:
    """The web world, served with the test scenario, and a plan of it attached, its day 1 laid
    on today (the operation's calendar). Its one aircraft has a crew rate that never binds in
    the 12 hours (2-hour legs: 6 sorties at most), so that re-plans count its crews."""
    w = World(registry_env, admin)
    path = tmp_path / "scenario.yaml"
    d = _scenario()
    d["fleets"][0]["max_sorties_per_day"] = 12
    path.write_text(yaml.safe_dump(d))
    folder = tmp_path / "plan"
    write_plan(solve_plan(load(path), check_binding=0), folder, scenario_path=path)
    today = datetime.now(UTC).date()
    admin.attach_plan(OPERATION, plan_outline(folder), first_day=today)
    settings = w.app.state.settings.model_copy(update={"scenario": path})
    w.app = create_app(settings, accounts=w.accounts)
    w.moment = datetime.combine(today, datetime.min.time(), UTC) + timedelta(hours=4)
    w.scenario_path = path
    yield w
    w.app.state.replanner.shutdown()


def _ask(world: World, role: str = "planner", **body) -> dict:
    r = world.client().post(
        f"{API}/replan", json={"at": world.moment.isoformat(), **body}, headers=world.auth(role)
    )
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "running"
    world.app.state.replanner.wait(timeout=300)
    return world.client().get(f"{API}/replans/{r.json()['id']}", headers=world.auth(role)).json()


def _plan_event(world: World) -> int:
    with world.admin.ctx.read() as conn:
        return latest_plan(conn, OPERATION)["event"]


def test_a_replan_from_the_registry_is_kept_and_never_changes_the_plan(world: World):
    _moved(world)
    before = _plan_event(world)
    got = _ask(world)
    assert got["status"] == "done", got.get("error")
    assert got["requested_by"] == "planner" and got["at"] == world.moment.isoformat()
    assert got["took_s"] >= 0 and got["finished_at"] >= got["requested_at"]
    res = got["result"]
    # the registry's people: all of them, one of them already flown (out before the moment)
    assert res["state"]["people_waiting"] == len(world.ids)
    assert res["state"]["people_on_their_way"] == 0
    assert res["state"]["out_before"] == 1
    # the comparison: per cohort, the plan's people out by the deadline beside the re-plan's
    rows = {r["cohort"]: r for r in got["comparison"]}
    assert set(rows) == set(res["out_by_deadline"])
    for r in rows.values():
        assert r["plan"] is not None and r["difference"] == r["replan"] - r["plan"]
    assert sum(r["replan"] for r in rows.values()) == res["out_by_deadline_total"]
    assert res["out_by_deadline_total"] <= len(world.ids)
    assert _plan_event(world) == before  # asking never changes the operation's plan
    listed = world.client().get(f"{API}/replans", headers=world.auth("reporter")).json()
    assert [r["id"] for r in listed] == [got["id"]] and not listed[0]["adopted"]
    assert "outline" not in listed[0]  # the list carries counts, not the re-plan's rows


def test_what_if_losing_the_only_base_moves_nobody_more(world: World):
    _moved(world)
    got = _ask(world, close=["Al Udeid"])
    assert got["status"] == "done", got.get("error")
    assert got["what_if"]["close"] == ["Al Udeid"]
    # no aircraft may land there from the moment (nor after the horizon): people out by the
    # deadline are those out before it
    assert got["result"]["out_by_deadline_total"] == got["result"]["state"]["out_before"] == 1
    # beside it, the same re-plan without the change: the difference is the change's effect
    plain = _ask(world)
    assert got["result"]["baseline_out_by_deadline"] == plain["result"]["out_by_deadline"]
    res = got["result"]
    for r in got["comparison"]:
        assert r["baseline"] == plain["result"]["out_by_deadline"][r["cohort"]]
        assert r["difference"] == r["replan"] - r["baseline"] <= 0
        # and in the LP: the same state's LP without the change, less the what-if's
        lp, base = res["lp_out_by_deadline"], res["baseline_lp_out_by_deadline"]
        assert base == plain["result"]["lp_out_by_deadline"]
        assert r["lp_difference"] == lp[r["cohort"]] - base[r["cohort"]] <= 0
    assert "baseline" not in plain["comparison"][0]


def test_keeping_the_schedule_replans_the_people_alone(world: World, monkeypatch):
    """``keep_schedule``: the people alone, on the plan's sorties (seconds on Kabul); no LP
    figures claimed; a what-if the schedule cannot keep fails with the sortie at fault; the
    picture's form asks for it with a checkbox, and its entry says so."""
    _moved(world)
    got = _ask(world, keep_schedule=True)
    assert got["status"] == "done", got.get("error")
    assert got["keep_schedule"] is True
    res = got["result"]
    assert res["keep_schedule"] is True and res["whole_sortie_gap_pct"] is None
    assert res["lp_out_by_deadline"] is None
    assert res["state"]["people_waiting"] == len(world.ids) and res["state"]["out_before"] == 1
    assert sum(r["replan"] for r in got["comparison"]) == res["out_by_deadline_total"]
    assert _ask(world)["keep_schedule"] is False
    # closing the only base: the plan's later sorties land there, so the schedule cannot be kept
    closed = _ask(world, close=["Al Udeid"], keep_schedule=True)
    assert closed["status"] == "failed"
    assert "which this state rules out" in closed["error"]
    assert "re-plan the aircraft too" in closed["error"]
    # with the refusal's code and values, for a page to word it in its language
    assert closed["error_code"] == "schedule-site-closed"
    params = closed["error_params"]
    assert set(params) == {"move", "time", "hours"} and params["move"] in closed["error"]
    assert f"at {params['time']} ({params['hours']} h from the moment)" in closed["error"]
    # a what-if the schedule keeps: its effect on whole sorties, no LP column
    gate = _ask(world, close=["Gate A"], keep_schedule=True)
    assert gate["status"] == "done", gate.get("error")
    for r in gate["comparison"]:
        assert r["difference"] == r["replan"] - r["baseline"] and "lp_difference" not in r
    # its baseline (solved in a thread beside it) is the kept re-plan of the same state
    assert gate["result"]["baseline_out_by_deadline"] == res["out_by_deadline"]
    # the picture's form
    _now_at_the_moment(world, monkeypatch)
    client = world.page_login("planner")
    assert 'name="keep_schedule"' in client.get(f"/o/{OPERATION}/picture").text
    live, rid = _ask_on_the_picture(world, client, close="Gate A", keep_schedule="1")
    entry = _entry(live, rid)
    assert "data-keep-schedule" in entry and "data-lp-difference" not in entry, entry
    listed = world.client().get(f"{API}/replans/{rid}", headers=world.auth("reporter")).json()
    assert listed["keep_schedule"] is True
    # a refusal on the picture in Dari: its words, the values isolated from the right-to-left
    # text, not the planner's English line
    _, rid = _ask_on_the_picture(world, client, close="Al Udeid", keep_schedule="1")
    entry = _entry(client.get(f"/o/{OPERATION}/picture/live?lang=fa").text, rid)
    failed = world.client().get(f"{API}/replans/{rid}", headers=world.auth("reporter")).json()
    assert failed["status"] == "failed" and failed["error_code"] == "schedule-site-closed"
    assert "را تیک نزنید" in entry and "rules out" not in entry, entry
    for value in failed["error_params"].values():
        assert f"\u2068{escape(value)}\u2069" in entry


def test_a_window_replans_the_aircraft_for_its_hours(world: World, monkeypatch):
    """``window_h``: the aircraft re-planned for the next hours, the plan's sorties kept after
    them (none to a closed base): where the kept schedule is refused (the only base closed), a
    window answers as the whole re-plan does, and says what its bound is for; it goes with no
    kept schedule, and the picture's form asks for it in the page's language."""
    _moved(world)
    whole = _ask(world, close=["Al Udeid"])
    got = _ask(world, close=["Al Udeid"], window_h=2)
    assert got["status"] == "done", got.get("error")
    assert got["window_h"] == 2 and whole["window_h"] is None
    res = got["result"]
    assert res["window_h"] == 2 and res["window_until"] and not whole["result"]["window_until"]
    assert res["out_by_deadline"] == whole["result"]["out_by_deadline"]
    assert res["baseline_out_by_deadline"] is not None  # (its baseline: the same window)
    c, head = world.client(), world.auth("planner")
    for hours in (0, -1, 10000, "many"):
        r = c.post(f"{API}/replan", json={"window_h": hours}, headers=head)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "window_h", r.text
    both = c.post(f"{API}/replan", json={"window_h": 2, "keep_schedule": True}, headers=head)
    assert both.status_code == 422 and both.json()["code"] == "window-and-kept", both.text
    # the picture's form: a window chosen from a list; its entry says what was re-planned
    _now_at_the_moment(world, monkeypatch)
    client = world.page_login("planner")
    assert '<select name="window_h">' in client.get(f"/o/{OPERATION}/picture").text
    _, rid = _ask_on_the_picture(world, client, close="Al Udeid", window_h="24")
    entry = _entry(client.get(f"/o/{OPERATION}/picture/live?lang=fa").text, rid)
    assert "data-window" in entry and "هواپیماها برای 24 ساعت نخست" in entry, entry
    bad = client.post(
        f"/o/{OPERATION}/picture/replan?lang=fa",
        data={"csrf": csrf_of(client), "window_h": "24", "keep_schedule": "1"},
    )
    assert bad.status_code == 422 and "یکی را برگزینید" in bad.text, bad.text


def test_adopting_a_replan_sends_it_to_the_ramp_and_resets_the_days(world: World):
    _moved(world)
    with world.admin.ctx.read() as conn:
        first = latest_plan(conn, OPERATION)
    got = _ask(world)
    r = world.client().post(f"{API}/replans/{got['id']}/adopt", headers=world.auth("planner"))
    assert r.status_code == 200, r.text
    with world.admin.ctx.read() as conn:
        plan = latest_plan(conn, OPERATION)
    assert plan["replan"] == got["id"] and plan["name"] == f"re-plan {got['id']}"
    assert plan["departures"], "the re-plan's sorties go to the ramp"
    # the sorties flown before the moment are the first plan's, kept: a later re-plan from the
    # adopted plan starts every aircraft where they left it
    moment = datetime.fromisoformat(got["result"]["at"])
    before = [d for d in first["departures"] if datetime.fromisoformat(d[0]) < moment]
    assert before, "the test's moment comes after the first plan's first sortie"
    assert [d for d in plan["departures"] if datetime.fromisoformat(d[0]) < moment] == before
    ramp = world.admin.plan_rows_now(OPERATION, "departures", ["HKIA"], world.moment)
    assert ramp is not None and ramp["plan"] == plan["name"]
    # its days: the one person actually out, then the re-plan's people out from the moment
    # (the scenario has no deadline: out by the deadline is out within the horizon)
    res = got["result"]
    assert plan["first_day"] == world.moment.date().isoformat()
    assert sum(plan["planned_out"]) == 1 + res["out_by_deadline_total"] - res["state"]["out_before"]
    # its UTC days too (this scenario's own days are UTC days): the same people
    assert plan["planned_out_utc"] == dict(zip(_days(plan), plan["planned_out"], strict=True))
    pic = world.client().get(f"{API}/picture", headers=world.auth("planner")).json()["plan"]
    assert pic["drift"]["actual"] == 1 and pic["days"][0]["actual"] == 1
    listed = world.client().get(f"{API}/replans", headers=world.auth("planner")).json()
    assert listed[0]["adopted"] is True
    kept = _ask(world, keep_schedule=True)  # the adopted schedule, whole, fits the aircraft
    assert kept["status"] == "done", kept.get("error")


def test_adopting_counts_each_person_out_once_and_keeps_the_requests_calendar(world: World):
    """People flown after the request are in the re-plan's own flows (its state was the
    registry's when asked), so adopting does not count them again as actually out; and another
    plan attached since the request (a different calendar) does not move the re-plan's days."""
    _moved(world)
    got = _ask(world)
    res = got["result"]
    # a second person flown after the request, on the moment's day
    late = world.ids[1]
    world.admin.add_flight(OPERATION, "RP2", origin="HKIA", destination="Al Udeid", seats=10)
    world.admin.scan(OPERATION, world.payload[late], "board", flight="RP2", override="test")
    world.admin.depart(OPERATION, "RP2")
    # another plan attached since, its day 1 laid a week later
    with world.admin.ctx.read() as conn:
        first = latest_plan(conn, OPERATION)
    outline = {k: first[k] for k in ("name", "period_h", "out_by_deadline", "departures")}
    outline["daily_out"] = dict(zip(_days(first), first["planned_out"], strict=True))
    later = datetime.fromisoformat(first["first_day"]).date() + timedelta(days=7)
    world.admin.attach_plan(OPERATION, outline, first_day=later)
    r = world.client().post(f"{API}/replans/{got['id']}/adopt", headers=world.auth("planner"))
    assert r.status_code == 200, r.text
    with world.admin.ctx.read() as conn:
        plan = latest_plan(conn, OPERATION)
    assert plan["first_day"] == world.moment.date().isoformat()
    assert sum(plan["planned_out"]) == 1 + res["out_by_deadline_total"] - res["state"]["out_before"]


def _days(plan: dict) -> list[str]:
    start = datetime.fromisoformat(plan["plan_first_day"]).date()
    return [(start + timedelta(days=i)).isoformat() for i in range(len(plan["planned_out"]))]


def test_roles_and_refusals(world: World):
    c = world.client()
    assert c.post(f"{API}/replan", json={}, headers=world.auth("reporter")).status_code == 403
    assert c.get(f"{API}/replans", headers=world.auth("gate")).status_code == 403
    bad = c.post(f"{API}/replan", json={"aircraft": {"c17": -1}}, headers=world.auth("planner"))
    assert bad.status_code == 422 and bad.json()["field"] == "aircraft"
    # a moment outside the plan's horizon: recorded as failed, with the one-line reason
    far = world.moment + timedelta(days=30)
    r = c.post(f"{API}/replan", json={"at": far.isoformat()}, headers=world.auth("planner"))
    world.app.state.replanner.wait(timeout=300)
    got = c.get(f"{API}/replans/{r.json()['id']}", headers=world.auth("planner")).json()
    assert got["status"] == "failed" and "within the plan's horizon" in got["error"]
    assert got["error_code"] == "replan-moment"
    assert f"from {got['error_params']['first']} to {got['error_params']['last']}" in got["error"]
    # the picture words it in its language (Arabic here), with the horizon's ends
    live = world.page_login("planner").get(f"/o/{OPERATION}/picture/live?lang=ar").text
    entry = _entry(live, str(got["id"]))
    assert "خارج أفق الخطة" in entry and "within the plan's horizon" not in entry, entry
    assert f"\u2068{got['error_params']['last']}\u2069" in entry
    adopt = c.post(f"{API}/replans/{got['id']}/adopt", headers=world.auth("planner"))
    assert adopt.status_code == 422 and "has not finished with a plan" in adopt.json()["detail"]
    # an unknown fleet: the scenario's own one-line error
    got = _ask(world, aircraft={"no-such-fleet": 2})
    assert got["status"] == "failed" and "no-such-fleet" in got["error"]


def _entry(page: str, rid: str) -> str:
    """The HTML of re-plan ``rid``'s entry in the picture's list of re-plans (from its
    attributes on, to the next entry, or the page's end for the last)."""
    found = [c for c in page.split('<div class="replan" ') if c.startswith(f'data-replan="{rid}"')]
    assert len(found) == 1, page
    return found[0]


def _ask_on_the_picture(world: World, client, **form: str) -> tuple[str, str]:
    """Submit the picture's what-if ``form``, wait for the re-plan: the live part and its id."""
    r = client.post(
        f"/o/{OPERATION}/picture/replan?lang=en",
        data={"csrf": csrf_of(client), **form},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "replan=asked" in r.headers["location"]
    world.app.state.replanner.wait(timeout=300)
    live = client.get(f"/o/{OPERATION}/picture/live").text
    return live, re.search(r'data-replan="(\d+)"', live).group(1)


def _now_at_the_moment(world: World, monkeypatch) -> None:
    """The service's registries read the clock at ``world.moment`` (04:00 of the plan's day).
    The picture's form re-plans from now, and the test scenario's 12-hour horizon holds a
    moment only from 01:00 to 11:00 UTC of each day: on the real clock the test failed whenever
    it ran outside those hours."""
    world.service_clock(monkeypatch, lambda: world.moment)


def test_the_picture_form_asks_and_lists_it(world: World, monkeypatch):
    _moved(world)
    _now_at_the_moment(world, monkeypatch)
    client = world.page_login("planner")
    page = client.get(f"/o/{OPERATION}/picture")
    assert f'action="/o/{OPERATION}/picture/replan?lang=en"' in page.text
    assert re.search(r'<option value="c17">c17 \(1\)</option>', page.text)
    live, rid = _ask_on_the_picture(world, client, close="Gate A")
    # the re-plan's own entry says what was changed (Gate A is on the picture anyway)
    entry = _entry(live, rid)
    assert entry.startswith(f'data-replan="{rid}" data-replan-status="done"'), entry
    assert world.moment.strftime("%Y-%m-%d %H:%M") in entry  # re-planned from "now"
    assert "Gate A" in re.search(r'<p class="stamp">(.*?)</p>', entry).group(1)
    assert f"/picture/replans/{rid}/adopt" in live
    # a reporter sees the re-plans but neither the form nor the adopt button
    seen = world.page_login("reporter").get(f"/o/{OPERATION}/picture/live").text
    assert f'data-replan="{rid}"' in seen and "/adopt" not in seen
    assert "/picture/replan" not in world.page_login("reporter").get(f"/o/{OPERATION}/picture").text
    # a server that draws no scenario cannot re-plan, but adopts what was re-planned
    served = world.app
    unlimited = {"rate_login_per_min": 0, "rate_auth_failures_per_min": 0}
    world.app = create_app(world.settings.model_copy(update=unlimited), accounts=world.accounts)
    try:
        bare = world.page_login("planner")
        for path in ("/picture", "/picture/live"):
            text = bare.get(f"/o/{OPERATION}{path}").text
            assert f"/picture/replans/{rid}/adopt" in text and 'id="what-if"' not in text, path
    finally:
        world.app.state.replanner.shutdown()
        world.app = served
    r = client.post(
        f"/o/{OPERATION}/picture/replans/{rid}/adopt",
        data={"csrf": csrf_of(client)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "replan=adopted" in r.headers["location"]
    bad = client.post(
        f"/o/{OPERATION}/picture/replan",
        data={"csrf": csrf_of(client), "fleet": "c17", "fleet_n": "many"},
    )
    assert bad.status_code == 422 and 'id="replan-problem"' in bad.text


def test_the_cli_replans_an_operation_on_the_server_host_and_adopts_it(world: World):
    """``evacops replan SCENARIO --operation OP`` without --plan, where the key is: the job runs
    in the command, recorded as the service records it (the planner's request, what came of
    it), and --adopt makes it the operation's plan."""
    _moved(world)
    env = {**world.env.env, "EVACOPS_USER": "planner"}
    at = world.moment.isoformat()
    args = ("replan", world.scenario_path, "--operation", OPERATION, "--at", at)
    r = evacops(*args, "--close", "Al Udeid", "--json", env=env)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert got["status"] == "done" and got["requested_by"] == "planner"
    assert got["result"]["out_by_deadline_total"] == got["result"]["state"]["out_before"] == 1
    listed = world.client().get(f"{API}/replans", headers=world.auth("reporter")).json()
    assert listed[0]["id"] == got["id"] and listed[0]["comparison"] == got["comparison"]
    r = evacops(*args, "--adopt", env=env)
    assert r.returncode == 0, r.stderr
    assert "effect (LP)" not in r.stdout and "difference" in r.stdout
    assert "is the operation's plan now" in r.stdout
    assert got["result"]["crews"]["aircraft"] == 1 and not got["result"]["crews"]["aircraft_over"]
    assert "Crews: no aircraft flies more sorties in any 24 hours" in " ".join(r.stdout.split())
    # the people alone on the plan's schedule: a what-if's effect without an LP column
    kept = evacops(*args, "--close", "Gate A", "--keep-schedule", env=env)
    assert kept.returncode == 0, kept.stderr
    assert "(LP)" not in kept.stdout and "whole" in kept.stdout  # (headers wrap in a cell)
    assert "people re-planned on the plan's schedule" in " ".join(kept.stdout.split())
    # the aircraft re-planned for the next 3 hours only: recorded with its window, said below
    win = evacops(*args, "--close", "Gate A", "--window", "3", "--json", env=env)
    assert win.returncode == 0, win.stderr
    wres = json.loads(win.stdout)
    assert wres["status"] == "done" and wres["window_h"] == 3, wres
    assert wres["result"]["window_h"] == 3 and wres["result"]["window_until"]
    said = " ".join(evacops(*args, "--window", "3", env=env).stdout.split())
    assert "aircraft re-planned until" in said and "the plan's sorties kept after it" in said
    both = evacops(*args, "--window", "3", "--keep-schedule", env=env)
    assert "--window and --keep-schedule: choose one" in assert_user_error(both)
    adopted = int(re.search(r"Re-plan (\d+) of", r.stdout).group(1))
    assert adopted != got["id"]
    with world.admin.ctx.read() as conn:
        assert latest_plan(conn, OPERATION)["replan"] == adopted
    # bad input: one line each
    bad = evacops("replan", world.scenario_path, "--operation", OPERATION, "--at", "+4h", env=env)
    assert "with its zone" in assert_user_error(bad)
    bad = evacops("replan", world.scenario_path, "--at", at, env=env)
    assert "--plan DIR, or --operation" in assert_user_error(bad)
    reporter = {**env, "EVACOPS_USER": "reporter"}
    assert "role" in assert_user_error(evacops(*args, env=reporter)).lower()
    gone = world.scenario_path.with_name("gone.yaml")
    bad = evacops("replan", gone, "--operation", OPERATION, "--at", at, env=env)
    assert "gone.yaml: cannot read it" in assert_user_error(bad)


def test_hostile_what_ifs_and_a_flood_are_refused(world: World):
    c, head = world.client(), world.auth("planner")
    for body, field in (
        ('{"aircraft": {"c17": 1000000}}', "aircraft"),
        ('{"capacity": {"Al Udeid": NaN}}', "capacity"),
        ('{"departure_slots": {"HKIA": -1}}', "departure_slots"),
        ('{"close": ["x"], "everything": 1}', None),
    ):
        r = c.post(
            f"{API}/replan", content=body, headers={**head, "content-type": "application/json"}
        )
        assert r.status_code == 422, (body, r.text)
        if field:
            assert r.json()["field"] == field, r.text
    # three of the operation's re-plans running or waiting: the fourth is refused
    from concurrent.futures import Future

    jobs = world.app.state.replanner._jobs
    for i in range(3):
        jobs[(OPERATION, -1 - i)] = Future()
    r = c.post(f"{API}/replan", json={}, headers=head)
    assert r.status_code == 422 and r.json()["code"] == "replans-waiting", r.text
    jobs.clear()


def test_a_replan_another_process_runs_is_listed_as_running_not_interrupted(world: World):
    """With several server workers (or the CLI on the server host) a re-plan runs in one
    process while the others answer: they list it as running, for up to RUNNING_ELSEWHERE; one
    no process runs any more (asked without a runner, or long ago) as interrupted."""
    from evacops.registry.services.replans import RUNNING_ELSEWHERE

    planner = world.admin
    other, _ = planner.request_replan(OPERATION, at=world.moment, runner="serve:another")
    gone, _ = planner.request_replan(OPERATION, at=world.moment)
    listed = {r["id"]: r["status"] for r in _listed(world)}
    assert listed == {other["id"]: "running", gone["id"]: "interrupted"}
    # an hour and more later, nobody has finished it: the process that ran it stopped
    clock = planner.ctx.clock
    planner.ctx.clock = lambda: clock() + RUNNING_ELSEWHERE + timedelta(minutes=1)
    assert planner.replans(OPERATION, runner="serve:here")[1]["status"] == "interrupted"
    planner.ctx.clock = clock
    # and in its own process, running is what it runs, not what the record says
    assert planner.replans(OPERATION, runner="serve:another")[1]["status"] == "interrupted"
    planner.finish_replan(OPERATION, other["id"], {"error": "test"})
    assert {r["id"]: r["status"] for r in _listed(world)}[other["id"]] == "failed"


def test_a_replan_whose_job_is_done_but_not_yet_recorded_is_still_running(world: World):
    """Between a re-plan's job ending and its result being recorded, the process that runs it
    lists it as running, not interrupted (a client following it once stopped there, under
    load: the job was done, its record not yet written)."""
    from concurrent.futures import Future

    replanner = world.app.state.replanner
    rec, _ = world.admin.request_replan(OPERATION, at=world.moment, runner=replanner.id)
    done: Future = Future()
    done.set_result({"error": "test"})  # the job is done; _finished has not recorded it yet
    replanner._jobs[(OPERATION, rec["id"])] = done
    try:
        listed = {r["id"]: r["status"] for r in replanner.replans(world.admin, OPERATION)}
        assert listed[rec["id"]] == "running"
    finally:
        replanner._jobs.pop((OPERATION, rec["id"]))
    # recorded, it is what came of it; gone from the jobs and unrecorded, interrupted
    listed = {r["id"]: r["status"] for r in replanner.replans(world.admin, OPERATION)}
    assert listed[rec["id"]] == "interrupted"
    world.admin.finish_replan(OPERATION, rec["id"], {"error": "test"})
    listed = {r["id"]: r["status"] for r in replanner.replans(world.admin, OPERATION)}
    assert listed[rec["id"]] == "failed"


def _listed(world: World) -> list[dict]:
    r = world.client().get(f"{API}/replans", headers=world.auth("planner"))
    assert r.status_code == 200, r.text
    return r.json()


def test_the_scenario_is_read_once_and_a_stopping_server_leaves_no_request_open(world: World):
    """The text re-planned is the one whose digest the plan was checked against: the file
    changed under a running server changes nothing until it restarts. A request the worker
    cannot take (the server stopping) is recorded as failed, not left running."""
    _moved(world)
    world.scenario_path.write_text("not: [a scenario")
    got = _ask(world)
    assert got["status"] == "done", got.get("error")
    world.app.state.replanner.shutdown()
    c, head = world.client(), world.auth("planner")
    r = c.post(f"{API}/replan", json={"at": world.moment.isoformat()}, headers=head)
    assert r.status_code == 422 and r.json()["code"] == "replan-not-started", r.text
    listed = c.get(f"{API}/replans", headers=head).json()
    assert listed[0]["status"] == "failed" and "ask again" in listed[0]["error"]
    assert listed[1]["id"] == got["id"] and listed[1]["status"] == "done"


def test_a_worker_killed_mid_replan_is_recorded_and_the_next_one_runs(world: World):
    import os
    import signal
    import time

    _moved(world)
    c, head = world.client(), world.auth("planner")
    r = c.post(f"{API}/replan", json={"at": world.moment.isoformat()}, headers=head)
    pool = world.app.state.replanner._pool
    deadline = time.monotonic() + 60
    while not pool._processes and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in list(pool._processes):
        os.kill(pid, signal.SIGKILL)
    world.app.state.replanner.wait(timeout=120)
    got = c.get(f"{API}/replans/{r.json()['id']}", headers=head).json()
    assert got["status"] == "failed" and "ask again" in got["error"], got
    again = _ask(world)
    assert again["status"] == "done", again.get("error")


def _children(pid: int) -> set[int]:
    from pathlib import Path

    try:
        return {int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()}
    except OSError:
        return set()


def test_a_what_ifs_second_process_stops_with_the_worker(world: World):
    """A what-if solves its re-plan without the change in a second process (the other core);
    killed with the server's worker, that process does not go on solving alone."""
    import os
    import signal
    import time
    from pathlib import Path

    _moved(world)
    c, head = world.client(), world.auth("planner")
    r = c.post(
        f"{API}/replan", json={"at": world.moment.isoformat(), "close": ["Gate A"]}, headers=head
    )
    assert r.status_code == 202, r.text
    pool = world.app.state.replanner._pool
    deadline = time.monotonic() + 60
    second: set[int] = set()
    while not second and time.monotonic() < deadline:
        workers = list(pool._processes)
        second = {g for w in workers for g in _children(w)}
        time.sleep(0.02)
    if not second:
        pytest.skip("the re-plan ended before its second process could be seen")
    for pid in workers:
        os.kill(pid, signal.SIGKILL)
    world.app.state.replanner.wait(timeout=120)
    end = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{g}") and _alive(g) for g in second):
        left = {g: Path(f"/proc/{g}/cmdline").read_text() for g in second if _alive(g)}
        assert time.monotonic() < end, left
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    """Not a zombie (a process that exited but was not reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
