"""``layout2im data inspect``: filter counts, split sizes and statistics, as text and JSON."""

import json

from layout2im.cli import main
from tests.data import fixtures as fx


def coco_args(root):
    return ["data", "inspect", "--config", "paper-coco64", "--root", str(root),
            "--set", f"data.cache_dir={root / 'cache'}"]  # fmt: skip


def test_inspect_coco_fixture_text(tmp_path, capsys):
    root = fx.write_coco_stuff(tmp_path / "coco")
    assert main(coco_args(root)) == 0
    out = capsys.readouterr().out
    assert f"dataset coco under {root}" in out
    for line in [
        "filters of train:",
        "  images            7 in the source, 4 kept",
        "                   -1  no stuff annotations",
        "                   -1  fewer than 3 objects",
        "                   -1  more than 8 objects",
        "  objects          33 in the source, 13 kept",
        "                   -2  category 'other'",
        "                   -1  box area <= 0.02 of image",
        "                   -1  zero-area box (width or height <= 0)",
        "                   -1  box outside the image",
        "                   -1  image_id not in the images list",
        "                  -14  in dropped images",
        "                    1  clipped to the image (kept)",
        "filters of val:",
        "split sizes (images): train 4, val 2, samples 2",
        "[train] 4 images, 13 objects; vocabulary 184 rows, 6 categories",
        "      3         3   75.0%  ##############################",
        "      4         1   25.0%  ##########",
        "  top 5 categories: person 4, bicycle 4, banner 2, blanket 2, airplane 1",
    ]:
        assert line in out.splitlines(), line
    assert "(built now)" in out
    assert main(coco_args(root)) == 0
    assert "(read from the cache)" in capsys.readouterr().out


def test_inspect_json_and_check_images(tmp_path, capsys):
    root = fx.write_coco_stuff(tmp_path / "coco")
    (root / "train2017" / "gray.png").write_bytes(b"broken")
    assert main([*coco_args(root), "--json", "--check-images"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["filters"]["train"]["images"] == fx.EXPECTED["images"]
    assert report["filters"]["val"]["images"]["kept"] == 2
    train = report["splits"]["train"]
    assert train["images"] == 4 and train["objects"] == 13
    assert train["objects_per_image"] == {"3": 3, "4": 1}
    assert train["bad_images"]["bad"] == 1 and "gray.png" in train["bad_images"]["examples"][0]
    assert report["splits"]["val"]["bad_images"] == {"checked": 2, "bad": 0, "examples": []}


def test_inspect_shapes(capsys):
    args = ["data", "inspect", "--config", "shapes32", "--set", "data.num_images=30"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "split sizes (images): train 30, val 64, test 64, samples 64" in out
    assert "[train] 30 images; vocabulary 10 rows, 10 categories" in out
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    hist = report["splits"]["train"]["objects_per_image"]
    assert sum(hist.values()) == 30 and set(map(int, hist)) <= set(range(3, 9))


def test_inspect_errors_are_one_line(tmp_path, capsys):
    assert main(["data", "inspect", "--config", "paper-coco64", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: COCO instances file not found: ") and err.count("\n") == 1
