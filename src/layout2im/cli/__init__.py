"""The ``layout2im`` command line: one module per command group (``train``, ``generate``,
``serve``, ``evaluate``, ``data``, ``convert``), each adding its parsers
(``add_parsers(subparsers)``) and the ``cmd_*`` functions they run; :mod:`.main` builds the
parser and maps every :class:`~layout2im.errors.Layout2ImError` to one ``error:`` line and exit
status 2. Commands parse, call the library module that owns the job and print.

The OpenMP wait policy is set here, before the command modules import torch: libgomp reads it
once, when torch loads (see :mod:`layout2im.threads`).
"""

from ..threads import prefer_passive_wait

prefer_passive_wait()

from .main import build_parser, main  # noqa: E402  (after the wait policy, see above)

__all__ = ["build_parser", "main"]
