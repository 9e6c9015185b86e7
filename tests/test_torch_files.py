"""Reading a user's torch.save file (torch_files.load_weights_only): pickled code, a pickle
protocol the weights-only reader does not read, and damaged files are told apart, in the
wordings of the installed torch and of the versions since 2.6."""

import os
import pickle

import pytest
import torch

from layout2im.errors import Layout2ImError
from layout2im.torch_files import load_weights_only


class _Refused(Layout2ImError):
    pass


class _Code:
    def __reduce__(self):
        return (os.getcwd, ())


def _message(path) -> str:
    with pytest.raises(_Refused) as err:
        load_weights_only(path, "checkpoint", _Refused)
    return str(err.value)


def test_pickled_code_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.save({"a": _Code()}, "code.pt")
    assert _message("code.pt") == (
        "checkpoint code.pt needs Python code unpickled to load (posix.getcwd); "
        "only plain tensors, numbers, strings and containers are read (torch.load with "
        "weights_only=True)"
    )


@pytest.mark.parametrize("protocol", [4, 5])
def test_a_later_pickle_protocol_is_named_not_called_damaged(tmp_path, recwarn, protocol):
    torch.save({"a": torch.zeros(2)}, tmp_path / "p.pt", pickle_protocol=protocol)
    message = _message(tmp_path / "p.pt")
    assert "is a pickle of protocol 4 or later (its FRAME instruction)" in message
    assert "pickle_protocol=2" in message and "damaged" not in message
    assert not [w for w in recwarn if "pickle protocol" in str(w.message)]  # no stray warning


def test_damaged_files_are_called_damaged(tmp_path):
    (tmp_path / "junk.pt").write_bytes(pickle.dumps([1, 2], protocol=2)[:-3] + b"garbage")
    assert _message(tmp_path / "junk.pt").endswith(
        "is unreadable (damaged, or not a file torch.save wrote)"
    )


@pytest.mark.parametrize(
    ("text", "name"),
    [  # torch 2.13's wordings of its other refusals of code
        ("Trying to call reduce for unrecognized function <built-in function eval>", "<built-in"),
        (
            "Can only create new object for nn.Parameter or classes allowlisted via "
            "`add_safe_globals` but got <class 'mod.Evil'>",
            "<class 'mod.Evil'>",
        ),
        (
            "Can only build Tensor, Parameter, OrderedDict or types allowlisted via "
            "`add_safe_globals`, but got <class 'mod.Evil'>",
            "<class 'mod.Evil'>",
        ),
        ("``torch.nested`` and ``torch._dynamo`` must be imported to load NJTs", "torch._dynamo"),
    ],
)
def test_every_refusal_of_code_is_named_as_such(tmp_path, monkeypatch, text, name):
    def refuse(*args, **kwargs):
        raise pickle.UnpicklingError(f"Weights only load failed. {text}\n Check the docs.")

    (tmp_path / "c.pt").write_bytes(b"x")
    monkeypatch.setattr(torch, "load", refuse)
    message = _message(tmp_path / "c.pt")
    assert "needs Python code unpickled to load (" in message and name in message


@pytest.mark.parametrize("data", [b"junk", b"\x80\x02j", b"\x80\x02}q\x00h\x05"])
def test_a_pickle_that_breaks_the_reader_is_unreadable_not_a_traceback(tmp_path, data):
    (tmp_path / "bad.pt").write_bytes(data)  # 'j' is LONG_BINGET without its 4 bytes
    assert " is unreadable " in _message(tmp_path / "bad.pt")
