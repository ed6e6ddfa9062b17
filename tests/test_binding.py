"""Bottlenecks counted in people: a golden scenario whose answer is known by hand, the levers'
right-hand sides against the model code, the basis's range against HiGHS's own ranging, and
the sentences against the JSON (the property test on random scenarios is in
test_binding_properties.py)."""

from __future__ import annotations

import dataclasses
import html
import json
import re

import numpy as np
import pytest
import yaml

from evacops.network import compile_network
from evacops.plan import solve_plan
from evacops.plan.assemble import assemble_plan
from evacops.plan.basis import Basis
from evacops.plan.binding import counts, day_blocks
from evacops.plan.bottleneck import amount
from evacops.plan.constraints import mog_left_out, mog_room
from evacops.plan.levers import KINDS, Lever, Rows, Shift, deltas, shift
from evacops.plan.solve import lp_run
from evacops.scenario import load
from tests.binding_helpers import changed, cold
from tests.helpers import HERE, ROOT, evacops, scenario_from

SLOTS = HERE / "scenarios" / "slots.yaml"
SMALL = ROOT / "scenarios" / "small-airlift.yaml"


def assert_ok(r) -> None:
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def slots_plan():
    return solve_plan(load(SLOTS), check_binding=3)


@pytest.fixture(scope="module")
def small_plan():
    return solve_plan(load(SMALL), check_binding=3)


def test_one_more_departure_slot_gets_the_hand_answer(slots_plan):
    # by hand (tests/scenarios/slots.yaml): 1,200 more people per slot an hour, exact up to
    # 1.5 slots an hour, where the ten aircraft become the limit
    top = slots_plan.binding[0]
    assert (top.lever.kind, top.lever.name(slots_plan.network)) == ("departure_slots", "EVAC")
    assert top.estimate.people == pytest.approx(1200.0, abs=1e-6)
    assert top.checked is not None and top.checked.people == pytest.approx(1200.0, abs=1e-6)
    assert top.exact_up_to == pytest.approx(1.5, abs=1e-6) and top.range_closed
    assert top.sentence().startswith(
        "one more departure slot per hour at EVAC, 1 Jan: about 1,200 more people out by "
        "1 Jan 12:00 (checked by re-solving; the optimal basis gives 1,200 per slot/h, exact "
        "up to 1.5 slot/h)"
    )


def test_beyond_its_range_the_estimate_no_longer_holds(slots_plan):
    net = slots_plan.network
    top = slots_plan.binding[0]
    base, _ = cold(net)
    assert base == pytest.approx(1200.0)
    # within the range a fresh solve of the changed network agrees; beyond it the aircraft bind
    for steps, by_hand in ((1.0, 1200.0), (1.5, 1800.0), (2.0, 1800.0)):
        people, _ = cold(changed(net, top.lever, steps))
        assert people - base == pytest.approx(by_hand, abs=1e-6)
    assert top.estimate_at(2.0).people == pytest.approx(2400.0)  # the line, wrong beyond 1.5


def test_an_aircraft_estimate_stops_where_a_parking_limit_left_out_could_bind():
    """The plan model leaves out MOG rows that no aircraft could fill (mog_left_out), which the
    basis cannot see: with 10 aircraft and 11 places, one more aircraft is as far as the
    estimate may claim to be exact, and within it a fresh solve of the changed network agrees."""
    d = yaml.safe_load(SLOTS.read_text())
    d["sites"][1]["airfield"].update(departure_slots_per_h=10, mog=11)  # the aircraft bind
    d["sites"][2]["airfield"]["mog"] = 11
    plan = solve_plan(scenario_from(d), check_binding=3)
    net = plan.network
    assert mog_left_out(net)[[1, 2]].all() and mog_room(net, 0) == 1.0
    (b,) = [b for b in plan.binding if b.lever.kind == "aircraft"]
    assert b.estimate.people == pytest.approx(300.0)  # one more aircraft: 3 more round trips
    assert b.exact_up_to == 1.0 and b.range_kind == "at least"
    assert "Airfield-mog" in (b.ends_with or "")
    base, _ = cold(net)
    people, _ = cold(changed(net, b.lever, 1.0))
    assert people - base == pytest.approx(b.estimate_at(1.0).people, abs=1e-6)


def test_levers_move_the_right_hand_sides_the_model_code_gives():
    """For every lever that network arrays can express, the model assembled from the changed
    network has the lever's right-hand sides, row for row."""
    net = compile_network(load(SMALL))
    run = lp_run(net)
    rows = Rows(net, run)
    before = run.m.constraints
    tried = 0
    for kind in KINDS:
        # every fleet for more aircraft (availability windows, crews, maintenance), the first
        # entity of the other kinds; over the whole horizon, and over its second day
        entities = rows.entities(kind)
        for e in entities if kind.key == "aircraft" else entities[:1]:
            for a, b in [(0, net.T), day_blocks(net)[1]]:
                lever = Lever(kind.key, int(e), a, b)
                other = changed(net, lever, 1.0)
                if other is None:
                    continue
                after = assemble_plan(other).m.constraints
                for fam, (i, d) in deltas(rows, lever).items():
                    if fam not in before:
                        continue
                    lab = before[fam].labels.values[i]
                    now = after[fam].labels.values[i] >= 0
                    if (now != (lab >= 0)).any():
                        # one more parking place can give every aircraft that could come room:
                        # the airfield's MOG rows are then left out (they could never bind)
                        assert (kind.key, fam) == ("parking", "Airfield-mog")
                        gone = mog_left_out(other)[i] & ~mog_left_out(net)[i]
                        assert (now == ((lab >= 0) & ~gone)).all()
                    both = (lab >= 0) & now
                    moved = after[fam].rhs.values[i] - before[fam].rhs.values[i]
                    assert np.allclose(moved[both], d[both]), (lever, fam)
                    tried += 1
    assert tried >= 12


def test_a_rows_range_is_the_one_highs_ranging_gives():
    net = compile_network(load(SMALL))
    run = lp_run(net)
    basis = Basis(run, counts(net, run))
    _, ranging = run.h.getRanging()
    up = np.asarray(ranging.row_bound_up.value_)
    lp = run.h.getLp()
    upper, lower = np.asarray(lp.row_upper_), np.asarray(lp.row_lower_)
    tight = np.flatnonzero(basis.nonbasic_row & np.isinf(lower))
    assert len(tight) > 50
    for i in tight:
        ray = basis.ray(Shift(np.array([i], dtype=np.int32), np.array([1.0])))
        theirs = up[i] - upper[i]
        assert min(ray.steps, 1e30) == pytest.approx(min(theirs, 1e30), rel=1e-6, abs=1e-9)


def test_people_per_step_from_the_basis_equal_its_ftran():
    net = compile_network(load(SMALL))
    run = lp_run(net)
    basis = Basis(run, counts(net, run))
    rows = Rows(net, run)
    for kind in KINDS:
        for e in rows.entities(kind):
            s = shift(rows, Lever(kind.key, int(e), 0, net.T))
            if s:
                slopes, ray = basis.slopes(s), basis.ray(s)
                for k in ("people", "objective"):
                    assert ray.slopes[k] == pytest.approx(slopes[k], rel=1e-7, abs=1e-7)


_NUM = r"(-?[\d,]+(?:\.\d+)?)"


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def test_sentences_carry_the_numbers_of_the_json(small_plan):
    found = small_plan.summary()["binding"]
    assert len(found) >= 3
    assert [b["text"].startswith("Next limit: ") for b in found] == [False] + [True] * (
        len(found) - 1
    )
    for b in found:
        text, unit = b["text"], b["unit"]
        best = b["checked"] or b["estimate"]
        m = re.search(r"about " + _NUM + r" (more|fewer) people out by (.+?) \(", text)
        margin = re.search(
            r"at the margin only, " + _NUM + r" per .+? (more|fewer) people out by (.+?) \(", text
        )
        if m:
            assert _number(m.group(1)) == abs(round(best["people_out"]))
            assert m.group(3) == b["deadline"]
        elif margin:  # not re-solved, the basis exact for less than one step
            assert b["checked"] is None and (b["exact_up_to"] or 0.0) < b["step"]
            assert _number(margin.group(1)) == abs(round(b["estimate"]["people_out"]))
            assert margin.group(3) == b["deadline"]
        else:
            assert abs(best["people_out"]) < 0.5
        assert ("checked by re-solving" in text) == (b["checked"] is not None)
        if b["checked"] is None:
            assert f"not checked: {b['unchecked']}" in text
        per = re.search(_NUM + r" per ", text)
        assert per and _number(per.group(1)) == round(b["estimate"]["people_out"])
        r = b["exact_up_to"]
        rng = re.search(r"exact up to (?:at least )?" + _NUM + " " + re.escape(unit), text)
        if b["range"] in ("closed", "at least"):
            assert rng and rng.group(1) == amount(r)  # the JSON's number, as sentences write it
            assert ("at least" in rng.group(0)) == (b["range"] == "at least")
        else:
            assert rng is None and r is None
            words = {"any": "exact for any amount", "none": "a rate at the optimum only"}
            assert words.get(b["range"], "its range not known") in text
        assert b["units"]["step"] == unit and "per" in b["units"]["people_out"]


def test_the_terminal_json_and_report_show_the_same_bottlenecks(tmp_path):
    r = evacops("plan", SLOTS, "--json", "--out", tmp_path / "o")
    assert_ok(r)
    s = json.loads(r.stdout)
    json.dumps(s["binding"], allow_nan=False)  # strict JSON: no Infinity for "any amount"
    texts = [b["text"] for b in s["binding"]]
    assert texts and "about 1,200 more people out by 1 Jan 12:00" in texts[0]
    report = (tmp_path / "o" / "report.html").read_text()
    assert "Bottlenecks" in report
    for t in texts:
        assert html.escape(t) in report
    printed = evacops("plan", SLOTS)
    assert_ok(printed)
    flat = " ".join(printed.stdout.split())
    assert "Bottlenecks, in people out by 1 Jan 12:00" in flat
    assert texts[0] in flat


def test_an_unchecked_rate_that_holds_for_less_than_a_step_is_not_given_as_one_steps_figure(
    slots_plan,
):
    """Not re-solved, with the basis exact for a small part of one step only, the sentence
    gives the rate at the margin and says it is not one step's figure (on Kabul the basis said
    7,689 people for one more sortie a day, the re-solve 1,370)."""
    top = dataclasses.replace(
        slots_plan.binding[0],
        checked=None,
        exact_up_to=0.0015,
        range_closed=False,
        unchecked="no re-solves asked for (--check 0)",
    )
    text = top.sentence()
    assert "about" not in text
    assert "at the margin only, 1,200 per slot/h more people out by 1 Jan 12:00" in text
    assert "exact up to at least 0.0015 slot/h" in text
    # within its range, or checked, it is one step's figure as before
    whole = dataclasses.replace(top, exact_up_to=1.5)
    assert whole.sentence().startswith(
        "one more departure slot per hour at EVAC, 1 Jan: about 1,200 more people out by"
    )
    assert (
        slots_plan.binding[0]
        .sentence()
        .startswith("one more departure slot per hour at EVAC, 1 Jan: about 1,200")
    )


def test_a_margin_rate_above_everyone_left_behind_says_no_step_gets_that_many(slots_plan):
    """On Kabul (7 Dec) a degenerate basis rated one more departure slot an hour at 526,391
    people, more than the 262,044 the LP left behind: the sentence says so. The count is the
    LP's own: everyone less those it gets out by the deadline."""
    b = slots_plan.binding[0]
    net = slots_plan.network
    lp_out = slots_plan.lp.flow[:, net.out_arcs, : net.deadline_period].sum()
    assert b.left_behind == pytest.approx(net.appear.sum() - lp_out, abs=1e-6)
    top = dataclasses.replace(
        b, checked=None, exact_up_to=0.0, unchecked="no re-solves asked for (--check 0)"
    )
    rate = round(top.best.people)
    below = dataclasses.replace(top, left_behind=rate + 1).sentence()
    assert "people left behind" not in below
    above = dataclasses.replace(top, left_behind=rate - 1).sentence()
    assert f"more than the {rate - 1:,} people left behind: no step gets that many out" in above


def _checked(net, monkeypatch, cores: int) -> tuple[list[tuple], list[str], float]:
    """find_binding's three checks with ``cores`` free: (each bottleneck's lever, checked
    people and gain), what it said, and the LP's objective after (its basis restored)."""
    from evacops.plan import binding

    monkeypatch.setattr(binding, "free_cores", lambda: cores)
    run = lp_run(net)
    said: list[str] = []
    found = binding.find_binding(net, run, checks=3, progress=said.append, budget_s=60)
    got = [
        (b.lever, None if b.checked is None else (b.checked.people, b.checked.gain)) for b in found
    ]
    run.run(solver="simplex")
    return got, said, run.objective()


def test_checks_two_at_a_time_give_what_one_at_a_time_gives(monkeypatch):
    """Each check re-solves on a HiGHS object of its own from the LP's optimal basis, so two
    threads give the same checked figures, in the same order, as one, and leave the LP's own
    basis optimal (re-solved, the objective does not move)."""
    net = compile_network(load(SMALL))
    one, said_one, obj_one = _checked(net, monkeypatch, 1)
    two, said_two, obj_two = _checked(net, monkeypatch, 2)
    assert sum(c is not None for _, c in one) == 3
    assert one == two
    assert obj_one == pytest.approx(obj_two, rel=1e-12)
    assert any("two at a time" in s for s in said_two)
    assert not any("two at a time" in s for s in said_one)
    assert lp_run(net).objective() == pytest.approx(obj_one, rel=1e-9)
