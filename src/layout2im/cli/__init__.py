"""The ``layout2im`` command line: one module per command group (``train``, ``generate``,
``serve``, ``evaluate``, ``data``, ``convert``), each adding its parsers
(``add_parsers(subparsers)``) and the ``cmd_*`` functions they run; :mod:`.main` builds the
parser and maps every :class:`~layout2im.errors.Layout2ImError` to one ``error:`` line and exit
status 2. Commands parse, call the library module that owns the job and print."""

from .main import build_parser, main

__all__ = ["build_parser", "main"]
