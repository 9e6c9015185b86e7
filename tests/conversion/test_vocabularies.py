"""`convert-original --vocab` files go through the bounded readers; names are quoted short."""

import json
import os

import pytest

from layout2im.conversion.state_files import ConversionError
from layout2im.conversion.vocabularies import vg_vocabulary_from_file
from layout2im.vocab import Vocabulary


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_text("[" * 5000 + "]" * 5000), "nested deeper than 64"),
        (lambda p: p.write_bytes(b'{"names": ["\xff"]}'), "not UTF-8"),
        (lambda p: os.mkfifo(p), "is a FIFO"),
        (lambda p: p.write_text('{"names": ["a", "b"]}'), "the VG vocabulary has 2 rows"),
    ],
)
def test_bad_vocab_files_are_refused_unread_or_by_name(tmp_path, make, message):
    path = tmp_path / "vocab.json"
    make(path)
    with pytest.raises(ConversionError, match=message) as err:
        vg_vocabulary_from_file(path)
    assert str(err.value).startswith("--vocab ")


def test_a_device_as_vocab_is_refused_unread():
    with pytest.raises(ConversionError, match="/dev/zero is a device"):
        vg_vocabulary_from_file("/dev/zero")


def test_a_five_megabyte_name_is_quoted_short(tmp_path):
    huge = "x" * 5_000_000
    path = tmp_path / "vocab.json"
    path.write_text(json.dumps({"names": [huge] + ["a"] * 178}))
    with pytest.raises(ConversionError) as err:
        vg_vocabulary_from_file(path)
    assert "row 0 is 'xxx" in str(err.value) and len(str(err.value)) < 300
    with pytest.raises(ValueError) as err:
        Vocabulary([huge, huge])
    assert "duplicate category name" in str(err.value) and len(str(err.value)) < 200
