import pytest
import torch
import torch.nn.functional as F

from layout2im.models.fuser import ObjectsFuser
from layout2im.models.layers import ConditionalBatchNorm2d, ConvLSTMCell, box_masks, crop_boxes


def test_conditional_bn_initialisation():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(num_features=256, num_classes=184)
    gamma, beta = cbn.embed.weight[:, :256], cbn.embed.weight[:, 256:]
    assert abs(gamma.mean().item() - 1.0) < 0.002
    assert abs(gamma.std().item() - 0.02) < 0.002
    assert torch.count_nonzero(beta) == 0
    assert not cbn.bn.affine


def test_conditional_bn_applies_per_class_scale_and_shift():
    cbn = ConditionalBatchNorm2d(num_features=2, num_classes=3)
    with torch.no_grad():
        cbn.embed.weight.copy_(
            torch.tensor([[1.0, 1.0, 0.0, 0.0], [2.0, 3.0, 0.5, -1.0], [1, 1, 0, 0]])
        )
    x = torch.randn(4, 2, 3, 3)
    y = torch.tensor([0, 1, 1, 0])
    normed = F.batch_norm(x, None, None, training=True)
    out = cbn(x, y)
    torch.testing.assert_close(out[0], normed[0])
    expected = (
        normed[1] * torch.tensor([2.0, 3.0])[:, None, None]
        + torch.tensor([0.5, -1.0])[:, None, None]
    )
    torch.testing.assert_close(out[1], expected)


def test_crop_boxes_hand_computed():
    image = torch.arange(9, dtype=torch.float32).view(1, 1, 3, 3)
    boxes = torch.tensor([[0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 0.5, 0.5], [0.25, 0.25, 0.75, 0.75]])
    crops = crop_boxes(image, boxes[:1], torch.tensor([0]), 3)
    torch.testing.assert_close(crops[0, 0], image[0, 0])  # align_corners=True: the identity
    crops = crop_boxes(image, boxes[1:], torch.tensor([0, 0]), 2)
    torch.testing.assert_close(crops[0, 0], torch.tensor([[0.0, 1.0], [3.0, 4.0]]))
    # sample points at pixel coordinates 0.5 and 1.5: bilinear means of 2x2 neighbourhoods
    torch.testing.assert_close(crops[1, 0], torch.tensor([[2.0, 3.0], [5.0, 6.0]]))


def test_crop_boxes_reads_the_right_image_and_is_differentiable():
    images = torch.stack([torch.zeros(3, 8, 8), torch.ones(3, 8, 8)]).requires_grad_()
    boxes = torch.tensor([[0.1, 0.1, 0.6, 0.6], [0.2, 0.3, 0.9, 0.8]])
    crops = crop_boxes(images, boxes, torch.tensor([1, 0]), 4)
    assert crops.shape == (2, 3, 4, 4)
    assert torch.all(crops[0] == 1) and torch.all(crops[1] == 0)
    crops.sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_box_masks_follow_the_original_rounding():
    boxes = torch.tensor([[0.1, 0.2, 0.5, 0.9], [0.5, 0.5, 0.51, 0.51], [0.99, 0.99, 1.0, 1.0]])
    masks = box_masks(boxes, 10, 10)
    assert masks.shape == (3, 1, 10, 10)
    expected = torch.zeros(10, 10)
    expected[2:9, 1:5] = 1  # rows round(2)..round(9), columns round(1)..round(5)
    torch.testing.assert_close(masks[0, 0], expected)
    assert masks[1].sum() == 1 and masks[1, 0, 5, 5] == 1  # at least one pixel
    assert masks[2].sum() == 1 and masks[2, 0, 9, 9] == 1  # far edge keeps its last pixel


def test_convlstm_cell_matches_the_lstm_equations():
    torch.manual_seed(0)
    cell = ConvLSTMCell(input_dim=3, hidden_dim=2, kernel_size=3)
    x, h, c = torch.randn(2, 3, 5, 5), torch.randn(2, 2, 5, 5), torch.randn(2, 2, 5, 5)
    gates = F.conv2d(torch.cat([x, h], 1), cell.conv.weight, cell.conv.bias, padding=1)
    i, f, o, g = gates[:, 0:2], gates[:, 2:4], gates[:, 4:6], gates[:, 6:8]
    c_ref = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_ref = torch.sigmoid(o) * torch.tanh(c_ref)
    h_out, c_out = cell(x, (h, c))
    torch.testing.assert_close(h_out, h_ref)
    torch.testing.assert_close(c_out, c_ref)


def _step_by_step(fuser: ObjectsFuser, seq: torch.Tensor) -> torch.Tensor:
    """A stacked ConvLSTM run one time step at a time through all layers, from zero state."""
    states = [cell.zero_state(1, seq.shape[2], seq.shape[3], seq) for cell in fuser.cells]
    for t in range(seq.shape[0]):
        x = seq[t : t + 1]
        for k, cell in enumerate(fuser.cells):
            states[k] = cell(x, states[k])
            x = states[k][0]
    return x


def test_fuser_batched_and_reference_match_a_step_by_step_stack():
    torch.manual_seed(0)
    fuser = ObjectsFuser(input_dim=6, hidden=[8, 4, 4], kernel_size=3)
    counts = [3, 1, 5]
    mask = torch.zeros(3, 5, dtype=torch.bool)
    for i, n in enumerate(counts):
        mask[i, :n] = True
    feats = torch.randn(sum(counts), 6, 4, 4)
    obj_to_img = torch.repeat_interleave(torch.arange(3), torch.tensor(counts))
    batched = fuser(feats, mask)
    reference = fuser.forward_reference(feats, obj_to_img, 3)
    assert batched.shape == (3, 4, 4, 4)
    torch.testing.assert_close(batched, reference, rtol=1e-5, atol=1e-6)
    for i in range(3):
        expected = _step_by_step(fuser, feats[obj_to_img == i])
        torch.testing.assert_close(batched[i : i + 1], expected, rtol=1e-5, atol=1e-6)


def test_fuser_depends_on_object_order():
    torch.manual_seed(0)
    fuser = ObjectsFuser(input_dim=2, hidden=[4], kernel_size=3)
    feats = torch.randn(3, 2, 4, 4)
    mask = torch.ones(1, 3, dtype=torch.bool)
    assert not torch.allclose(fuser(feats, mask), fuser(feats.flip(0), mask))


@pytest.mark.parametrize("size", [3, 16])
def test_crop_output_size(size):
    crops = crop_boxes(
        torch.randn(2, 3, 8, 8), torch.tensor([[0.0, 0.0, 0.5, 0.5]]), torch.tensor([1]), size
    )
    assert crops.shape == (1, 3, size, size)
