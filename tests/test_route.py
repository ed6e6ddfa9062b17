"""Evacuation routing on networks: reader, generator, exact method, CCRP, checker and CLI.

Golden values: the three shared samples' optima (FORMAT.md). Independent reference: HiGHS on the
plain time-expanded LP (``lp_optimum`` in benchmarks/route_vs_ccrp.py, written from the problem
statement), which hypothesis compares with the exact method on random small networks. Every plan
is checked by ``validate_routes``, which recomputes capacities and timing from the groups alone.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import evacops
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from evacops.errors import InfeasibleError, InstanceError, UserError
from evacops.route import (
    NetworkInstance,
    RouteGroup,
    ccrp,
    expand_instance,
    format_instance,
    grid_instance,
    lower_bound,
    max_flow,
    parse_instance,
    read_instance,
    route_exact,
    validate_routes,
    write_instance,
)

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "scenarios" / "networks"  # the shared samples, bundled
# file: (evacuees, optimal egress, optimal total arrival)
OPTIMA = {
    "grid6-seed1.txt": (151, 11, 1032),
    "grid10-seed1.txt": (567, 27, 9779),
    "grid16-seed1.txt": (1546, 45, 42389),
}
INF = float("inf")


def _load_reference():
    spec = importlib.util.spec_from_file_location(
        "route_vs_ccrp", ROOT / "benchmarks" / "route_vs_ccrp.py"
    )
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


REF = _load_reference()


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.exists():
        pytest.skip(f"sample {path} not found")
    return path


def assert_valid(inst: NetworkInstance, res) -> None:
    chk = validate_routes(inst, res.groups)
    assert chk.ok, chk.problems[:5]
    assert chk.routed == inst.total_evacuees
    assert (chk.egress, chk.total_arrival) == (res.egress, res.total_arrival)


# --- the samples: known optima ---------------------------------------------------------------


@pytest.fixture(scope="module")
def solved() -> dict:
    out = {}
    for name in OPTIMA:
        inst = read_instance(sample(name))
        out[name] = (inst, route_exact(inst), ccrp(inst))
    return out


@pytest.mark.parametrize("name", list(OPTIMA))
def test_sample_exact_optimum(solved, name):
    inst, res, _ = solved[name]
    people, egress, total = OPTIMA[name]
    assert inst.total_evacuees == people
    assert (res.egress, res.total_arrival, res.evacuees) == (egress, total, people)
    assert res.method == "exact"
    assert_valid(inst, res)
    # the proof: fewer than everyone by egress - 1, recomputed on a fresh network
    assert res.proof is not None and res.proof < people
    assert max_flow(expand_instance(inst, egress), egress - 1) == res.proof
    assert max_flow(expand_instance(inst, egress), egress) == people
    assert res.lower_bound <= egress <= res.upper_bound
    assert f"at most {res.proof} of {people}" in res.proof_text


@pytest.mark.parametrize("name", list(OPTIMA))
def test_sample_min_cost_flow_agrees(solved, name):
    inst, res, _ = solved[name]
    mcf = route_exact(inst, total_by="min-cost-flow")
    assert (mcf.egress, mcf.total_arrival) == (res.egress, res.total_arrival)
    assert_valid(inst, mcf)


@pytest.mark.parametrize("name", list(OPTIMA))
def test_sample_ccrp_valid_and_not_better(solved, name):
    inst, res, heur = solved[name]
    assert heur.method == "ccrp" and heur.proof is None
    assert_valid(inst, heur)
    assert heur.egress >= res.egress
    # an earliest-arrival plan minimises the total arrival over every plan, whatever its egress
    assert heur.total_arrival >= res.total_arrival


def test_ccrp_matches_published_runs_on_small_samples(solved):
    # FORMAT.md: CCRP reaches 11 / 1046 on grid6 (our CCRP finds the same plan quality)
    _, _, heur = solved["grid6-seed1.txt"]
    assert (heur.egress, heur.total_arrival) == (11, 1046)


def test_exact_with_ccrp_upper_bound(solved):
    inst, res, heur = solved["grid16-seed1.txt"]
    again = route_exact(inst, upper_bound=heur.egress)
    assert (again.egress, again.total_arrival) == (res.egress, res.total_arrival)
    assert again.upper_bound == heur.egress


# --- reader ----------------------------------------------------------------------------------

GOOD = "nodes 3\nnode 0 inf 5\nnode 1 4 0\nnode 2 inf 0 exit\nedge 0 1 3 1\nedge 1 2 2 2\n"


def test_parse_good_and_round_trip(tmp_path):
    inst = parse_instance("# a comment\n" + GOOD, source="ok.txt")
    assert inst.n_nodes == 3 and inst.n_edges == 2 and inst.total_evacuees == 5
    assert np.isinf(inst.holding[0]) and inst.holding[1] == 4
    assert inst.is_exit.tolist() == [False, False, True]
    path = write_instance(inst, tmp_path / "ok.txt")
    back = read_instance(path)
    for name in (
        "holding",
        "evacuees",
        "is_exit",
        "edge_from",
        "edge_to",
        "edge_capacity",
        "edge_travel",
    ):
        assert np.array_equal(getattr(back, name), getattr(inst, name)), name


BAD = [
    (
        GOOD.replace("edge 1 2 2 2", "edge 1 2 2 0"),
        "bad.txt:6: edge travel_steps must be >= 1, got 0",
    ),
    (
        GOOD.replace("edge 1 2 2 2", "edge 1 2 -1 2"),
        "bad.txt:6: edge capacity_per_step must be >= 0, got -1",
    ),
    (GOOD.replace("edge 1 2 2 2", "edge 1 7 2 2"), "bad.txt:6: unknown node id 7"),
    (GOOD.replace("node 1 4 0", "node 1 4"), "bad.txt:3: malformed node line"),
    (
        GOOD.replace("edge 0 1 3 1", "edge 0 1 three 1"),
        "bad.txt:5: edge capacity_per_step must be a whole number",
    ),
    (GOOD.replace("node 1 4 0", "node 1 -4 0"), "bad.txt:3: node holding_capacity must be"),
    (GOOD.replace("node 0 inf 5", "node 0 inf -5"), "bad.txt:2: node evacuees must be >= 0"),
    (GOOD.replace(" exit", ""), "bad.txt:1: no node is marked exit"),
    (GOOD.replace("node 1 4 0\n", ""), "bad.txt:1: node 1 has no 'node' line"),
    (GOOD.replace("node 1 4 0", "node 0 4 0"), "bad.txt:3: node 0 already has a line"),
    (GOOD + "road 0 2 1 1\n", "bad.txt:7: malformed line: unknown keyword 'road'"),
    ("node 0 inf 0 exit\nnodes 1\n", "bad.txt:1: 'node' before the 'nodes N' line"),
    ("# nothing\n", "bad.txt: no 'nodes N' line"),
    (
        GOOD.replace("edge 0 1 3 1", "edge 1 0 3 1"),
        "bad.txt:2: node 0 holds 5 evacuees but no road leads from it to an exit",
    ),
    (
        GOOD.replace("node 0 inf 5", "node 0 1 5").replace("edge 0 1 3 1", "edge 0 1 2 1"),
        "bad.txt:2: node 0 holds 5 evacuees but only 3 can wait there",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[b[1].split(": ", 1)[1][:30] for b in BAD])
def test_reader_errors_name_file_line_and_fix(tmp_path, text, expected):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(InstanceError) as info:
        read_instance(path)
    msg = str(info.value)
    assert isinstance(info.value, UserError)
    assert "\n" not in msg
    assert msg.startswith(expected), msg


def test_reader_missing_file(tmp_path):
    with pytest.raises(InstanceError, match=r"nope\.txt: no such file; check the path"):
        read_instance(tmp_path / "nope.txt")


def test_instance_built_in_code_is_checked_too():
    with pytest.raises(InstanceError, match="no road leads from it to an exit"):
        NetworkInstance(
            holding=[INF, INF],
            evacuees=[3, 0],
            is_exit=[False, True],
            edge_from=[1],
            edge_to=[0],
            edge_capacity=[1],
            edge_travel=[1],
        )


# --- generator -------------------------------------------------------------------------------


def test_grid_instance_like_the_samples():
    k = 12
    inst = grid_instance(k, seed=3)
    corners = [0, k - 1, k * k - k, k * k - 1]
    assert inst.exits.tolist() == corners
    assert np.isinf(inst.holding[corners]).all() and (inst.evacuees[corners] == 0).all()
    src = np.flatnonzero(inst.evacuees > 0)
    assert len(src) == round(0.15 * k * k)
    assert np.isinf(inst.holding[src]).all()
    assert inst.evacuees[src].min() >= 20 and inst.evacuees[src].max() <= 60
    other = np.setdiff1d(np.arange(k * k), np.r_[src, corners])
    assert inst.holding[other].min() >= 10 and inst.holding[other].max() <= 40
    assert inst.n_edges == 4 * k * (k - 1)
    assert inst.edge_capacity.min() >= 2 and inst.edge_capacity.max() <= 6
    assert inst.edge_travel.min() >= 1 and inst.edge_travel.max() <= 4
    # both directions, same capacity and travel, in the samples' order (pairs of lines)
    assert np.array_equal(inst.edge_from[0::2], inst.edge_to[1::2])
    assert np.array_equal(inst.edge_capacity[0::2], inst.edge_capacity[1::2])
    assert np.array_equal(inst.edge_travel[0::2], inst.edge_travel[1::2])
    assert format_instance(grid_instance(k, 3)) == format_instance(inst)  # same seed, same grid
    assert format_instance(grid_instance(k, 4)) != format_instance(inst)


def test_grid_instance_round_trip_and_solve(tmp_path):
    inst = grid_instance(8, seed=5)
    back = read_instance(write_instance(inst, tmp_path / "g.txt"))
    a, b = route_exact(inst), route_exact(back)
    assert (a.egress, a.total_arrival) == (b.egress, b.total_arrival)
    lp = REF.lp_optimum(inst, lower=lower_bound(inst), upper=ccrp(inst).egress)
    assert (lp.egress, lp.total_arrival) == (a.egress, a.total_arrival)


def test_grid_instance_refuses_a_grid_of_exits():
    with pytest.raises(InstanceError) as info:
        grid_instance(2, seed=1)
    assert (info.value.field, info.value.value) == ("k", 2)
    assert str(info.value) == "k 2: must be >= 3 (a 2 x 2 grid is all exits)"


def test_routing_does_not_load_the_planner():
    # evacops.route shares nothing with the planner: `evacops route` pays for neither
    code = (
        "import sys, evacops.route; "
        "print(sorted(m for m in ('evacops.plan', 'evacops.network', 'linopy', 'xarray') "
        "if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


# --- infeasible and trivial ------------------------------------------------------------------


def chain_without_room() -> NetworkInstance:
    # 10 people must leave node 0 at step 0 (no holding) into node 1, which forwards 1 per step
    # and cannot hold anyone: no horizon gets everyone out
    return NetworkInstance(
        holding=[0, 0, INF],
        evacuees=[10, 0, 0],
        is_exit=[False, False, True],
        edge_from=[0, 1],
        edge_to=[1, 2],
        edge_capacity=[10, 1],
        edge_travel=[1, 1],
        name="chain",
    )


def test_infeasible_holding_is_a_user_error():
    inst = chain_without_room()
    with pytest.raises(InfeasibleError) as info:
        route_exact(inst)
    assert "at most 1 of 10 evacuees can ever reach an exit" in str(info.value)
    assert "\n" not in str(info.value)
    assert REF.lp_max_out(inst, 30) == 1


def test_everyone_already_at_an_exit():
    inst = NetworkInstance(
        holding=[INF, INF],
        evacuees=[0, 4],
        is_exit=[False, True],
        edge_from=[0],
        edge_to=[1],
        edge_capacity=[1],
        edge_travel=[1],
    )
    for res in (route_exact(inst), ccrp(inst)):
        assert (res.egress, res.total_arrival) == (0, 0)
        assert_valid(inst, res)


# --- the checker is not vacuous --------------------------------------------------------------


def test_validate_routes_finds_violations():
    inst = parse_instance(GOOD, source="ok.txt")
    good = [
        RouteGroup(0, 2, (0, 1, 2), (0, 1), (0, 1), 3),
        RouteGroup(0, 2, (0, 1, 2), (1, 2), (0, 1), 4),
        RouteGroup(0, 1, (0, 1, 2), (2, 3), (0, 1), 5),
    ]
    assert validate_routes(inst, good).ok
    over = [
        RouteGroup(0, 3, (0, 1, 2), (0, 1), (0, 1), 3),
        RouteGroup(0, 2, (0, 1, 2), (1, 2), (0, 1), 4),
    ]
    assert any("capacity 2" in p for p in validate_routes(inst, over).problems)
    early = [RouteGroup(0, 5, (0, 1, 2), (0, 0), (0, 1), 2)]
    assert any("before arriving" in p for p in validate_routes(inst, early).problems)
    lost = good[:2]
    assert any("4 people routed, 5 evacuees" in p for p in validate_routes(inst, lost).problems)
    # 5 wait at node 1 (holding 4) between steps 1 and 2
    crowd = [
        RouteGroup(0, 2, (0, 1, 2), (0, 2), (0, 1), 4),
        RouteGroup(0, 2, (0, 1, 2), (0, 3), (0, 1), 5),
        RouteGroup(0, 1, (0, 1, 2), (0, 4), (0, 1), 6),
    ]
    assert any("holding capacity 4" in p for p in validate_routes(inst, crowd).problems)
    nowhere = [RouteGroup(0, 5, (0, 1), (0,), (0,), 1)]
    assert any("not an exit" in p for p in validate_routes(inst, nowhere).problems)


# --- random small networks against the LP ----------------------------------------------------


@st.composite
def small_networks(draw, room_at_sources: bool = True) -> NetworkInstance:
    n = draw(st.integers(2, 6))
    n_exit = draw(st.integers(1, min(2, n - 1)))
    order = draw(st.permutations(range(n)))
    exits = set(order[:n_exit])
    edges = []
    # every node that is not an exit gets a road towards an earlier node in `order`, so every
    # node reaches an exit over roads with room
    for i in range(n_exit, n):
        to = order[draw(st.integers(0, i - 1))]
        edges.append((order[i], to, draw(st.integers(1, 3)), draw(st.integers(1, 3))))
    for _ in range(draw(st.integers(0, 6))):
        a, b = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        if a != b:
            edges.append((a, b, draw(st.integers(0, 3)), draw(st.integers(1, 3))))
    evac = [
        0 if v in exits and not draw(st.booleans()) else draw(st.integers(0, 8)) for v in range(n)
    ]
    if sum(evac[v] for v in range(n) if v not in exits) == 0:
        evac[order[-1]] = draw(st.integers(1, 8))
    holding = []
    for v in range(n):
        h = draw(
            st.one_of(st.just(INF), st.integers(0, 4))
            if room_at_sources
            else st.sampled_from([INF, 0, 0, 0, 1, 3])
        )
        if v not in exits and evac[v] > 0 and h != INF:
            # with room at sources people may always wait at their own node; without, a few
            # must leave at step 0 and may find no room further on
            out0 = sum(c for a, _, c, _ in edges if a == v)
            must_leave = draw(st.integers(0, out0 + 1))  # out0 + 1: the reader says no
            h = evac[v] if room_at_sources else max(0, evac[v] - must_leave)
        holding.append(float(h))
    e = np.array(edges, dtype=np.int64)
    return NetworkInstance(
        holding=holding,
        evacuees=evac,
        is_exit=[v in exits for v in range(n)],
        edge_from=e[:, 0],
        edge_to=e[:, 1],
        edge_capacity=e[:, 2],
        edge_travel=e[:, 3],
        name="random",
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_networks())
def test_exact_equals_lp_reference(inst):
    res = route_exact(inst)
    lp = REF.lp_optimum(inst, max_horizon=80)
    assert lp.status == "optimal"
    assert (res.egress, res.total_arrival) == (lp.egress, lp.total_arrival)
    assert_valid(inst, res)
    if res.egress > 0:
        assert res.proof == REF.lp_max_out(inst, res.egress - 1) < inst.total_evacuees
    mcf = route_exact(inst, total_by="min-cost-flow")
    assert (mcf.egress, mcf.total_arrival) == (res.egress, res.total_arrival)
    heur = ccrp(inst)
    assert_valid(inst, heur)
    assert heur.egress >= res.egress and heur.total_arrival >= res.total_arrival


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_holding_solves_or_says_why(data):
    try:
        inst = data.draw(small_networks(room_at_sources=False))
    except InstanceError as exc:  # people who can neither wait nor leave at step 0
        event("refused by the reader")
        assert "\n" not in str(exc) and "can wait there" in str(exc)
        return
    try:
        res = route_exact(inst)
    except InfeasibleError as exc:
        event("infeasible")
        assert "\n" not in str(exc)
        assert REF.lp_max_out(inst, 40) < inst.total_evacuees
        return
    event("solved")
    assert_valid(inst, res)
    lp = REF.lp_optimum(inst, lower=max(0, res.egress - 1), max_horizon=res.egress)
    assert (lp.egress, lp.total_arrival) == (res.egress, res.total_arrival)


# --- command line ----------------------------------------------------------------------------
# Two commands run as a user runs them (a subprocess); the others in-process (typer's runner),
# which checks the same exit codes and output without paying the interpreter's start-up again.


def evacops_in_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    from typer.testing import CliRunner

    from evacops.cli import app

    r = CliRunner().invoke(app, [str(a) for a in args])
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return subprocess.CompletedProcess(args, r.exit_code, r.stdout, r.stderr)


def assert_user_error(r: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in r.stderr + r.stdout, r.stderr
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_cli_route_json(tmp_path):
    out = tmp_path / "groups.csv"
    r = evacops("route", sample("grid10-seed1.txt"), "--json", "--out", out)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    for key in (
        "egress",
        "total_arrival",
        "evacuees",
        "method",
        "solve_s",
        "lower_bound",
        "upper_bound",
        "proof",
    ):
        assert key in doc, key
    assert (doc["egress"], doc["total_arrival"], doc["evacuees"]) == (27, 9779, 567)
    assert doc["method"] == "exact" and doc["proof"] < 567
    lines = out.read_text().splitlines()
    assert lines[0] == "source,count,path,departures,arrival,edges"
    assert sum(int(line.split(",")[1]) for line in lines[1:]) == 567
    assert max(int(line.split(",")[4]) for line in lines[1:]) == 27


def test_cli_route_malformed_file(tmp_path):
    path = tmp_path / "grid.txt"
    path.write_text(GOOD.replace("edge 1 2 2 2", "edge 1 2 2 0"))
    line = assert_user_error(evacops("route", path))
    assert line.startswith("error: grid.txt:6: edge travel_steps must be >= 1, got 0")


def test_cli_route_table_and_json_groups(tmp_path):
    out = tmp_path / "groups.json"
    r = evacops_in_process("route", sample("grid6-seed1.txt"), "--out", out)
    assert r.returncode == 0, r.stderr
    assert "egress 10 is infeasible: at most 149 of 151 evacuees reach an exit by step 10" in (
        r.stdout
    )
    assert "1,032" in r.stdout
    doc = json.loads(out.read_text())
    assert doc["egress"] == 11 and sum(g["count"] for g in doc["groups"]) == 151
    inst = read_instance(sample("grid6-seed1.txt"))
    groups = [
        RouteGroup(
            g["source"],
            g["count"],
            tuple(g["path"]),
            tuple(g["departures"]),
            tuple(g["edges"]),
            g["arrival"],
        )
        for g in doc["groups"]
    ]
    assert validate_routes(inst, groups).ok


def test_cli_route_ccrp():
    r = evacops_in_process("route", sample("grid6-seed1.txt"), "--method", "ccrp", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["method"] == "ccrp" and doc["egress"] >= 11 and doc["proof"] is None


def test_cli_route_user_errors(tmp_path):
    line = assert_user_error(evacops_in_process("route", tmp_path / "nope.txt"))
    assert "nope.txt: no such file" in line
    path = write_instance(chain_without_room(), tmp_path / "chain.txt")
    assert "can ever reach an exit" in assert_user_error(evacops_in_process("route", path))
    line = assert_user_error(evacops_in_process("route", path, "--method", "fast"))
    assert "--method fast" in line
    line = assert_user_error(
        evacops_in_process(
            "route", sample("grid6-seed1.txt"), "--out", tmp_path / "no" / "such" / "dir.csv"
        )
    )
    assert "cannot be written" in line
