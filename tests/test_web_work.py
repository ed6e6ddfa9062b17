"""The working pages through their forms, as a browser sends them (cookie + CSRF field):
registration of a household and a file with its per-row errors, the duplicates queue, the ramp
(manifest, board by scan with the seat count, a logged override, depart) and arrival (landed,
deplane by scan, reconciliation, roll-call). Generated people only."""

from __future__ import annotations

import re

import pytest
from conftest import OPERATION
from test_web_support import World, csrf_of

from evacops.registry.files import read_records
from evacops.registry.generate import registrations_rows

OPAGE = f"/o/{OPERATION}"


@pytest.fixture
def world(registry_env, admin) -> World:
    return World(registry_env, admin)


def test_register_a_household_through_the_form(world: World):
    c = world.page_login("registrar")
    rows = registrations_rows(3, 77, 0.0)
    hid = rows[0]["household_id"]
    members = [r for r in rows if r["household_id"] == hid]
    form = {"csrf": csrf_of(c), "household_id": "form-" + hid}
    for i, r in enumerate(members):
        form.update({f"{k}_{i}": str(r[k]) for k in r if k != "household_id"})
    before = world.admin.report(OPERATION)["registered"]
    r = c.post(f"{OPAGE}/register", data=form)
    assert r.status_code == 200, r.text
    assert world.admin.report(OPERATION)["registered"] == before + len(members)
    # the page answers with counts, never the names it was sent
    assert members[0]["given_name"] not in r.text.split("<form")[0]


def test_upload_with_bad_rows_shows_one_problem_per_row_and_registers_nothing(world: World):
    c = world.page_login("registrar")
    rows = registrations_rows(3, 78, 0.0)
    cols = list(rows[0])
    lines = [",".join(cols)] + [",".join(str(r[k]) for k in cols) for r in rows]
    lines[1] = lines[1].replace(str(rows[0]["birth_date"]), "not-a-date")
    lines[2] = lines[2].replace(str(rows[1]["sex"]), "Q", 1) if rows[1]["sex"] else lines[2]
    before = world.admin.report(OPERATION)["registered"]
    r = c.post(
        f"{OPAGE}/register/upload",
        data={"csrf": csrf_of(c)},
        files={"file": ("people.csv", "\n".join(lines).encode(), "text/csv")},
    )
    assert r.status_code == 422
    problems = re.findall(r"<li>(.*?)</li>", r.text.split('class="problems"')[1].split("</ol>")[0])
    assert len(problems) >= 1 and all("people.csv" in p or ":" in p for p in problems)
    assert "not-a-date" not in r.text
    assert world.admin.report(OPERATION)["registered"] == before


def test_dedup_page_runs_the_search_and_lists_the_queue(world: World):
    c = world.page_login("registrar")
    r = c.post(f"{OPAGE}/dedup", data={"csrf": csrf_of(c), "do": "run"})
    assert r.status_code == 200 and 'id="queue"' in r.text
    queue = world.admin.review_queue(OPERATION)
    table = r.text.split('id="queue"')[1].split("</table>")[0]
    assert table.count("<tr>") == max(len(queue[:100]), 1)
    assert "result" in r.text  # the search's counts were shown


def test_dedup_page_says_why_each_pair_is_queued_in_the_pages_language(world: World):
    """A registrar decides merge or not from why the pair was queued: each row lists its
    reasons as words (same document, names 93 % alike, same birth date, ...), one per reason
    code the search kept, never the codes themselves; in Dari in Dari."""
    rows = registrations_rows(40, 8, duplicate_rate=0.3)
    world.admin.register(OPERATION, read_records(rows, source="t"), source="t")
    c = world.page_login("registrar")
    r = c.post(f"{OPAGE}/dedup", data={"csrf": csrf_of(c), "do": "run"})
    queue = world.admin.review_queue(OPERATION)
    assert queue, "registrations with duplicates queue pairs"

    def reasons_shown(text: str) -> list[list[str]]:
        table = text.split('id="queue"')[1].split("</table>")[0]
        return [re.findall(r"<li>([^<]*)</li>", ul) for ul in
                re.findall(r'<ul class="why">(.*?)</ul>', table, re.S)]  # fmt: skip

    shown = reasons_shown(r.text)
    assert len(shown) == len(queue[:100])
    for q, words in zip(queue, shown, strict=False):
        codes = [k for k in (q["reasons"] or "").split(",") if k]
        assert len(words) == len(codes) and all(words)
        for code, word in zip(codes, words, strict=True):
            # worded, not a code: several words, none of the codes' marks
            assert " " in word and not re.search(r"[=~!+]", word), (code, word)
            if code.startswith("name~"):
                # (a no-break space: the percent sign stays on its number's line)
                assert word == f"names {round(float(code[5:]) * 100)}\u00a0% alike"
    c.get("/lang/fa")
    shown = reasons_shown(c.get(f"{OPAGE}/dedup").text)
    assert len(shown) == len(queue[:100])
    assert all(not re.search(r"[A-Za-z]", w) for words in shown for w in words), shown[:3]


def test_dedup_page_counts_every_queued_pair_though_it_lists_the_first(world: World, monkeypatch):
    """The heading counts every pair waiting, not the ones listed (the page lists the first
    QUEUE_SHOWN, best score first, and says so)."""
    from evacops.web.routers import work

    rows = registrations_rows(40, 8, duplicate_rate=0.3)
    world.admin.register(OPERATION, read_records(rows, source="t"), source="t")
    world.admin.run_dedup(OPERATION)
    queued = len(world.admin.review_queue(OPERATION))
    assert queued > 3
    monkeypatch.setattr(work, "QUEUE_SHOWN", 3)
    c = world.page_login("registrar")
    text = c.get(f"{OPAGE}/dedup").text
    assert f"To review ({queued})</h2>" in text
    assert "The first 3 shown, best score first" in text
    table = text.split('id="queue"')[1].split("</table>")[0]
    assert table.count("<tr>") == 3
    monkeypatch.setattr(work, "QUEUE_SHOWN", queued)
    text = c.get(f"{OPAGE}/dedup").text
    assert f"To review ({queued})</h2>" in text and "The first" not in text


#: the comparison's row labels in English
LABEL = {"given_name": "Given name", "family_name": "Family name", "document": "Document number"}


def test_a_registrar_compares_a_queued_pair_side_by_side_and_decides_there(world: World):
    """The queue links each pair to its two records side by side (what a registrar may see of a
    person, each read audited), the rows that differ marked; Merge there keeps the first; a pair
    decided already is a 404 that says so; in Dari the labels are Dari."""
    rows = registrations_rows(40, 8, duplicate_rate=0.3)
    world.admin.register(OPERATION, read_records(rows, source="t"), source="t")
    world.admin.run_dedup(OPERATION)
    q = world.admin.review_queue(OPERATION)[0]
    c = world.page_login("registrar")
    queue_page = c.get(f"{OPAGE}/dedup").text
    assert f'href="{OPAGE}/dedup/{q["candidate"]}"' in queue_page
    assert "Merge keeps the first of the two ids" in queue_page  # the queue's Merge says which
    reads = len([e for e in world.admin.audit_entries(100_000) if e["action"] == "read"])
    r = c.get(f"{OPAGE}/dedup/{q['candidate']}")
    assert r.status_code == 200, r.text
    a, b = (world.admin.person(OPERATION, q[k]) for k in ("person_a", "person_b"))
    table = r.text.split('id="pair"')[1].split("</table>")[0]
    for field in ("given_name", "family_name", "document"):
        shown = re.search(rf"<tr( class=\"differ\")?><th>{LABEL[field]}</th><td><bdi>([^<]*)"
                          rf"</bdi></td><td><bdi>([^<]*)</bdi></td></tr>", table)  # fmt: skip
        assert shown, field
        assert (shown.group(2), shown.group(3)) == (a[field] or "–", b[field] or "–")
        assert (shown.group(1) is not None) == (a[field] != b[field]), field
    # the registrar's two reads of the pair's records are in the audit log (the admin's two
    # reads above as well)
    after = [e for e in world.admin.audit_entries(100_000) if e["action"] == "read"]
    assert len(after) >= reads + 4
    # Merge from the comparison: the first is kept, the pair leaves the queue
    form = {"csrf": csrf_of(c), "do": "merge", "keep": q["person_a"], "duplicate": q["person_b"]}
    assert 'name="keep" value="{}"'.format(q["person_a"]) in r.text
    assert c.post(f"{OPAGE}/dedup", data=form).status_code == 200
    assert q["candidate"] not in [x["candidate"] for x in world.admin.review_queue(OPERATION)]
    gone = c.get(f"{OPAGE}/dedup/{q['candidate']}")
    assert gone.status_code == 404 and "decided already" in gone.text
    assert a["given_name"] not in gone.text
    c.get("/lang/fa")
    nxt = world.admin.review_queue(OPERATION)[0]
    fa = c.get(f"{OPAGE}/dedup/{nxt['candidate']}").text
    assert "سابقهٔ اول" in fa and "تاریخ تولد" in fa and "First record" not in fa
    # statuses in words of the page, not the registry's codes
    assert not re.search(r"<bdi>(registered|called-forward|checked-in|boarded)</bdi>", fa)


def _flight(world: World, code: str, seats: int) -> None:
    r = world.client().post(
        f"/api/v1/operations/{OPERATION}/flights",
        headers=world.auth("admin"),
        json={"code": code, "origin": "HKIA", "destination": "Al Udeid", "seats": seats},
    )
    assert r.status_code == 200, r.text


def test_ramp_boards_by_scan_with_the_seat_count_and_departs(world: World):
    pid = world.ids[0]
    world.admin.scan(OPERATION, world.payload[pid], "gate-in", site="HKIA")
    _flight(world, "EV1", 50)
    c = world.page_login("manifest")
    r = c.post(f"{OPAGE}/ramp", data={"csrf": csrf_of(c), "flight": "EV1", "do": "build"})
    assert r.status_code == 200, r.text
    board = {"csrf": csrf_of(c), "flight": "EV1", "do": "board", "payload": world.payload[pid]}
    r = c.post(f"{OPAGE}/ramp", data=board)
    if r.status_code == 422:  # not on the manifest: stop, and say the override is possible
        assert "answer stop" in r.text and "override" in r.text
        board["override"] = "escort of a manifested child"
        r = c.post(f"{OPAGE}/ramp", data=board)
    assert r.status_code == 200, r.text
    assert "answer go" in r.text
    # initials isolated left to right: "Z.S." stays so on a right-to-left page
    assert re.search(r'<span class="who"><bdi dir="ltr">[A-Z]\.\s?[A-Z]\.</bdi>', r.text), r.text
    assert re.search(r"boarded\s*<strong>1</strong>\s*/\s*50", r.text)
    # the manifest's version too: "v1" must not read "1v" on a right-to-left page
    assert re.search(r'<bdi dir="ltr">v1</bdi>:', r.text), r.text
    r = c.post(f"{OPAGE}/ramp", data=board)
    assert "already scanned" in r.text  # the same scan again is one boarding
    assert 'value="depart"' in r.text and "has departed" not in r.text
    r = c.post(f"{OPAGE}/ramp", data={"csrf": csrf_of(c), "flight": "EV1", "do": "depart"})
    assert r.status_code == 200
    assert world.admin.reconcile(OPERATION, "EV1")["status"] == "departed"
    # a flight that has left offers neither boarding nor a second departure
    for page in (r.text, c.get(f"{OPAGE}/ramp", params={"flight": "EV1"}).text):
        assert "has departed: boarding and departure are closed" in page
        assert 'value="depart"' not in page and 'value="board"' not in page


def test_arrival_deplanes_by_scan_and_reconciles(world: World):
    pid = world.ids[1]
    world.admin.scan(OPERATION, world.payload[pid], "gate-in", site="HKIA")
    _flight(world, "EV2", 10)
    world.admin.scan(OPERATION, world.payload[pid], "board", flight="EV2", override="test")
    world.admin.depart(OPERATION, "EV2")
    c = world.page_login("admin")
    r = c.post(f"{OPAGE}/arrival", data={"csrf": csrf_of(c), "flight": "EV2", "do": "arrive"})
    assert r.status_code == 200, r.text
    r = c.post(
        f"{OPAGE}/arrival",
        data={"csrf": csrf_of(c), "flight": "EV2", "do": "deplane", "payload": world.payload[pid]},
    )
    assert r.status_code == 200 and "answer go" in r.text, r.text
    recon = world.admin.reconcile(OPERATION, "EV2")
    assert recon["deplaned"] == 1 and recon["reconciled"] is True
    assert re.search(r"<th>Reconciled</th><td>yes</td>", r.text)
    assert re.search(r"<th>Deplaned</th><td>1</td>", r.text)
    # in Dari every label and value is in Dari: no field names of the API
    r = c.get(f"{OPAGE}/arrival", params={"flight": "EV2", "lang": "fa"})
    assert re.search(r"<th>تطبیق شده</th><td>بله</td>", r.text), r.text
    assert "lap_infants" not in r.text and "reconciled" not in r.text


def test_a_gate_cannot_open_the_ramp_or_registration(world: World):
    c = world.page_login("gate")
    assert c.get(f"{OPAGE}/ramp").status_code == 403
    assert c.get(f"{OPAGE}/register").status_code == 403
    r = c.post(f"{OPAGE}/register", data={"csrf": csrf_of(c), "given_name_0": "x"})
    assert r.status_code == 403
