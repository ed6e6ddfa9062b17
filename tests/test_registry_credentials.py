"""Signed credentials and wristband label sheets (evacops/registry/credentials.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import matplotlib.image as mpimg
import numpy as np
import pytest
import segno
from hypothesis import given, settings
from hypothesis import strategies as st

from evacops.errors import CredentialError
from evacops.registry import base45
from evacops.registry import credentials as cr
from evacops.registry.credentials import (
    Claim,
    InvalidCredential,
    Label,
    Reason,
    decode_unverified,
    encode,
    new_credential_id,
    new_signing_key,
    normalize_short_code,
    public_key_text,
    read_public_key_text,
    short_code,
    verify,
    write_label_sheet,
)

OP = "kabul-2021"
EXPIRES = datetime(2021, 8, 31, 18, 0, tzinfo=UTC)
BEFORE = EXPIRES - timedelta(days=3)
KEY = new_signing_key()
OTHER_KEY = new_signing_key()
CID = "0123456789ABCDEFGHJK"


@pytest.fixture(scope="module")
def payload() -> str:
    return encode(CID, OP, EXPIRES, KEY[0])


def refused(reason: Reason, payload: str, public: bytes = KEY[1], **kw) -> str:
    kw.setdefault("now", BEFORE)
    with pytest.raises(InvalidCredential) as info:
        verify(payload, public, **kw)
    assert info.value.reason is reason
    assert isinstance(info.value, CredentialError)
    message = str(info.value)
    assert "\n" not in message and CID not in message  # one line; not even the opaque id
    return message


# --- keys ---------------------------------------------------------------------------------------


def test_signing_key_is_raw_ed25519():
    private, public = new_signing_key()
    assert len(private) == 32 and len(public) == 32
    assert new_signing_key() != (private, public)


def test_public_key_text_round_trip():
    text = public_key_text(KEY[1], OP)
    assert text.splitlines()[-1].startswith(f"evacops-credential-key v1 {OP} ")
    assert cr.key_fingerprint(KEY[1]) in text
    assert read_public_key_text(text) == (OP, KEY[1])
    # copied with other line ends, indentation, without the comments
    assert read_public_key_text("\r\n  " + text.splitlines()[-1] + "  \r\n") == (OP, KEY[1])


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: "",
        lambda t: t.replace("evacops-credential-key", "evacops-master-key"),
        lambda t: t.replace(" v1 ", " v2 "),
        lambda t: t.rstrip("\n")[:-1] + "\n",  # a character lost
        lambda t: t.rstrip("\n") + "A\n",  # a character too many
        lambda t: t.rstrip("\n")[:-1] + "+\n",  # not base64url
        lambda t: t.rstrip("\n") + " extra\n",
        lambda t: t + t.splitlines()[-1] + "\n",  # two key lines
        lambda t: t.replace(f" {OP} ", " kabul/2021 "),
    ],
)
def test_malformed_public_key_text(mangle):
    with pytest.raises(CredentialError) as info:
        read_public_key_text(mangle(public_key_text(KEY[1], OP)))
    assert "\n" not in str(info.value)


# --- ids and short codes ------------------------------------------------------------------------


def test_credential_ids_are_random_crockford():
    ids = {new_credential_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{20}", i) for i in ids)
    # 100 bits: the first character takes all 32 values too
    assert len({i[0] for i in ids}) == 32


def test_short_code_is_the_tail_grouped_and_deterministic():
    assert short_code(CID) == "EFG-HJK"
    cid = new_credential_id()
    assert short_code(cid) == short_code(cid) == f"{cid[-6:-3]}-{cid[-3:]}"
    with pytest.raises(CredentialError):
        short_code("not-an-id")


def test_normalize_short_code_folds_what_people_type():
    assert normalize_short_code("efg hjk") == "EFG-HJK"
    assert normalize_short_code("k7q-2mx") == "K7Q-2MX"
    assert normalize_short_code("O1L-I00") == "011-100"
    for bad in ("K7Q-2M", "K7Q-2MXX", "K7Q-2MU", "K7Q-2M*"):
        with pytest.raises(CredentialError):
            normalize_short_code(bad)


# --- payload ------------------------------------------------------------------------------------


def test_round_trip(payload):
    claim = verify(payload, KEY[1], operation=OP, now=BEFORE)
    assert claim == Claim(CID, OP, EXPIRES)
    assert claim.expires_at.tzinfo is UTC
    assert decode_unverified(payload) == claim
    assert verify(payload, KEY[1], now=BEFORE) == claim  # operation not checked


def test_payload_holds_only_id_operation_and_expiry(payload):
    """The signed body is exactly c (13 bytes), x (4), len(o) (1), o: nothing else fits."""
    assert payload.startswith("EVC1:")
    data = cr._b45decode(payload[5:])
    assert data is not None
    body, signature = data[:-64], data[-64:]
    id_bits = 0
    for ch in CID:
        id_bits = id_bits * 32 + cr.CROCKFORD.index(ch)
    assert body == (
        id_bits.to_bytes(13, "big")
        + int(EXPIRES.timestamp()).to_bytes(4, "big")
        + bytes([len(OP)])
        + OP.encode()
    )
    assert len(signature) == 64
    assert {f for f in Claim.__dataclass_fields__} == {"credential_id", "operation", "expires_at"}


def test_golden_vector():
    """The example of docs/registry-credentials.md: Ed25519 is deterministic."""
    private = bytes(range(32))
    payload = encode("7M3QK0V9XH2A8TD5K7Q2", "kabul-2021", EXPIRES, private)
    assert payload == (
        "EVC1:VL0G5FW+6U OT-8$EB%RS6*5C24*PD5KCIUDNF6OF677G%E64KCH9J4XBV5N+3K+H5C0A26S5S2E2G6LG"
        "EXH8+E/V8AXRPCB:3GNIC.0S7MP3$1:6L/B7AJAF.S4.RR-1UFF4M7-NO"
    )
    key_file = (
        "# evacops credential verification key of operation kabul-2021\n"
        "# fingerprint AS3N-N9TM-CD3M-R0M5 (compare with the operation's key holder)\n"
        "evacops-credential-key v1 kabul-2021 A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg\n"
    )
    operation, public = read_public_key_text(key_file)
    assert public_key_text(public, operation) == key_file
    assert verify(payload, public, operation=operation, now=BEFORE).credential_id.endswith("D5K7Q2")
    assert short_code("7M3QK0V9XH2A8TD5K7Q2") == "D5K-7Q2"


def test_payload_uses_only_qr_alphanumeric_characters(payload):
    assert re.fullmatch(r"[0-9A-Z $%*+\-./:]+", payload)
    assert not payload.endswith(" ")  # a scanner or a strip() cannot eat the last character


def test_expiry_is_kept_to_the_second_rounding_down():
    aware = datetime(
        2021, 8, 31, 22, 30, 0, 900_000, tzinfo=timezone(timedelta(hours=4, minutes=30))
    )
    claim = decode_unverified(encode(CID, OP, aware, KEY[0]))
    assert claim.expires_at == EXPIRES


@pytest.mark.parametrize(
    "args",
    [
        ("0123456789abcdefghjk", OP, EXPIRES),  # not canonical
        ("0123456789ABCDEFGHJ", OP, EXPIRES),  # 19 characters
        ("0123456789ABCDEFGHJU", OP, EXPIRES),  # U is not Crockford
        (CID, "", EXPIRES),
        (CID, "kabul 2021", EXPIRES),
        (CID, "x" * 65, EXPIRES),
        (CID, OP, datetime(2021, 8, 31)),  # naive
        (CID, OP, datetime(1969, 12, 31, tzinfo=UTC)),
        (CID, OP, datetime(2107, 1, 1, tzinfo=UTC)),
    ],
)
def test_encode_refuses_bad_input(args):
    with pytest.raises(CredentialError):
        encode(*args, KEY[0])


def test_encode_refuses_a_bad_private_key():
    with pytest.raises(CredentialError):
        encode(CID, OP, EXPIRES, KEY[0][:31])


def test_tampering_any_byte_of_body_or_signature_fails(payload):
    data = cr._b45decode(payload[5:])
    for i in range(len(data)):
        for bit in (0x01, 0x80):
            forged = bytearray(data)
            forged[i] ^= bit
            p = "EVC1:" + cr._b45encode(bytes(forged))
            with pytest.raises(InvalidCredential) as info:
                verify(p, KEY[1], operation=OP, now=BEFORE)
            # a changed operation byte may read as another operation or a bad one
            assert info.value.reason in (Reason.SIGNATURE, Reason.MALFORMED, Reason.OPERATION)
    body_len = len(data) - 64
    forged = bytearray(data)
    forged[body_len + 10] ^= 0x04  # in the signature: only the signature check can see it
    assert refused(Reason.SIGNATURE, "EVC1:" + cr._b45encode(bytes(forged)))


def test_tampering_any_character_fails(payload):
    alphabet = base45.ALPHABET
    for i in range(len(payload)):
        other = alphabet[(alphabet.index(payload[i]) + 1) % 45] if payload[i] in alphabet else "A"
        p = payload[:i] + other + payload[i + 1 :]
        with pytest.raises(InvalidCredential):
            verify(p, KEY[1], operation=OP, now=BEFORE)


def _outcome(p: str, **kw) -> object:
    try:
        return verify(p, KEY[1], operation=OP, now=BEFORE, **kw)
    except InvalidCredential as exc:
        return exc.reason


def test_checking_by_signing_again_gives_the_same_answers(payload, monkeypatch):
    """``own`` (the server holds the private key): a payload it issued is recognised by signing
    again, without a verification; any other payload gets the answer it gets without ``own``."""
    own = cr.signer(KEY[0], KEY[1])
    data = cr._b45decode(payload[5:])
    variants = [payload, encode(CID, OP, EXPIRES, OTHER_KEY[0]), encode(CID, "herat-2021",
                EXPIRES, KEY[0]), encode(CID, OP, BEFORE, KEY[0])]  # fmt: skip
    for i in range(0, len(data), 3):
        forged = bytearray(data)
        forged[i] ^= 0x10
        variants.append("EVC1:" + cr._b45encode(bytes(forged)))
    answers = [_outcome(p) for p in variants]
    assert answers[0] == Claim(CID, OP, EXPIRES) and Reason.SIGNATURE in answers
    assert [_outcome(p, own=own) for p in variants] == answers
    calls = []
    real = cr._verifier
    monkeypatch.setattr(cr, "_verifier", lambda pub: calls.append(pub) or real(pub))
    assert _outcome(payload, own=own) == answers[0] and calls == []  # no verification
    assert _outcome(variants[1], own=own) is Reason.SIGNATURE and len(calls) == 1


def test_a_signer_must_be_the_private_half_of_the_public_key():
    assert cr.signer(KEY[0], KEY[1]).sign(b"x") == cr.signer(KEY[0], KEY[1]).sign(b"x")
    with pytest.raises(CredentialError, match="not the private half"):
        cr.signer(OTHER_KEY[0], KEY[1])
    with pytest.raises(CredentialError):
        cr.signer(KEY[0], KEY[1][:16])


def test_another_key_fails(payload):
    assert "signature" in refused(Reason.SIGNATURE, payload, OTHER_KEY[1])


def test_expired_fails(payload):
    assert verify(payload, KEY[1], now=EXPIRES - timedelta(seconds=1)).credential_id == CID
    message = refused(Reason.EXPIRED, payload, now=EXPIRES)
    assert "expired at 2021-08-31 18:00:00 UTC" in message
    refused(Reason.EXPIRED, payload, now=EXPIRES + timedelta(days=1))


def test_wrong_operation_fails(payload):
    refused(Reason.OPERATION, payload, operation="herat-2021")


def test_revoked_fails(payload):
    refused(Reason.REVOKED, payload, revoked={CID, new_credential_id()})
    assert verify(payload, KEY[1], now=BEFORE, revoked={new_credential_id()}).credential_id == CID


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "EVC1:",
        "EVC2:ABC",
        "HC1:ABC",
        "evc1:" + "0" * 140,
        "EVC1:" + "0" * 139,  # 3k+1 characters
        "EVC1:" + "::::" * 36,  # groups above 65535
        "EVC1:" + "0" * 600,
    ],
)
def test_malformed_payloads(bad):
    with pytest.raises(InvalidCredential) as info:
        decode_unverified(bad)
    assert info.value.reason is Reason.MALFORMED
    refused(Reason.MALFORMED, bad)


def test_verify_refuses_naive_now_and_bad_public_key(payload):
    with pytest.raises(CredentialError):
        verify(payload, KEY[1], now=datetime(2021, 8, 1))
    with pytest.raises(CredentialError):
        verify(payload, KEY[1][:16], now=BEFORE)


ids = st.text(alphabet=cr.CROCKFORD, min_size=20, max_size=20)
operations = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)
expiries = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2106, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(ids, operations, expiries)
def test_round_trip_property(cid, operation, expires_at):
    payload = encode(cid, operation, expires_at, KEY[0])
    claim = verify(payload, KEY[1], operation=operation, now=expires_at - timedelta(seconds=1))
    assert claim == Claim(cid, operation, expires_at.replace(microsecond=0))
    assert decode_unverified(payload) == claim
    assert re.fullmatch(r"EVC1:[0-9A-Z $%*+\-./:]+", payload)
    assert len(payload) == 5 + 3 * ((18 + len(operation) + 64) // 2) + 2 * (len(operation) % 2)
    with pytest.raises(InvalidCredential):
        verify(payload, OTHER_KEY[1], now=expires_at - timedelta(seconds=1))


# --- QR codes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["kabul-2021", "op-evac-kbl-aug21", "x"])
def test_qr_code_is_small(operation):
    """Operations of up to 17 characters fit a version 6 QR code at level M (41 x 41 modules)."""
    payload = encode(new_credential_id(), operation, EXPIRES, KEY[0])
    qr = segno.make(payload, error="m", boost_error=False, micro=False)
    assert qr.mode == "alphanumeric"
    assert qr.version <= 6
    assert qr.symbol_size(border=0) <= (41, 41)


# --- label sheets -------------------------------------------------------------------------------


def make_labels(n: int) -> list[Label]:
    out = []
    for i in range(n):
        cid = new_credential_id()
        out.append(
            Label(encode(cid, OP, EXPIRES, KEY[0]), short_code(cid), f"HH {i:03d}", "seat: prio")
        )
    return out


@pytest.fixture(scope="module")
def labels25() -> list[Label]:
    return make_labels(25)


def test_pdf_sheet_has_a_page_per_24_labels(tmp_path, labels25):
    path = tmp_path / "labels.pdf"
    assert write_label_sheet(labels25, path) == 2
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", data)) == 2
    # one image per QR code, whole dots per module (41 + 2 x 4 quiet modules, 7 dots each)
    sizes = {int(w) for w in re.findall(rb"/Width (\d+)", data)}
    assert sizes == {49 * 7}


def test_png_sheets_are_one_file_per_page(tmp_path, labels25):
    path = tmp_path / "labels.png"
    assert write_label_sheet(labels25, path) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels-2.png", "labels.png"]
    for p in (path, tmp_path / "labels-2.png"):
        image = mpimg.imread(p)
        assert image.shape[:2] == (3507, 2480)  # A4 at 300 dpi


def test_png_qr_reproduces_the_symbol(tmp_path):
    """Sample the printed QR at module centres: it is the symbol segno made for the payload."""
    (label,) = make_labels(1)
    path = tmp_path / "one.sheet"
    assert write_label_sheet([label], path, fmt="PNG") == 1  # the format given wins the suffix
    image = mpimg.imread(path, format="png")[:, :, :3].mean(axis=2)
    cell = image[: 3507 // 8, : 2480 // 3]
    left = cell[:, : int(cell.shape[1] * 0.45)] < 0.5  # the QR; the text starts further right
    rows, cols = np.nonzero(left)
    top, bottom, first, last = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    qr = segno.make(label.payload, error="m", micro=False)
    n = qr.symbol_size(border=0)[0]
    assert bottom - top == last - first and (bottom - top) % n == 0
    module = (bottom - top) // n
    centres = np.arange(n) * module + module // 2
    printed = left[top:bottom, first:last][np.ix_(centres, centres)]
    expected = np.array(list(qr.matrix_iter(scale=1, border=0)), dtype=bool)
    assert np.array_equal(printed, expected)
    # the quiet zone (4 modules) is white
    assert not left[top - 4 * module : top, first:last].any()
    assert not left[top:bottom, first - 4 * module : first].any()


def test_unknown_format_is_one_line(tmp_path):
    with pytest.raises(CredentialError) as info:
        write_label_sheet(make_labels(1), tmp_path / "labels.svg")
    assert "\n" not in str(info.value) and "svg" in str(info.value)
    with pytest.raises(CredentialError):
        write_label_sheet(make_labels(1), tmp_path / "labels.pdf", fmt="tiff")


def test_label_checks(tmp_path):
    (good,) = make_labels(1)
    out = tmp_path / "x.pdf"
    for bad in (
        [],
        [Label("not a payload", good.code)],
        [Label(good.payload, "AAA-AAA")],  # the code of another credential
        [Label(good.payload, good.code, line1="x" * 19)],
        [Label(good.payload, good.code, line2="a\nb")],
    ):
        with pytest.raises(CredentialError) as info:
            write_label_sheet(bad, out)
        assert "\n" not in str(info.value)
    assert not out.exists()
    # lines are printed as given: no mathtext, so a "$" is just a character
    odd = Label(good.payload, good.code, line1="$\\frac{x$", line2="$5 $")
    assert write_label_sheet([odd], out) == 1


def test_unwritable_path_is_one_line(tmp_path):
    with pytest.raises(CredentialError) as info:
        write_label_sheet(make_labels(1), tmp_path / "missing" / "labels.png")
    assert "\n" not in str(info.value)
