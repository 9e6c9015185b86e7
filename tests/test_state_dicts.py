"""The one check of weights handed to a network (state_dicts): names, shapes, types and finite
values against the network's own state dict, every problem in one message."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from layout2im.errors import MAX_MESSAGE_CHARS, Layout2ImError
from layout2im.state_dicts import FLOAT_DTYPES, check_state, state_problems, tensor_problem

DTYPES = [*FLOAT_DTYPES, torch.bool, torch.uint8, torch.int32, torch.int64, torch.complex64]


class _Refused(Layout2ImError):
    pass


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(
    dtype=st.sampled_from(DTYPES),
    values=st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=16), min_size=1, max_size=8
    ),
)
def test_a_weight_is_accepted_exactly_when_it_is_floating_point_and_finite(dtype, values):
    tensor = torch.tensor(values, dtype=torch.float64).to(dtype)
    problem = tensor_problem(tensor, torch.float32, (len(values),))
    fits = dtype in FLOAT_DTYPES and bool(torch.isfinite(tensor).all())
    assert (problem is None) == fits, problem


@pytest.mark.parametrize("dtype", [torch.int32, torch.float32, torch.bool])
def test_an_integer_buffer_takes_exactly_its_own_type(dtype):
    problem = tensor_problem(torch.tensor(3).to(dtype), torch.int64, ())
    assert problem == (None if dtype == torch.int64 else f"is {str(dtype)[6:]}, expected int64")


def test_names_shapes_and_values_are_all_reported():
    reference = {"a": torch.zeros(2, 3), "b": torch.zeros(4), "n": torch.tensor(0)}
    state = {"a": torch.zeros(6), "b": torch.tensor([0, float("nan"), float("inf"), 1]), "x": 1}
    assert state_problems(state, reference) == [
        "missing ['n']",
        "unexpected ['x']",
        "'a' has shape (6,), the network's is (2, 3)",
        "'b' holds 1 NaN and 1 infinite values (of 4); weights must be finite",
    ]


def test_many_problems_are_one_bounded_line_with_a_count():
    reference = {f"layer{i}.weight": torch.zeros(2) for i in range(500)}
    state = {k: torch.zeros(3) for k in reference}
    with pytest.raises(_Refused) as err:
        check_state(state, reference, "m.safetensors", _Refused)
    message = str(err.value)
    assert message.startswith("m.safetensors: 'layer0.weight' has shape (3,)")
    assert "\n" not in message and len(message) < MAX_MESSAGE_CHARS + 200
    assert message.endswith(" more problems")


def test_long_names_are_quoted_short():
    problems = state_problems({"k" * 5000: torch.zeros(1)}, {})
    assert len(problems) == 1 and len(problems[0]) < 100
