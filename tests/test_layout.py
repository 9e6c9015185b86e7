import json

import pytest
import torch

from layout2im.layout import LayoutError, load_layout_file, parse_layout


def _obj(**kw):
    base = {"category": "circle", "box": [0.1, 0.1, 0.5, 0.5]}
    base.update(kw)
    return base


def test_valid_layout(vocab):
    layout = parse_layout(
        {"objects": [_obj(seed=3), _obj(category="star", z=[0.0] * 4)]}, vocab, z_dim=4
    )
    assert [o.category for o in layout.objects] == ["circle", "star"]
    assert layout.objects[0].seed == 3 and layout.objects[1].z == [0.0] * 4
    assert layout.labels(vocab).tolist() == [vocab.index("circle"), vocab.index("star")]
    assert layout.boxes().shape == (2, 4)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"objects": []}, '"objects" is empty'),
        ([], '"objects" is empty'),
        ("text", "must be a JSON object"),
        ({"items": []}, "unknown top-level field 'items'"),
        (
            {"objects": [_obj(category="cirle")]},
            "objects[0].category: unknown category 'cirle'; did you mean 'circle'",
        ),
        ({"objects": [_obj(category="zebra")]}, "valid categories: circle, square"),
        ({"objects": [_obj(category=3)]}, "objects[0].category: must be a string"),
        (
            {"objects": [_obj(), _obj(box=[0.5, 0.1, 0.3, 0.6])]},
            "objects[1].box: x1 (0.3) must be greater than x0 (0.5)",
        ),
        (
            {"objects": [_obj(box=[0.1, 0.6, 0.3, 0.6])]},
            "objects[0].box: y1 (0.6) must be greater than y0 (0.6)",
        ),
        (
            {"objects": [_obj(box=[-0.1, 0.1, 0.3, 0.6])]},
            "objects[0].box: x0 (-0.1) is outside [0, 1]",
        ),
        ({"objects": [_obj(box=[0.1, 0.1, 1.3, 0.6])]}, "x1 (1.3) is outside [0, 1]"),
        ({"objects": [_obj(box=[0.1, 0.1, 0.3])]}, "objects[0].box: must be a list of 4 numbers"),
        ({"objects": [_obj(box=[0.1, "a", 0.3, 0.4])]}, "must hold 4 finite numbers"),
        ({"objects": [_obj(box=[0.1, float("nan"), 0.3, 0.4])]}, "must hold 4 finite numbers"),
        ({"objects": [{"box": [0, 0, 1, 1]}]}, "objects[0].category: missing"),
        ({"objects": [{"category": "circle"}]}, "objects[0].box: missing"),
        ({"objects": [_obj(colour="red")]}, "objects[0].colour: unknown field"),
        ({"objects": [_obj(seed=-1)]}, "objects[0].seed: must be a non-negative integer"),
        ({"objects": [_obj(seed=1.5)]}, "objects[0].seed: must be a non-negative integer"),
        ({"objects": [_obj(z=[0.0] * 3)]}, "objects[0].z: has 3 values; this model's z_dim is 4"),
        ({"objects": [_obj(z="abc")]}, "objects[0].z: must be a list of finite numbers"),
        ({"objects": [_obj(z=[0.0] * 4, seed=1)]}, "objects[0]: give either seed or z"),
        ({"objects": [_obj()] * 9}, "has 9 objects; this model takes at most 8"),
        ({"objects": ["circle"]}, "objects[0] must be an object"),
    ],
)
def test_bad_layouts_name_the_object_and_field(vocab, data, message):
    with pytest.raises(LayoutError) as info:
        parse_layout(data, vocab, z_dim=4, max_objects=8)
    assert message in str(info.value)


def test_layout_file_errors(tmp_path, vocab):
    with pytest.raises(LayoutError, match="layout file not found"):
        load_layout_file(tmp_path / "missing.json", vocab)
    bad = tmp_path / "bad.json"
    bad.write_text('{"objects": [')
    with pytest.raises(LayoutError, match=r"bad.json: malformed JSON at line 1"):
        load_layout_file(bad, vocab)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"objects": [_obj()]}))
    assert len(load_layout_file(good, vocab).objects) == 1


def test_layout_batch_padding_flat_and_scatter(layout_batch):
    assert layout_batch.labels.shape == (2, 3)
    assert layout_batch.mask.tolist() == [[True, True, True], [True, False, False]]
    flat = layout_batch.flat()
    assert flat.labels.tolist() == [0, 3, 5, 2]
    assert flat.obj_to_img.tolist() == [0, 0, 0, 1]
    values = torch.arange(4.0)
    assert layout_batch.scatter(values).tolist() == [[0.0, 1.0, 2.0], [3.0, 0.0, 0.0]]


def test_shuffle_permutes_real_objects_only(layout_batch):
    g = torch.Generator().manual_seed(0)
    seen = set()
    for _ in range(20):
        shuffled, order = layout_batch.shuffled(g)
        assert shuffled.mask.tolist() == layout_batch.mask.tolist()
        assert sorted(shuffled.labels[0].tolist()) == [0, 3, 5]
        assert shuffled.labels[1].tolist() == [2, 0, 0]
        for j in range(3):  # boxes travel with their labels
            k = order[0, j]
            assert torch.equal(shuffled.boxes[0, j], layout_batch.boxes[0, k])
        seen.add(tuple(shuffled.labels[0].tolist()))
    assert len(seen) > 1


_STYLE = {"image": "ref.png", "box": [0.1, 0.1, 0.9, 0.9]}


@pytest.mark.parametrize(
    "objects, message",
    [
        ([_obj(id=True)], "objects[0].id: must be a string or a non-negative integer"),
        ([_obj(id=-2)], "objects[0].id: must be a string or a non-negative integer"),
        ([_obj(id="")], "objects[0].id: must be 1 to 100 characters long"),
        ([_obj(id="x" * 101)], "objects[0].id: must be 1 to 100 characters long"),
        ([_obj(id="a"), _obj(id="a")], "objects[1].id: 'a' is already the id of objects[0]"),
        ([_obj(id=1), _obj()], "objects[0].id: 1 is the index of objects[1], which has no id"),
        ([_obj(), _obj(id=0)], "objects[1].id: 0 is the index of objects[0], which has no id"),
        ([_obj(style="ref.png")], 'objects[0].style: must be an object {"image": ...'),
        ([_obj(style={"box": [0, 0, 1, 1]})], "objects[0].style.image: missing"),
        ([_obj(style={"image": "a.png"})], "objects[0].style.box: missing"),
        ([_obj(style={**_STYLE, "colour": 1})], "objects[0].style.colour: unknown field"),
        ([_obj(style={**_STYLE, "image": 5})], "objects[0].style.image: must be a file path"),
        ([_obj(style={**_STYLE, "image": " "})], "objects[0].style.image: is empty"),
        (
            [_obj(style={**_STYLE, "box": [0.2, 0.5, 0.9, 0.4]})],
            "objects[0].style.box: y1 (0.4) must be greater than y0 (0.5)",
        ),
        (
            [_obj(style={**_STYLE, "box": [0, 0, 1, 1.5]})],
            "objects[0].style.box: y1 (1.5) is outside [0, 1]",
        ),
        ([_obj(style=_STYLE, seed=3)], "objects[0].style: cannot be combined with seed"),
        ([_obj(style=_STYLE, z=[0.0] * 4)], "objects[0].style: cannot be combined with z"),
    ],
)
def test_bad_ids_and_styles_name_the_field(vocab, objects, message):
    with pytest.raises(LayoutError) as info:
        parse_layout({"objects": objects}, vocab, z_dim=4)
    assert message in str(info.value)
    assert info.value.field == message.split(":")[0].split(" ")[0]


def test_ids_and_styles_parse_and_round_trip(vocab):
    data = {
        "objects": [
            _obj(id="sun", style=_STYLE),
            _obj(id=7, category="star"),
            _obj(style={"image": b"\x89PNG...", "box": [0, 0, 1, 1]}),
        ]
    }
    layout = parse_layout(data, vocab, z_dim=4)
    assert layout.object_keys() == ["sun", 7, 2]
    assert layout.objects[0].style.image == "ref.png"
    assert layout.objects[0].style.box == (0.1, 0.1, 0.9, 0.9)
    again = parse_layout(layout.to_json(), vocab, z_dim=4)  # bytes become a data: URL
    assert again.objects[2].style.image.startswith("data:application/octet-stream;base64,")
    assert again.object_keys() == layout.object_keys()
    assert parse_layout(layout, vocab).objects[2].style.image == b"\x89PNG..."


def test_servers_can_refuse_style_file_paths(vocab):
    with pytest.raises(LayoutError, match=r"objects\[0\]\.style\.image: file paths are not"):
        parse_layout({"objects": [_obj(style=_STYLE)]}, vocab, allow_style_files=False)
    url = {"image": "data:image/png;base64,iVBORw0KGgo=", "box": [0, 0, 1, 1]}
    parse_layout({"objects": [_obj(style=url)]}, vocab, allow_style_files=False)


def test_style_paths_in_a_layout_file_are_relative_to_the_file(tmp_path, vocab):
    folder = tmp_path / "scenes"
    folder.mkdir()
    path = folder / "scene.json"
    path.write_text(json.dumps({"objects": [_obj(style=_STYLE)]}))
    layout = load_layout_file(path, vocab)
    assert layout.objects[0].style.image == str(folder / "ref.png")


# ----------------------------------------------------------------------------- fuzzing


@pytest.fixture(scope="module")
def tiny_pipe(tiny_model_dir):
    from layout2im.pipeline import Layout2ImPipeline

    return Layout2ImPipeline.from_pretrained(tiny_model_dir)


def test_any_parsed_json_is_refused_in_one_line_or_generates_finite_images(tiny_pipe):
    from hypothesis import HealthCheck, given, settings

    from tests import layout_fuzz as fz

    categories = tiny_pipe.vocab.categories
    seen = set()

    @settings(max_examples=150, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
    @given(fz.layouts(categories, tiny_pipe.config.z_dim, tiny_pipe.max_objects))
    def run(data):
        seen.add(fz.check_parse(tiny_pipe, data))

    run()
    assert seen == {"refused", "generated"}  # both outcomes were exercised


# ----------------------------------------------------------------------------- the schema


def test_every_problem_is_reported_in_one_error_in_order(vocab):
    data = {
        "objects": [
            _obj(),
            _obj(id="sun", category="qqq", box=[0.5, 0.1, 0.3, 0.6]),
            _obj(seed=-1, z="abc"),
            _obj(id="sun"),
        ]
    }
    with pytest.raises(LayoutError) as info:
        parse_layout(data, vocab, z_dim=4)
    problems = info.value.problems
    assert problems[0].startswith("objects[1].category (id 'sun'): unknown category 'qqq'")
    assert problems[1:] == [
        "objects[1].box (id 'sun'): x1 (0.3) must be greater than x0 (0.5)",
        "objects[2].seed: must be a non-negative integer, got -1",
        "objects[2].z: must be a list of finite numbers, got a string",
        "objects[3].id: 'sun' is already the id of objects[1]",
    ]
    assert str(info.value) == "; ".join(problems) and "\n" not in str(info.value)
    assert info.value.field == "objects[1].category"


def test_a_message_with_many_problems_stays_short(vocab):
    data = {"objects": [_obj(category=f"bad{k}", box=[1, 1, 0, 0]) for k in range(100)]}
    with pytest.raises(LayoutError) as info:
        parse_layout(data, vocab)
    assert len(info.value.problems) == 200
    assert len(str(info.value)) < 1700 and str(info.value).endswith("more problems")


@pytest.mark.parametrize(
    "obj, field",
    [
        (_obj(id="\ud800"), "objects[0].id"),
        (_obj(category="circ\udfffle"), "objects[0].category"),
        (_obj(style={**_STYLE, "image": "a\ud800.png"}), "objects[0].style.image"),
    ],
)
def test_lone_surrogates_are_refused(vocab, obj, field):
    with pytest.raises(LayoutError, match="lone surrogate") as info:
        parse_layout({"objects": [obj]}, vocab)
    assert info.value.field == field


def test_booleans_are_not_numbers(vocab):
    for obj, message in [
        (_obj(seed=True), "objects[0].seed: must be a non-negative integer, got True"),
        (_obj(box=[0, 0, True, 1]), "objects[0].box: must hold 4 finite numbers"),
        (_obj(z=[True, 0.0, 0.0, 0.0]), "objects[0].z[0]: must be a finite number, got True"),
        (_obj(id=False), "objects[0].id: must be a string or a non-negative integer"),
    ]:
        with pytest.raises(LayoutError) as info:
            parse_layout({"objects": [obj]}, vocab, z_dim=4)
        assert message in str(info.value)


def test_image_z_is_part_of_the_format(vocab):
    layout = parse_layout({"objects": [_obj()], "image_z": [0.5, -1]}, vocab)
    assert (
        layout.image_z == [0.5, -1.0] and parse_layout({"objects": [_obj()]}, vocab).image_z is None
    )
    assert parse_layout(layout.to_json(), vocab).image_z == [0.5, -1.0]
    with pytest.raises(LayoutError, match=r"^image_z\[1\]: must be a finite number, got 'x'"):
        parse_layout({"objects": [_obj()], "image_z": [0.5, "x"]}, vocab)
    with pytest.raises(LayoutError, match='a layout has only "objects" and "image_z"'):
        parse_layout({"objects": [_obj()], "image_zz": []}, vocab)


def test_the_json_schema_describes_the_format():
    from layout2im.layout import parse_box
    from layout2im.schema.layout import layout_json_schema

    schema = layout_json_schema()
    assert "$defs" not in json.dumps(schema) and "$ref" not in json.dumps(schema)
    obj = schema["properties"]["objects"]["items"]
    assert set(obj["properties"]) == {"category", "box", "seed", "z", "style", "id"}
    assert obj["required"] == ["category", "box"] and obj["additionalProperties"] is False
    assert obj["properties"]["box"]["minItems"] == 4
    assert set(schema["properties"]) == {"objects", "image_z"}
    assert parse_box("box", [0, 0, 1, 1]) == (0.0, 0.0, 1.0, 1.0)
    with pytest.raises(LayoutError, match=r"^box: x1 \(0.0\) must be greater"):
        parse_box("box", [0.5, 0, 0, 1])


def test_layout_files_go_through_the_bounded_reader(tmp_path, vocab):
    import os

    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)
    with pytest.raises(LayoutError, match="is a FIFO"):
        load_layout_file(fifo, vocab)
    deep = tmp_path / "deep.json"
    deep.write_text('{"objects": ' + "[" * 200 + "]" * 200 + "}")
    with pytest.raises(LayoutError, match="nested deeper than"):
        load_layout_file(deep, vocab)
    surrogate = tmp_path / "s.json"
    surrogate.write_text('{"objects": [{"category": "circle", "box": [0,0,1,1], "id": "\\ud800"}]}')
    with pytest.raises(LayoutError, match="lone surrogate"):
        load_layout_file(surrogate, vocab)
