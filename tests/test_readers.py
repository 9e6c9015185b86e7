"""The one bounded reader of user files and JSON (``layout2im.readers``)."""

import json
import os
import threading

import pytest

from layout2im.errors import Layout2ImError
from layout2im.readers import (
    MAX_INT_DIGITS,
    MAX_JSON_DEPTH,
    InputError,
    check_path,
    parse_json,
    read_bytes,
    read_json,
    read_lines,
    read_text,
)


class MyError(Layout2ImError):
    pass


def messages_without_blocking(calls, seconds: float = 5) -> list[str]:
    """The messages of the errors each ``(call, error type)`` raises, run in a thread that must
    finish within ``seconds`` (a read that blocks on a FIFO fails the test)."""
    result = []

    def run():
        for call, error in calls:
            try:
                call()
            except error as exc:
                result.append(str(exc))

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "a read blocked"
    return result


def test_a_small_file_is_read_whole(tmp_path):
    p = tmp_path / "a.json"
    p.write_text('{"a": [1, 2.5, "x"]}')
    assert read_json(p, 100, "thing") == {"a": [1, 2.5, "x"]}
    assert read_bytes(p, 100, "thing") == p.read_bytes()
    assert read_text(p, 100, "thing") == p.read_text()


def test_the_limit_is_exact(tmp_path):
    p = tmp_path / "a.txt"
    p.write_bytes(b"x" * 10)
    assert read_bytes(p, 10, "thing") == b"x" * 10
    with pytest.raises(MyError, match=r"thing .* is larger than the limit of 9 bytes"):
        read_bytes(p, 9, "thing", MyError)


def test_an_endless_device_is_refused_unread():
    with pytest.raises(InputError, match="is a device, not a file"):
        read_bytes("/dev/zero", 10, "vocabulary")


def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    result = messages_without_blocking([(lambda: read_json(fifo, 100, "vocabulary"), InputError)])
    assert result and "is a FIFO (named pipe), not a file" in result[0]


def test_the_file_hashing_helpers_refuse_a_fifo_without_blocking(tmp_path):
    from layout2im.conversion.state_files import ConversionError, file_sha256
    from layout2im.evaluation.weight_files import sha256_of

    fifo = tmp_path / "weights.pth"
    os.mkfifo(fifo)
    calls = [(lambda: sha256_of(fifo), InputError), (lambda: file_sha256(fifo), ConversionError)]
    result = messages_without_blocking(calls)
    assert [m.split(" ", 2)[:2] for m in result] == [["weights", "file"], ["checkpoint", "file"]]
    assert all(m.endswith("is a FIFO (named pipe), not a file") for m in result)


def test_read_lines_bounds_each_line_and_names_the_bad_ones(tmp_path):
    path = tmp_path / "log.jsonl"
    path.write_bytes(b"one\r\n" + b"x" * 11 + b"\n\xff\nlast")
    assert list(read_lines(path, 10, "log")) == [
        (1, "one", ""),
        (2, None, "longer than the limit of 10 bytes"),
        (3, None, "not UTF-8 text (byte 0)"),
        (4, "last", ""),
    ]
    with pytest.raises(MyError, match="log not found"):
        list(read_lines(tmp_path / "nope", 10, "log", MyError))


def test_missing_folder_and_wrong_kind(tmp_path):
    with pytest.raises(InputError, match=r"layout file not found: .*nope"):
        read_bytes(tmp_path / "nope", 10, "layout file")
    with pytest.raises(InputError, match="is a folder, not a file"):
        read_bytes(tmp_path, 10, "layout file")
    (tmp_path / "f").write_text("x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        check_path(tmp_path / "f", "model folder", "folder")
    with pytest.raises(InputError, match=r"not found: .*a parent is not a folder"):
        check_path(tmp_path / "f" / "g", "model folder", "folder")
    assert check_path(tmp_path, "x", "any") == tmp_path


def test_overlong_paths_are_refused_with_a_short_message():
    long = "a" * 5000
    with pytest.raises(InputError, match="5000 characters long") as info:
        check_path(long, "model folder", "folder")
    assert len(str(info.value)) < 200
    with pytest.raises(InputError, match="a name in the path is 300 characters"):
        check_path("x/" + "b" * 300, "layout file")
    with pytest.raises(InputError, match="NUL byte"):
        check_path("a\0b", "layout file")
    with pytest.raises(InputError, match="not valid text"):
        check_path("a\ud800", "layout file")
    with pytest.raises(InputError, match="empty"):
        check_path("", "layout file")


def test_json_errors_name_the_source_and_the_problem():
    with pytest.raises(InputError, match=r"src: malformed JSON at line 1 column 2"):
        parse_json("{x", "src")
    with pytest.raises(InputError, match="src: not UTF-8 text \\(byte 1\\)"):
        parse_json(b'"\xff"', "src")
    with pytest.raises(InputError, match="NaN is not a JSON number"):
        parse_json("[NaN]", "src")
    with pytest.raises(InputError, match="Infinity is not a JSON number"):
        parse_json("-Infinity", "src")


def test_json_integers_are_bounded_in_digits():
    ok = "9" * MAX_INT_DIGITS
    assert parse_json(f"[{ok}]", "s") == [int(ok)]
    with pytest.raises(InputError, match=f"an integer with {MAX_INT_DIGITS + 1} digits"):
        parse_json(f"[-{ok}9]", "s")
    with pytest.raises(InputError, match="an integer with 5000 digits"):
        parse_json("[0, 0, " + "1" * 5000 + ", 1]", "s")


def test_json_depth_is_bounded_at_any_depth():
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert parse_json(ok, "s") is not None
    for depth in (MAX_JSON_DEPTH + 1, 5000, 200_000):
        text = "[" * depth + "]" * depth
        with pytest.raises(InputError, match=f"nested deeper than {MAX_JSON_DEPTH}"):
            parse_json(text, "s")
    deep_object = '{"a": ' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1)
    with pytest.raises(InputError, match="nested deeper"):
        parse_json(deep_object, "s")


def test_lone_surrogates_are_refused_in_values_and_keys():
    with pytest.raises(InputError, match="lone surrogate"):
        parse_json(json.dumps({"id": "\ud800"}), "s")
    with pytest.raises(InputError, match="lone surrogate"):
        parse_json('{"\\udfff": 1}', "s")
    # a valid pair of surrogates is one character, accepted
    assert parse_json('"\\ud83d\\ude00"', "s") == "\U0001f600"


def test_a_byte_order_mark_is_dropped(tmp_path):
    p = tmp_path / "bom.json"
    p.write_bytes(b"\xef\xbb\xbf[1]")
    assert read_json(p, 100, "x") == [1]
