"""The demo operation (evacops.demo): built through the registry's facade, its counts as the
registry's report gives them, one working login per role; on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from evacops.demo import FLIGHTS, OPERATION, build_demo, describe
from evacops.registry import open_registry
from evacops.registry.security import Role

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def demo(database_url, tmp_path):
    return build_demo(database_url, tmp_path / "keys" / "master.key", people=200, now=NOW)


def test_demo_counts_match_the_registry_report(demo):
    reporter = open_registry(demo.settings, *demo.logins["reporter"])
    try:
        r = reporter.report(OPERATION)
    finally:
        reporter.engine.dispose()
    assert demo.people == 200 and r["registered"] == 200 and r["merged"] == 0
    assert demo.credentials == 200
    st = r["by_status"]
    fl = {f.code: f for f in demo.flights}
    assert [f.status for f in demo.flights] == [s for _, _, s in FLIGHTS]
    arrived = sum(f.deplaned for f in demo.flights if f.status == "arrived")
    in_air = sum(f.boarded for f in demo.flights if f.status == "departed")
    assert arrived > 0 and in_air > 0
    assert st["arrived"] == arrived
    assert st["in-flight"] == in_air
    assert r["out"] == arrived + in_air
    # everyone scanned in and not flown is still checked in (the manifested flight included)
    assert st["checked-in"] == demo.checked_in - arrived - in_air
    assert st["registered"] == 200 - demo.checked_in
    assert sum(st.values()) == 200
    for f in fl.values():
        assert 0 < f.manifested <= f.seats + f.manifested  # lap infants ride free
        if f.status == "manifested":
            assert f.boarded == 0
        else:
            assert f.boarded == f.manifested
    # the events lie in the two days before the demo's end
    last_days = {(NOW - timedelta(days=k)).date().isoformat() for k in range(3)}
    assert len(r["per_day"]) >= 2 and set(r["per_day"]) <= last_days
    assert sum(d["registered"] for d in r["per_day"].values()) == 200
    assert r["out_per_day"] and set(r["out_per_day"]) <= last_days


def test_demo_has_one_login_per_role_and_fresh_credentials(demo):
    assert set(demo.logins) == {str(r) for r in Role}
    for role, (user, password) in demo.logins.items():
        view = open_registry(demo.settings, user, password)
        assert view.actor.role == role
        view.engine.dispose()
    # the fresh payloads are of people not yet scanned anywhere: a gate may let them in
    assert demo.fresh_payloads
    gate = open_registry(demo.settings, *demo.logins["gate"])
    gate.clock = lambda: NOW  # the demo's credentials are valid for 30 days from its start
    try:
        payload = demo.fresh_payloads[0]["payload"]
        first = gate.scan(OPERATION, payload, "gate-in", site="Abbey Gate")
    finally:
        gate.engine.dispose()
    assert not first["duplicate"]
    text = describe(demo)
    for user, password in demo.logins.values():
        assert f"{user} / {password}" in text


def test_demo_folder_is_rebuilt_and_private(tmp_path, capsys):
    from evacops.demo import main

    folder = tmp_path / "demo"
    for _ in range(2):  # a second run replaces the first demo (the database must start empty)
        main(["--people", "40", "--folder", str(folder)])
    printed = capsys.readouterr().out
    assert printed.count("Demo logins (one per role):") == 2
    assert (folder.stat().st_mode & 0o777) == 0o700
    assert (folder / "keys" / "master.key").stat().st_mode & 0o077 == 0
    # the second run's logins are the ones that work
    last = printed.rsplit("Demo logins (one per role):", 1)[1]
    user, password = last.splitlines()[1].split()[1::2]
    from evacops.registry.settings import RegistrySettings

    settings = RegistrySettings(
        database_url=f"sqlite:///{folder / 'demo.db'}", key_file=folder / "keys" / "master.key"
    )
    view = open_registry(settings, user, password)
    assert view.report(OPERATION)["registered"] == 40
    view.engine.dispose()


def test_demo_devices_sync_an_offline_scan(demo):
    from evacops.registry.accounts import Accounts

    assert [(d["site"], d["role"]) for d in demo.devices] == [
        ("Abbey Gate", "gate"), ("East Gate", "gate"), ("North Gate", "gate"),
        ("South Gate", "gate"), ("HKIA", "manifest"),
    ]  # fmt: skip
    accounts = Accounts.from_settings(demo.settings)
    try:
        phone = demo.devices[0]
        actor = accounts.device_actor(phone["token"])
        assert (actor.device, actor.site) == (phone["id"], "Abbey Gate")
        reg = accounts.registry(actor)
        reg.clock = lambda: NOW
        scan = {
            "seq": 1, "payload": demo.fresh_payloads[1]["payload"], "action": "gate-in",
            "site": "Abbey Gate", "at": (NOW - timedelta(minutes=5)).isoformat(),
        }  # fmt: skip
        first = reg.sync_scans(OPERATION, phone["id"], [scan])
        again = reg.sync_scans(OPERATION, phone["id"], [scan])  # a retry: the same answer
        assert first[0]["outcome"] == again[0]["outcome"] and not first[0]["duplicate"]
        assert again[0]["duplicate"]
        reporter = accounts.registry(accounts.login(*demo.logins["reporter"]))
        assert reporter.report(OPERATION)["by_status"]["checked-in"] == (
            demo.checked_in - sum(f.boarded for f in demo.flights) + 1  # the synced scan, once
        )
    finally:
        accounts.engine.dispose()


def test_evacops_demo_command_builds_without_serving(tmp_path):
    from tests.helpers import evacops

    r = evacops("demo", "--people", "20", "--folder", tmp_path / "demo", "--no-serve")
    assert r.returncode == 0, r.stderr
    assert "Demo operation kabul-2021: 20 generated people" in r.stdout
    assert len([ln for ln in r.stdout.splitlines() if " / " in ln]) == len(Role)
    assert (tmp_path / "demo" / "demo.db").exists()


def test_demo_refuses_a_folder_that_is_not_its_own(tmp_path):
    from evacops.demo import main
    from evacops.errors import UserError

    folder = tmp_path / "mine"
    (folder / "keys").mkdir(parents=True)
    (folder / "keys" / "precious.key").write_bytes(b"x")
    with pytest.raises(UserError, match="not empty and not a demo folder"):
        main(["--people", "20", "--folder", str(folder)])
    assert (folder / "keys" / "precious.key").read_bytes() == b"x"
