"""The bounded-memory JSON reader: same values as ``json.load`` at any chunk size, segmentation
polygons cut out unread, and malformed input reported with file, line and element."""

import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layout2im.data import jsonstream
from layout2im.data.errors import DatasetError
from layout2im.data.jsonstream import iter_array, read_members
from layout2im.errors import short_path

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)
polygons = st.lists(
    st.lists(st.floats(-1e4, 1e4, allow_nan=False) | st.integers(-1000, 1000), max_size=6),
    min_size=1,
    max_size=3,
)


def _write(tmp_path, data, indent=None, ascii_only=True):
    path = tmp_path / "data.json"
    path.write_text(json.dumps(data, indent=indent, ensure_ascii=ascii_only), encoding="utf-8")
    return path


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    images=st.lists(values, max_size=6),
    annotations=st.lists(values, max_size=6),
    other=values,
    chunk=st.integers(1, 40),
    indent=st.sampled_from([None, 1]),
    ascii_only=st.booleans(),
)
def test_same_elements_as_json_load(
    tmp_path, images, annotations, other, chunk, indent, ascii_only
):
    data = {"info": other, "images": images, "annotations": annotations}
    path = _write(tmp_path, data, indent, ascii_only)
    got = {"images": [], "annotations": []}
    handlers = {
        "images": lambda i, e: got["images"].append((i, e)),
        "annotations": lambda i, e: got["annotations"].append((i, e)),
    }
    keys = read_members(path, handlers, chunk_chars=chunk)
    assert keys == set(data)
    for key in got:
        assert got[key] == list(enumerate(data[key]))
    path = _write(tmp_path, annotations, indent, ascii_only)
    assert list(iter_array(path, chunk_chars=chunk)) == annotations


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    segs=st.lists(
        polygons | st.just({"counts": '"segmentation": [[1]], ', "size": [2, 2]}), max_size=8
    ),
    last=st.booleans(),
    chunk=st.integers(1, 60),
)
def test_segmentation_polygons_are_cut_out(tmp_path, segs, last, chunk):
    anns = []
    for k, seg in enumerate(segs):
        ann = {"id": k, "bbox": [1, 2, 3, 4]}
        ann = {**ann, "segmentation": seg} if last else {"segmentation": seg, **ann}
        anns.append(ann)
    path = _write(tmp_path, {"annotations": anns, "note": '"segmentation": [[1, 2]], '})
    got = []
    read_members(path, {"annotations": lambda i, e: got.append(e)}, chunk, "segmentation")
    for ann, read in zip(anns, got, strict=True):
        cut = isinstance(ann["segmentation"], list) and not last
        expected = {k: v for k, v in ann.items() if k != "segmentation" or not cut}
        assert read == expected


@pytest.mark.parametrize(
    "text, message",
    [
        ('{"images": [1, 2,, 3]}', r"line 1 column 18 in 'images'\[2\]: Expecting value"),
        ('{"images": [1, 2', "expected ',' or ']', found the end of the file"),
        ("", "expected a JSON object at the top level, found an empty file"),
        ("[1]", "expected a JSON object at the top level, found '\\['"),
        ('{"images": 3}', "'images' must be a list, got int"),
        ('{"images": []} x', "extra data after the top-level object"),
        ('{"a":\n [1,\n  {"b": tru}]}', r"line 3 column 9 in 'a'\[1\]: Expecting value"),
        ('{"images": [{"a": "b\x01"}]}', "Invalid control character"),
        ('{"images": [], 5: 1}', "expected a string key"),
    ],
)
def test_malformed_json_messages(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    for chunk in (2, 1 << 20):
        with pytest.raises(DatasetError, match=message) as info:
            read_members(path, {"images": lambda i, e: None}, chunk_chars=chunk)
        assert str(info.value).startswith(short_path(path))


def test_not_utf8_and_missing_files(tmp_path):
    path = tmp_path / "bin.json"
    path.write_bytes(b'{"images": ["\xff\xfe"]}')
    with pytest.raises(DatasetError, match="is not UTF-8 text"):
        read_members(path, {})
    with pytest.raises(DatasetError, match=r"file not found: .*nope\.json"):
        list(iter_array(tmp_path / "nope.json"))


def test_a_fifo_is_refused_unopened(tmp_path):
    os.mkfifo(tmp_path / "pipe.json")
    with pytest.raises(DatasetError, match=r"pipe\.json is a FIFO"):
        list(iter_array(tmp_path / "pipe.json"))


def test_an_element_over_the_bound_is_refused_while_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(jsonstream, "MAX_ELEMENT_CHARS", 1000)
    path = tmp_path / "big.json"
    path.write_text('{"info": "' + "a" * 5000 + '", "images": []}')
    with pytest.raises(DatasetError, match="an element longer than 1000 characters"):
        read_members(path, {"images": lambda i, e: None}, chunk_chars=100)
    path.write_text('{"info": "' + "a" * 500 + '", "images": [' + "1" * 5000 + "]}")
    with pytest.raises(DatasetError, match=r"too many digits|longer than 1000"):
        read_members(path, {"images": lambda i, e: None}, chunk_chars=100)
    path.write_text('{"images": [' + "1" * 5000 + "]}")
    monkeypatch.setattr(jsonstream, "MAX_ELEMENT_CHARS", 1 << 20)
    with pytest.raises(DatasetError, match="an integer with too many digits"):
        read_members(path, {"images": lambda i, e: None})
