"""`evacops registry ...` as an operator uses it, on SQLite and (when EVACOPS_TEST_DATABASE_URL is
set) PostgreSQL: every command of the issue, its --json output, and one-line errors."""

from __future__ import annotations

import csv
import json
import os
import stat
from datetime import date, timedelta

import pytest
from helpers import assert_user_error, evacops
from sqlalchemy import select

from evacops.registry.generate import registrations_rows
from evacops.registry.store.db import make_engine
from evacops.registry.store.tables import users

PASSWORD = "cli-password-1"


@pytest.fixture
def cli_env(database_url, tmp_path):
    return {
        "EVACOPS_DATABASE_URL": database_url,
        "EVACOPS_KEY_FILE": str(tmp_path / "secret" / "master.key"),
        "EVACOPS_USER": "chief",
        "EVACOPS_PASSWORD": PASSWORD,
    }


def run(env, *args, input=None, ok=True):
    r = evacops("registry", *args, env=env, input=input)
    if ok:
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
    return r


def js(env, *args, input=None):
    return json.loads(run(env, *args, "--json", input=input).stdout)


def write_rows(path, rows):
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return path


def test_every_command_end_to_end(cli_env, tmp_path):
    env = cli_env
    init = js(
        env,
        "init",
        "--admin",
        "chief",
        "--operation",
        "kabul-2021",
        "--scenario",
        "scenarios/kabul-2021.yaml",
        "--category",
        "citizen=US citizens",
        "--category",
        "lpr=US citizens:4",
        "--category",
        "siv=SIV and families",
        "--category",
        "p1p2=Other at-risk Afghans",
        "--category",
        "at-risk=Other at-risk Afghans",
        "--category",
        "third-country=German nationals and staff",
    )
    assert init["key_created"] and init["admin_created"] and init["operation"] == "kabul-2021"
    key = tmp_path / "secret" / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # the command line hashes passwords at the service's cost (the tests' own process uses
    # Argon2id's least: tests/conftest.py): 64 MiB, 3 passes, 4 lanes
    engine = make_engine(env["EVACOPS_DATABASE_URL"])
    with engine.connect() as conn:
        stored = conn.execute(select(users.c.password_hash)).scalars().all()
    engine.dispose()
    assert stored and all(h.startswith("$argon2id$v=19$m=65536,t=3,p=4$") for h in stored)
    # a second init keeps the key and says where it is
    again = run(env, "init").stdout
    assert str(key) in again and "New master key" not in again

    rows = registrations_rows(120, 31, duplicate_rate=0.1)
    imp = js(env, "import", write_rows(tmp_path / "reg.csv", rows))
    assert imp["imported"] == len(rows) and imp["rejected"] == 0

    bad_rows = [dict(r) for r in rows[:10]]
    bad_rows[4]["nationality"] = "Atlantis"
    bad = evacops(
        "registry", "import", write_rows(tmp_path / "bad.csv", bad_rows), "--json", env=env
    )
    assert bad.returncode == 2
    out = json.loads(bad.stdout)
    assert out["imported"] == 0 and out["rejected"] == 1 and ":6: nationality" in out["errors"][0]
    assert "Atlantis" not in bad.stdout + bad.stderr

    new = js(
        env,
        "register",
        input=json.dumps(
            {
                "household_id": "CLI-1",
                "given_name": "Testgiven",
                "family_name": "Testfamily",
                "sex": "F",
                "birth_date": (date.today() - timedelta(days=200)).isoformat(),
                "nationality": "AFG",
                "document_number": "",
                "category": "siv",
            }
        )
        + "\n",
    )
    assert new["registered"] == 1
    pid = new["person_ids"][0]
    shown = js(env, "person", pid)
    assert shown["given_name"] == "Testgiven" and shown["age_group"] == "infant"

    creds = js(
        env, "credentials", "--out", tmp_path / "labels.pdf", "--public-key", tmp_path / "op.pub"
    )
    assert creds["issued"] == len(rows) + 1 and creds["pages"] >= 1
    assert (tmp_path / "labels.pdf").read_bytes().startswith(b"%PDF")

    # payloads are not stored: re-derive them through the service for this test
    from evacops.registry import open_registry
    from evacops.registry.settings import RegistrySettings

    reg = open_registry(
        RegistrySettings(
            database_url=env["EVACOPS_DATABASE_URL"], key_file=env["EVACOPS_KEY_FILE"]
        ),
        "chief",
        PASSWORD,
    )
    payloads = {c["person_id"]: c["payload"] for c in reg.credential_payloads("kabul-2021")}
    reg.engine.dispose()
    offline = js(env, "credentials", "--verify", payloads[pid], "--key", tmp_path / "op.pub")
    assert offline["valid"] and offline["operation"] == "kabul-2021"
    # a revoked credential, checked offline against the revocation list the registry wrote
    sold = next(p for p in payloads if p != pid)
    sold_code = js(env, "person", sold)["credential"]
    run(env, "credentials", "--revoke", sold_code, "--reason", "pass was sold")
    listed = js(env, "credentials", "--no-issue", "--revoked", tmp_path / "revoked.txt")
    assert listed["revoked"] == 1
    refused = evacops(
        "registry",
        "credentials",
        "--verify",
        payloads[sold],
        "--key",
        tmp_path / "op.pub",
        "--revoked",
        tmp_path / "revoked.txt",
        env=env,
    )
    assert "revoked" in assert_user_error(refused)
    del payloads[sold]

    gate_in = [
        json.loads(line)
        for line in run(
            env,
            "scan",
            "--action",
            "gate-in",
            "--site",
            "Abbey Gate",
            "--json",
            input="\n".join(payloads.values()) + "\n",
        ).stdout.splitlines()
    ]
    assert len(gate_in) == len(payloads) and not any(g["duplicate"] for g in gate_in)
    repeat = js(env, "scan", payloads[pid], "--action", "gate-in", "--site", "Abbey Gate")
    assert repeat["duplicate"]

    js(env, "flight", "RCH871", "--from", "HKIA", "--to", "Al Udeid", "--seats", "40")
    m = js(env, "manifest", "--flight", "RCH871")
    assert 0 < m["seats"] <= 40 and m["persons"] == m["seats"] + m["lap_infants"]
    on = [e["person_id"] for e in m["entries"]]
    boarded = [
        json.loads(line)
        for line in run(
            env,
            "board",
            "--flight",
            "RCH871",
            "--json",
            input="\n".join(payloads[p] for p in on) + "\n",
        ).stdout.splitlines()
    ]
    assert len(boarded) == len(on)
    off = next(p for p in payloads if p not in on)
    refused = evacops("registry", "board", payloads[off], "--flight", "RCH871", env=env)
    assert "not on the manifest" in assert_user_error(refused)
    run(env, "flight", "RCH871", "--depart")
    run(
        env,
        "scan",
        "--action",
        "deplane",
        "--flight",
        "RCH871",
        input="\n".join(payloads[p] for p in on[1:]) + "\n",
    )
    rec = js(env, "arrive", "--flight", "RCH871")
    assert not rec["reconciled"] and rec["discrepancies"] == [
        {"kind": "boarded-not-deplaned", "person_id": on[0]}
    ]
    run(env, "scan", payloads[on[0]], "--action", "deplane", "--flight", "RCH871")
    assert js(env, "arrive", "--flight", "RCH871")["reconciled"]

    present = tmp_path / "present.txt"
    present.write_text("\n".join(payloads[p] for p in on[2:]) + "\n")
    rc = js(env, "rollcall", "--site", "Al Udeid", "--present", present)
    assert rc["expected"] == len(on) and rc["absent"] == sorted(on[:2])

    d = js(env, "dedup")
    assert d["new_candidates"] == len(d["queue"]) >= 1
    q = d["queue"][0]
    run(env, "dedup", "--merge", q["person_a"], q["person_b"], "--reason", "same person")
    assert len(js(env, "dedup", "--no-run")["queue"]) == len(d["queue"]) - 1
    run(env, "dedup", "--undo", q["person_b"])

    rep = js(env, "report", "--since", "2000-01-01", "--out", tmp_path / "rep")
    assert rep["registered"] == len(rows) + 1
    assert sum(rep["by_status"].values()) == rep["registered"]
    assert rep["out"] == len(on) and (tmp_path / "rep" / "report.html").exists()
    assert (tmp_path / "rep" / "registry-counts.png").stat().st_size > 1000

    man = js(env, "export", "manifest", "--flight", "RCH871", "--out", tmp_path / "m.csv")
    assert man["rows"] == len(on)
    cnt = js(env, "export", "counts", "--out", tmp_path / "c.csv")
    assert cnt["rows"] >= 1 and (tmp_path / "c.csv").read_text().splitlines()[1].startswith("#")

    audit = js(env, "audit", "verify")
    assert audit["ok"] and audit["entries"] > 10
    assert len(js(env, "audit", "list", "--limit", "5")) == 5

    sh = js(env, "shred", "--operation", "kabul-2021", "--yes")
    assert sh["shredded"]
    gone = evacops("registry", "person", pid, env=env)
    assert "shredded" in assert_user_error(gone)
    after = js(env, "report")
    assert after["registered"] == rep["registered"] and after["out"] == len(on)
    assert js(env, "audit", "verify")["ok"]


def test_user_errors_are_one_line(cli_env, tmp_path):
    env = cli_env
    # before init
    assert "evacops registry init" in assert_user_error(evacops("registry", "report", env=env))
    run(env, "init", "--admin", "chief", "--operation", "op-a")
    wrong = dict(env, EVACOPS_PASSWORD="wrong-password")
    assert "wrong password" in assert_user_error(evacops("registry", "report", env=wrong))
    assert "not in this registry" in assert_user_error(
        evacops("registry", "report", "--operation", "nope", env=env)
    )
    assert "no master key" in assert_user_error(
        evacops("registry", "report", env=dict(env, EVACOPS_KEY_FILE=str(tmp_path / "none.key")))
    )
    key = tmp_path / "secret" / "master.key"
    os.chmod(key, 0o644)
    assert "chmod 600" in assert_user_error(evacops("registry", "report", env=env))
    os.chmod(key, 0o600)
    # the service names the input (field, value); the CLI words it with its flag
    assert "--role king: not a role; use one of" in assert_user_error(
        evacops(
            "registry",
            "user",
            "x",
            "--role",
            "king",
            env=dict(env, EVACOPS_NEW_PASSWORD="long-enough-1"),
        )
    )
    r = evacops(
        "registry",
        "user",
        "gatekeeper",
        "--role",
        "gate",
        env=dict(env, EVACOPS_NEW_PASSWORD="gate-password-1"),
    )
    assert r.returncode == 0
    gate = dict(env, EVACOPS_USER="gatekeeper", EVACOPS_PASSWORD="gate-password-1")
    assert "may not" in assert_user_error(
        evacops("registry", "shred", "--operation", "op-a", "--yes", env=gate)
    )
    assert "--yes" in assert_user_error(
        evacops("registry", "shred", "--operation", "op-a", env=env, input="")
    )
    assert "--action fly: not a scan; use one of" in assert_user_error(
        evacops("registry", "scan", "EVC1:XYZ", "--action", "fly", "--site", "x", env=env)
    )
    assert "--seats -1: must be > 0" in assert_user_error(
        evacops("registry", "flight", "F9", "--from", "a", "--to", "b", "--seats", "-1", env=env)
    )
    assert "unknown file type" in assert_user_error(
        evacops("registry", "import", tmp_path / "reg.txt", env=env)
    )
    bad_url = dict(env, EVACOPS_DATABASE_URL="mysql://x@y/z")
    assert "not supported" in assert_user_error(evacops("registry", "report", env=bad_url))


def test_categories_list_add_retire_restore(cli_env):
    """The admin's eligibility categories on the server host (tests/test_cli_client.py: the
    same command through the service)."""
    env = cli_env
    run(env, "init", "--admin", "chief", "--operation", "op-c", "--category", "siv=SIV:2")
    assert js(env, "categories", "add", "p1", "--cohort", "At risk", "--priority", "3") == {
        "category": "p1",
        "done": "added",
    }
    assert "Category siv retired in op-c." in run(env, "categories", "retire", "siv").stdout
    listed = {c["category"]: c for c in js(env, "categories", "list")}
    assert listed["p1"]["cohort"] == "At risk" and listed["p1"]["priority"] == 3
    assert listed["siv"]["retired"] and not listed["p1"]["retired"]
    table = run(env, "categories").stdout
    assert "p1" in table and "At risk" in table and "retired" in table
    js(env, "categories", "restore", "siv")
    assert not {c["category"]: c for c in js(env, "categories")}["siv"]["retired"]
    line = assert_user_error(evacops("registry", "categories", "retire", "nosuch", env=env))
    assert line == "error: category nosuch: not a category of operation op-c"
    line = assert_user_error(evacops("registry", "categories", "add", "p2", env=env))
    assert "--cohort" in line
