"""Size options are bounded (model.image_size's 8 to 1024) before any allocation or folder."""

import pytest

from layout2im.cli import main


@pytest.mark.parametrize("size", ["6000", "100000000", "2"])
def test_export_shapes_refuses_sizes_out_of_bounds_and_writes_nothing(tmp_path, capsys, size):
    out = tmp_path / "coco"
    assert main(["data", "export-shapes", "--out", str(out), "--images", "2", "--size", size]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "image_size must be from" in err and size in err
    assert not (out / "images").exists() and not (out / "annotations").exists()


def test_evaluate_images_refuses_a_huge_image_size_before_reading(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    argv = ["evaluate", "images", str(folder), "--protocol", "custom", "--config", "shapes32"]
    assert main([*argv, "--image-size", "100000000", "--out", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "image size must be from 8 to 1024" in err, err
    assert "Traceback" not in err and not (tmp_path / "r.json").exists()
