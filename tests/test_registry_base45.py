"""Base45 (RFC 9285), the text of a credential's payload: the RFC's examples, and the strict
decoding that gives every byte string exactly one text."""

from __future__ import annotations

import random

import pytest

from evacops.registry.base45 import ALPHABET, b45decode, b45encode


@pytest.mark.parametrize(
    ("data", "text"),
    [(b"AB", "BB8"), (b"Hello!!", "%69 VD92EX0"), (b"base-45", "UJCLQE7W581"),
     (b"ietf!", "QED8WEX0"), (b"", "")],
)  # fmt: skip
def test_rfc_examples(data, text):
    assert b45encode(data) == text
    assert b45decode(text) == data


@pytest.mark.parametrize(
    "text",
    ["GGW",  # 65,536: above two bytes
     ":::",  # 44 + 44 * 45 + 44 * 2,025 = 91,124: above two bytes
     "BB8A",  # 3k + 1 characters
     "bb8",  # lower case is not in the alphabet
     "BB\u00e9",  # nor is a character outside ASCII
     "BB8Z:"],  # a last pair of 59 + 45 * 44 > 255
)  # fmt: skip
def test_refused(text):
    assert b45decode(text) is None


def test_round_trip_and_one_text_per_bytes():
    rnd = random.Random(3)
    for _ in range(500):
        data = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 80)))
        text = b45encode(data)
        assert set(text) <= set(ALPHABET)
        assert b45decode(text) == data
        assert b45encode(b45decode(text) or b"") == text
