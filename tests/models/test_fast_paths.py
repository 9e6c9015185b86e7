"""Every fast path against the straightforward computation it replaces.

Tolerances, float32: outputs rtol 1e-5 / atol 1e-5, gradients and BatchNorm running
statistics rtol 1e-4 / atol 1e-5 (the two computations sum in different orders). Where the
object encoder is involved the float32 fast path is compared with the reference computed in
float64: the float32 reference is itself off by up to 3e-4 relative in some weight gradients
(sums over every pixel of every composer map), more than the fast path is. In float64 both
computations agree to rtol 1e-10 (outputs) and 1e-7 (gradients).
"""

from __future__ import annotations

import copy

import pytest
import torch

from layout2im.layout import LayoutBatch
from layout2im.models import ImageDiscriminator, Layout2ImGenerator, ObjectDiscriminator
from layout2im.models.computation import FAST_PATHS, parse_fast_paths, use_fast_paths
from layout2im.models.discriminators import pooled_kernel
from layout2im.models.fuser import ObjectsFuser
from layout2im.models.layers import box_masks
from layout2im.models.object_encoder import ObjectEncoder

from ..conftest import tiny_model_config

OUT = dict(rtol=1e-5, atol=1e-5)
GRAD = dict(rtol=1e-4, atol=1e-5)
EXACT = dict(rtol=1e-10, atol=1e-12)
EXACT_GRAD = dict(rtol=1e-7, atol=1e-9)

# Boxes at the edges of the image, a one-pixel box, the whole image, overlapping ones.
EDGE_BOXES = torch.tensor(
    [
        [0.0, 0.0, 1.0, 1.0],
        [0.5, 0.5, 1.0, 1.0],
        [0.0, 0.7, 0.3, 1.0],
        [0.4, 0.4, 0.41, 0.41],
        [0.1, 0.2, 0.6, 0.9],
        [0.93, 0.0, 1.0, 0.06],
        [0.2, 0.3, 0.45, 0.5],
    ]
)


def _encoder_outputs(encoder, vectors, boxes, labels, size, analytic: bool):
    """Features and gradients (vectors, then every parameter) of a fixed weighted sum."""
    vectors = vectors.clone().requires_grad_()
    if analytic:
        feats = encoder.forward_from_vectors(vectors, boxes, labels, size)
    else:  # the original: the composer's full maps through every layer
        maps = vectors[:, :, None, None] * box_masks(boxes, size, size).to(vectors.dtype)
        feats = encoder(maps, labels)
    weights = torch.linspace(-1, 1, feats.numel(), dtype=feats.dtype).view_as(feats)
    grads = torch.autograd.grad((feats * weights).sum(), [vectors, *encoder.parameters()])
    return feats, grads


@pytest.mark.parametrize("mode", ["train", "eval", "cumulative-momentum"])
def test_analytic_object_encoder_matches_the_map_computation(mode):
    torch.manual_seed(0)
    size, n = 16, len(EDGE_BOXES)
    reference = ObjectEncoder(6, [4, 8, 8], num_classes=5)
    if mode == "cumulative-momentum":
        for norm in reference.norms:
            norm.bn.momentum = None
    with torch.no_grad():  # non-trivial statistics, scales and shifts
        for norm in reference.norms:
            norm.bn.running_mean.normal_(0.0, 0.5)
            norm.bn.running_var.uniform_(0.5, 2.0)
            norm.embed.weight.normal_(0.5, 0.5)
    reference.train(mode != "eval")
    fast = copy.deepcopy(reference)
    reference.double()  # the ground truth
    vectors = torch.randn(n, 6)
    labels = torch.randint(0, 5, (n,))
    for _ in range(2):  # twice: the running statistics are updated from updated values
        out_ref, grads_ref = _encoder_outputs(
            reference, vectors.double(), EDGE_BOXES.double(), labels, size, False
        )
        out_fast, grads_fast = _encoder_outputs(fast, vectors, EDGE_BOXES, labels, size, True)
        torch.testing.assert_close(out_fast, out_ref.float(), **OUT)
        for a, b in zip(grads_fast, grads_ref, strict=True):
            torch.testing.assert_close(a, b.float(), **GRAD)
    for (name, a), b in zip(fast.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(a, b.to(a.dtype), **GRAD, msg=name)


def test_analytic_object_encoder_is_exact_at_the_paper_widths_in_float64():
    torch.manual_seed(0)
    size = 32
    reference = ObjectEncoder(128, [64, 128, 256, 512], num_classes=184).double().train()
    fast = copy.deepcopy(reference)
    g = torch.Generator().manual_seed(1)
    boxes = torch.cat([EDGE_BOXES, _random_boxes(9, g)]).double()
    vectors = torch.randn(len(boxes), 128, dtype=torch.float64)
    labels = torch.randint(0, 184, (len(boxes),))
    out_ref, grads_ref = _encoder_outputs(reference, vectors, boxes, labels, size, False)
    out_fast, grads_fast = _encoder_outputs(fast, vectors, boxes, labels, size, True)
    torch.testing.assert_close(out_fast, out_ref, **EXACT)
    for a, b in zip(grads_fast, grads_ref, strict=True):
        torch.testing.assert_close(a, b, **EXACT_GRAD)
    for (name, a), b in zip(fast.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(a, b, **EXACT, msg=name)


def test_analytic_path_falls_back_to_maps_for_sync_batchnorm():
    encoder = ObjectEncoder(6, [4, 8], num_classes=5)
    assert encoder._analytic_applies()
    converted = torch.nn.SyncBatchNorm.convert_sync_batchnorm(encoder)
    assert not converted._analytic_applies()


def _random_boxes(n: int, g: torch.Generator) -> torch.Tensor:
    size = 0.05 + 0.6 * torch.rand(n, 2, generator=g)
    corner = torch.rand(n, 2, generator=g) * (1 - size)
    return torch.cat([corner, corner + size], dim=1)


@pytest.mark.parametrize("network", ["image", "object"])
def test_pooled_convolutions_match_convolution_then_pooling(network):
    torch.manual_seed(0)
    if network == "image":  # 32 -> 16 -> 8 -> 4 -> 2: fused blocks and an unfused last one
        reference = ImageDiscriminator([4, 8, 8, 16])
        x = torch.randn(3, 3, 32, 32)
    else:
        reference = ObjectDiscriminator([4, 8, 16], num_classes=5)
        x = torch.randn(5, 3, 16, 16)
    reference.computation = "reference"
    fast = copy.deepcopy(reference)
    fast.computation = "fast"
    outputs = []
    for d in (fast, reference):
        xi = x.clone().requires_grad_()
        out = d(xi)
        out = out if isinstance(out, tuple) else (out,)
        loss = sum((o * torch.linspace(-1, 1, o.numel()).view_as(o)).sum() for o in out)
        outputs.append((out, torch.autograd.grad(loss, [xi, *d.parameters()])))
    (out_fast, grads_fast), (out_ref, grads_ref) = outputs
    for a, b in zip(out_fast, out_ref, strict=True):
        torch.testing.assert_close(a, b, **OUT)
    for a, b in zip(grads_fast, grads_ref, strict=True):
        torch.testing.assert_close(a, b, **GRAD)
    # one spectral-norm power iteration per convolution either way
    for (name, a), b in zip(fast.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(a, b, **OUT, msg=name)


def test_pooled_kernel_is_the_kernel_convolved_with_the_averaging_box():
    weight = torch.randn(3, 2, 3, 3, dtype=torch.float64)
    x = torch.randn(2, 2, 10, 10, dtype=torch.float64)
    two_steps = torch.nn.functional.avg_pool2d(torch.nn.functional.conv2d(x, weight, padding=1), 2)
    one = torch.nn.functional.conv2d(x, pooled_kernel(weight), stride=2, padding=1)
    torch.testing.assert_close(one, two_steps, **EXACT)


def test_batched_fuser_gradients_match_the_image_by_image_computation():
    torch.manual_seed(0)
    fuser = ObjectsFuser(input_dim=6, hidden=[8, 4], kernel_size=3)
    counts = [2, 4, 1, 4]
    mask = torch.zeros(4, 4, dtype=torch.bool)
    for i, n in enumerate(counts):
        mask[i, :n] = True
    obj_to_img = torch.repeat_interleave(torch.arange(4), torch.tensor(counts))
    feats = torch.randn(sum(counts), 6, 5, 5)
    grads = []
    for run in (lambda f: fuser(f, mask), lambda f: fuser.forward_reference(f, obj_to_img, 4)):
        f = feats.clone().requires_grad_()
        out = run(f)
        loss = (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum()
        grads.append(torch.autograd.grad(loss, [f, *fuser.parameters()]))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, **GRAD)


def test_batched_fuser_gives_images_without_objects_the_zero_state():
    torch.manual_seed(0)
    fuser = ObjectsFuser(input_dim=3, hidden=[4], kernel_size=3)
    feats = torch.randn(2, 3, 4, 4)
    mask = torch.tensor([[True, True], [False, False]])
    out = fuser(feats, mask)
    assert torch.equal(out[1], torch.zeros(4, 4, 4))
    torch.testing.assert_close(out[:1], fuser(feats, mask[:1]), **OUT)
    assert fuser(feats[:0], mask[:, :0]).shape == (2, 4, 4, 4)


GENERATOR_PATHS = [
    {"object_vectors"},
    {"object_vectors", "analytic_object_encoder"},
    {"batched_fuser"},
    "fast",
]


@pytest.mark.parametrize("paths", GENERATOR_PATHS, ids=str)
def test_generator_fast_paths_match_the_reference_in_training(paths):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    config = tiny_model_config()
    reference = Layout2ImGenerator(config).train()
    reference.computation = "reference"
    fast = copy.deepcopy(reference)
    fast.computation = paths
    reference.double()  # the ground truth (see the module docstring)
    labels = [torch.randint(0, config.num_classes, (k,), generator=g) for k in (3, 1, 4)]
    boxes = [EDGE_BOXES[:3], EDGE_BOXES[3:4], _random_boxes(4, g)]
    images = torch.randn(3, 3, 16, 16, generator=g)
    z = torch.randn(sum(len(x) for x in labels), config.z_dim, generator=g)
    results = []
    for net, dtype in ((fast, torch.float32), (reference, torch.float64)):
        layout = LayoutBatch.from_lists(labels, [b.to(dtype) for b in boxes])
        out = net(images.to(dtype), layout, z.to(dtype), generator=torch.Generator().manual_seed(1))
        loss = out.img_rec.abs().mean() + out.img_rand.square().mean() + out.mu_rand.sum()
        results.append((out, torch.autograd.grad(loss, list(net.parameters()))))
    (out_fast, grads_fast), (out_ref, grads_ref) = results
    for name in ("img_rec", "img_rand", "crops_rec", "crops_rand", "mu", "logvar", "mu_rand"):
        torch.testing.assert_close(getattr(out_fast, name), getattr(out_ref, name).float(), **OUT)
    for a, b in zip(grads_fast, grads_ref, strict=True):
        torch.testing.assert_close(a, b.float(), **GRAD)
    for (name, a), b in zip(fast.state_dict().items(), reference.state_dict().values()):
        torch.testing.assert_close(a, b.to(a.dtype), **GRAD, msg=name)


def test_computation_names_round_trip_and_reject_unknown_names():
    g = Layout2ImGenerator(tiny_model_config())
    assert g.computation == "fast"
    assert g.object_encoder.fast_paths == {"analytic_object_encoder"}
    g.computation = "reference"
    assert g.computation == "reference" and not g.object_encoder.fast_paths
    g.computation = ["batched_fuser"]
    assert g.computation == "custom" and g.fast_paths == {"batched_fuser"}
    assert parse_fast_paths("fast") == set(FAST_PATHS)
    with pytest.raises(ValueError, match="unknown fast paths"):
        use_fast_paths(g, ["warp_drive"])
    with pytest.raises(ValueError, match="must be 'fast', 'reference'"):
        g.computation = "quick"
