import numpy as np
import pytest

from layout2im.evaluation.inception_score import inception_score, softmax


def test_uniform_logits_score_one():
    mean, std = inception_score(np.zeros((100, 1008)), splits=10)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("classes", [2, 10, 1008])
def test_confident_balanced_logits_score_the_number_of_classes(classes):
    labels = np.arange(classes * 10) % classes
    logits = np.full((len(labels), classes), -1e4)
    logits[np.arange(len(labels)), labels] = 1e4
    mean, std = inception_score(logits, splits=10)
    assert mean == pytest.approx(classes, rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-6)


def test_confident_but_collapsed_logits_score_one_and_known_mixture():
    logits = np.full((50, 5), -1e4)
    logits[:, 2] = 1e4
    assert inception_score(logits, splits=5)[0] == pytest.approx(1.0)
    # half the images confidently class 0, half uniform over 2 classes, one split:
    # p(y) = (3/4, 1/4); KL = 1/2 [log(4/3)] + 1/2 [1/2 log(2/3) + 1/2 log(2)]
    logits = np.concatenate([np.tile([1e4, -1e4], (10, 1)), np.zeros((10, 2))])
    expected = np.exp(0.5 * np.log(4 / 3) + 0.25 * np.log(2 / 3) + 0.25 * np.log(2))
    assert inception_score(logits, splits=1)[0] == pytest.approx(expected, rel=1e-9)


def test_splits_are_consecutive_parts_and_errors():
    good = np.full((9, 3), -1e4)
    good[np.arange(9), np.arange(9) % 3] = 1e4
    bad = np.zeros((9, 3))
    mean, std = inception_score(np.concatenate([good, bad]), splits=2)
    assert inception_score(good, 1)[0] == pytest.approx(3.0)
    assert mean == pytest.approx((3.0 + 1.0) / 2)  # part 1 scores 3, part 2 (uniform) 1
    assert std > 0
    with pytest.raises(ValueError, match="at least one image per split"):
        inception_score(np.zeros((5, 3)), splits=10)
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        inception_score(np.zeros(5))
    assert np.allclose(softmax(np.array([[1000.0, 1000.0]])), 0.5)
