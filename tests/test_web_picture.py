"""The operation picture: the report's counts (made by the database with GROUP BY) equal an
independent count of every person and event in Python; the page, the API's picture and report,
and ``evacops registry report`` show the same numbers; the latest plan attached by a planner is
shown next to what happened, its per-day figures those of the plan folder itself. SQLite, and
PostgreSQL when EVACOPS_TEST_DATABASE_URL is set. Generated people only."""

from __future__ import annotations

import csv
import json
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import OPERATION, PASSWORD
from helpers import assert_user_error, evacops
from sqlalchemy import select
from test_web_support import World

from evacops.registry import events as ev
from evacops.registry.store.tables import events, persons

OPAGE = f"/o/{OPERATION}"
API = f"/api/v1/operations/{OPERATION}"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def world(registry_env, admin) -> World:
    """The web world with things that happened: gate scans at two gates, a flight boarded and
    departed (a household split across it), people missing after a roll-call, a merge."""
    w = World(registry_env, admin)
    op, pay, ids = OPERATION, w.payload, w.ids
    for i, pid in enumerate(ids[:9]):
        admin.scan(op, pay[pid], "gate-in", site="Gate A" if i % 2 else "Gate B")
    admin.scan(op, pay[ids[0]], "gate-in", site="Gate C")  # seen again: first time counts
    admin.add_flight(op, "F1", origin="HKIA", destination="Al Udeid", seats=3)
    aboard = [e["person_id"] for e in admin.build_manifest(op, "F1", allow_split=True)["entries"]]
    for pid in aboard:
        admin.scan(op, pay[pid], "board", flight="F1")
    admin.depart(op, "F1")
    at_a = [pid for pid in ids[1:9:2] if pid not in aboard]  # at Gate A still
    admin.rollcall(op, "Gate A", [pay[at_a[0]]], mark_missing=True)  # the others missing
    admin.merge(op, ids[9], ids[10], reason="the same person")
    return w


def reference_report(conn, op: str) -> dict:
    """The report's counts worked out here in plain Python from every row of ``persons`` and
    ``events`` (the way the report was made before it was counted by the database)."""
    P = persons.c
    rows = conn.execute(select(persons).where(P.operation_id == op)).all()
    live = [r for r in rows if r.status != "merged"]
    merged = {r.id for r in rows if r.status == "merged"}

    def count(items, attr):
        c = defaultdict(int)
        for r in items:
            v = getattr(r, attr)
            c["-" if v is None else str(v)] += 1
        return dict(sorted(c.items()))

    out = [r for r in live if r.first_departed_at is not None]
    out_days = defaultdict(int)
    for r in out:
        out_days[r.first_departed_at.astimezone(UTC).date().isoformat()] += 1
    steps = {ev.REGISTERED: "registered", ev.GATE_IN: "checked_in", ev.BOARD: "boarded",
             ev.DEPLANE: "deplaned"}  # fmt: skip
    first: dict = {}
    for t, pid, at in conn.execute(
        select(events.c.type, events.c.person_id, events.c.occurred_at).where(
            events.c.operation_id == op
        )
    ):
        if t in steps and pid not in merged:
            first[(t, pid)] = min(at, first.get((t, pid), at))
    per_day: dict = defaultdict(lambda: dict.fromkeys(steps.values(), 0))
    for (t, _), at in first.items():
        per_day[at.astimezone(UTC).date().isoformat()][steps[t]] += 1
    places = defaultdict(set)
    for r in live:
        if r.status in ev.ACTIVE or r.status == "missing":
            on_board = r.status in ("boarded", "in-flight")
            where = ("flight", r.flight_id) if on_board else ("site", r.site)
            places[r.household_id].add(("missing",) if r.status == "missing" else where)
    minors = [r for r in live if r.unaccompanied]
    return {
        "registered": len(live),
        "merged": len(merged),
        "by_status": {s: sum(r.status == s for r in live) for s in ev.STATUSES if s != "merged"},
        "by_site": count(live, "site"),
        "by_cohort": count(live, "cohort"),
        "by_nationality": count(live, "nationality"),
        "by_category": count(live, "category"),
        "out": len(out),
        "out_by_nationality": count(out, "nationality"),
        "out_by_category": count(out, "category"),
        "out_per_day": dict(sorted(out_days.items())),
        "per_day": {d: per_day[d] for d in sorted(per_day)},
        "split_households": sorted(h for h, s in places.items() if len(s) > 1),
        "unaccompanied": sorted(r.id for r in minors),
        "unaccompanied_without_escort": sum(r.escort_id is None for r in minors),
    }


def test_report_counts_equal_an_independent_count_of_every_row(world: World):
    rep = world.admin.report(OPERATION)
    with world.admin.engine.connect() as conn:
        ref = reference_report(conn, OPERATION)
    got = {k: rep[k] for k in ref}
    got["unaccompanied"] = [m["person_id"] for m in rep["unaccompanied"]]
    assert got == ref
    # the world is varied enough for each count to mean something
    assert rep["merged"] == 1 and rep["out"] > 0 and rep["by_status"]["missing"] > 0
    assert rep["households_split"] == len(ref["split_households"]) > 0
    assert sum(rep["by_site"].values()) == rep["registered"]
    # another operation's people are not counted
    assert world.admin.report("other-op")["registered"] == len(world.other_ids)


def test_report_since_counts_only_people_out_since(world: World):
    now = datetime.now(UTC)
    assert world.admin.report(OPERATION, since=now + timedelta(days=1))["out"] == 0
    before = world.admin.report(OPERATION, since=now - timedelta(days=1))
    assert before["out"] == world.admin.report(OPERATION)["out"] > 0
    assert sum(before["out_per_day"].values()) == before["out"]


def _cells(page: str, attr: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(rf'<td {attr}="([^"]*)">(\d+)</td>', page)}


def test_page_api_and_cli_report_show_the_same_numbers(world: World):
    api = world.client().get(f"{API}/picture", headers=world.auth("reporter")).json()
    report = world.client().get(f"{API}/report", headers=world.auth("planner")).json()
    page = world.page_login("reporter").get(f"{OPAGE}/picture").text
    cli = evacops("registry", "report", "--json", "--user", "reporter", env=world.env.env)
    assert cli.returncode == 0, cli.stderr
    from_cli = json.loads(cli.stdout)
    for key in ("by_status", "by_site", "by_cohort", "per_day", "out_per_day", "registered"):
        assert api[key] == report[key] == from_cli[key], key
    assert _cells(page, "data-status") == api["by_status"]
    assert _cells(page, "data-site") == api["by_site"]
    assert _cells(page, "data-cohort") == api["by_cohort"]
    assert re.search(r'data-k="out">(\d+)<', page).group(1) == str(api["out"])
    for day, n in api["per_day"].items():
        row = re.search(rf'<tr data-day="{day}">(.*?)</tr>', page).group(1)
        assert re.findall(r"<td>(\d+)</td>", row) == [
            str(n[k]) for k in ("registered", "checked_in", "boarded", "deplaned")
        ]
    assert api["flights"]["people_in_air"] == api["by_status"]["in-flight"] > 0
    assert [f["code"] for f in api["flights"]["in_air"]] == ["F1"]
    assert "not at a site" in page and "<th>-</th>" not in page


def test_dari_picture_translates_statuses_and_isolates_names(world: World):
    c = world.page_login("planner")
    page = c.get(f"{OPAGE}/picture?lang=fa").text
    status_heads = re.findall(r"<tr><th>([^<]*)</th><td data-status=", page)
    assert len(status_heads) == 8
    for head in status_heads:  # every status in Dari: Arabic-script letters, no Latin ones
        assert re.search("[\u0600-\u06ff]", head) and not re.search("[A-Za-z]", head), head
    assert "<bdi>Gate A</bdi>" in page  # site names as given, isolated in right-to-left text


@pytest.fixture(scope="session")
def plan_folder(tmp_path_factory) -> Path:
    """A real plan of the bundled small airlift (two days), as `evacops plan --out` writes it."""
    out = tmp_path_factory.mktemp("plan") / "small-airlift"
    r = evacops("plan", ROOT / "scenarios" / "small-airlift.yaml", "--out", out, timeout=600)
    assert r.returncode == 0, r.stderr
    return out


def _daily_out(folder: Path, table: str = "daily_out") -> dict[str, int]:
    with (folder / f"{table}.csv").open() as f:
        return {row["date"]: int(row["total"]) for row in csv.DictReader(f)}


def test_planner_attaches_a_plan_shown_next_to_what_happened(world: World, plan_folder: Path):
    planned = _daily_out(plan_folder)
    assert len(planned) >= 2 and sum(planned.values()) > 0
    actual = world.admin.report(OPERATION)["out_per_day"]
    day1 = min(actual)  # the plan's day 1 laid on the day the flight left
    env = {**world.env.env, "EVACOPS_PASSWORD": PASSWORD}
    r = evacops(
        "registry", "plan", "attach", plan_folder, "--first-day", day1, "--user", "planner",
        env=env,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert f"day 1 = {day1}" in r.stdout
    # the small airlift has two staging bases (STAGE-A, STAGE-B)
    assert "flights with people planned and its people at 2 staging bases per period" in r.stdout
    pic = world.client().get(f"{API}/picture", headers=world.auth("planner")).json()
    plan = pic["plan"]
    assert plan["name"] == "small-airlift" and plan["first_day"] == day1
    assert plan["same_scenario"] is None  # the test app draws no scenario
    days = plan["days"]
    assert [d["planned"] for d in days] == list(planned.values())  # in the plan's day order
    assert {d["date"]: d["actual"] for d in days if d["actual"]} == actual
    assert days[-1]["planned_total"] == sum(planned.values())
    assert days[-1]["actual_total"] == sum(actual.values()) == pic["out"]
    page = world.page_login("planner").get(f"{OPAGE}/picture").text
    for d in days:
        row = re.search(rf'<tr data-date="{d["date"]}">(.*?)</tr>', page).group(1)
        assert f"<td data-planned>{d['planned']}</td><td data-actual>{d['actual']}</td>" in row
    assert page.count('<rect class="planned"') == len(days)
    shown = evacops("registry", "plan", "show", "--json", "--user", "reporter", env=env)
    assert json.loads(shown.stdout)["days"] == days


def test_plan_attach_by_api_role_checked_and_the_latest_wins(world: World, plan_folder: Path):
    from evacops.planfolder import plan_outline, scenario_digest

    outline = plan_outline(plan_folder)
    assert outline["scenario_sha256"] == scenario_digest(ROOT / "scenarios" / "small-airlift.yaml")
    body = {**outline, "name": "first"}
    r = world.client().post(f"{API}/plans", json=body, headers=world.auth("reporter"))
    assert r.status_code == 403
    assert world.admin.plan_vs_actual(OPERATION) is None
    r = world.client().post(f"{API}/plans", json=body, headers=world.auth("planner"))
    assert r.status_code == 201, r.text
    later = {"name": "second", "daily_out": {"2030-01-05": 7, "2030-01-07": 9}}
    r = world.client().post(f"{API}/plans", json=later, headers=world.auth("planner"))
    assert r.status_code == 201 and r.json()["planned_out"] == [7, 0, 9]  # the gap day is 0
    pva = world.admin.plan_vs_actual(OPERATION)
    assert pva["name"] == "second" and pva["first_day"] == "2030-01-05"
    planned = {d["date"]: d["planned"] for d in pva["days"]}
    assert planned["2030-01-05"] == 7 and planned["2030-01-06"] == 0 and planned["2030-01-07"] == 9
    for daily in ({"soon": 3}, {"2030-01-01": 1, "2032-01-01": 1}, {"2030-01-01": -4}):
        bad = world.client().post(
            f"{API}/plans", json={"daily_out": daily}, headers=world.auth("planner")
        )
        assert bad.status_code == 422, daily
        assert bad.headers["content-type"].startswith("application/problem+json")
        assert bad.json()["field"] == "daily_out"
    assert world.admin.plan_vs_actual(OPERATION)["name"] == "second"  # nothing recorded


def test_attaching_a_folder_that_is_not_a_plan_is_one_line(world: World, tmp_path: Path):
    env = {**world.env.env, "EVACOPS_PASSWORD": PASSWORD}
    r = evacops("registry", "plan", "attach", tmp_path, "--user", "planner", env=env)
    line = assert_user_error(r)
    assert "summary.json" in line and "evacops plan" in line


def test_the_demo_attaches_the_plan_it_is_given(plan_folder: Path, tmp_path: Path):
    from evacops.demo import OPERATION as DEMO_OP
    from evacops.demo import build_demo
    from evacops.registry import open_registry

    demo = build_demo(
        f"sqlite:///{tmp_path / 'demo.db'}", tmp_path / "keys" / "master.key", people=60,
        dedup=False, plan=plan_folder,
    )  # fmt: skip
    reporter = open_registry(demo.settings, *demo.logins["reporter"])
    try:
        pva = reporter.plan_vs_actual(DEMO_OP)
        out_days = reporter.report(DEMO_OP)["out_per_day"]
    finally:
        reporter.engine.dispose()
    assert pva["first_day"] == min(out_days) == demo.plan["first_day"]  # the first flight's day
    planned = list(_daily_out(plan_folder, "daily_out_utc").values())  # the registry's days
    assert [d["planned"] for d in pva["days"]] == planned
    assert sum(d["actual"] for d in pva["days"]) == sum(out_days.values()) > 0
