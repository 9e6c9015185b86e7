"""Evaluation harness: the paper's metrics, offline, with a pinned protocol.

>>> from layout2im.evaluation import ScoringOptions, evaluate_generator  # doctest: +SKIP
>>> options = ScoringOptions("shapes32", ["fid-shapes"])  # doctest: +SKIP
>>> results = evaluate_generator(gen, cfg.data, options)  # doctest: +SKIP

Metrics are registered by name (:func:`register_metric`, :func:`get_metric`); protocols are
named presets (:data:`PROTOCOLS`); :class:`ScoringOptions` says what to score and how;
:func:`evaluate_generator` (training) and :func:`evaluate_model` (a model folder) generate the
images and return a results dict; :mod:`.external` scores another system's images.
"""

from .baselines import ZeroLatentGenerator
from .options import EvalFiles, ScoringOptions
from .protocols import PROTOCOLS, Protocol, get_protocol, protocol_names
from .registry import Metric, MetricSkipped, get_metric, metric_names, register_metric
from .report import format_markdown, format_table, write_results
from .runner import evaluate_generator, evaluate_model
from .weight_files import MissingWeightsError, WeightsChecksumError

__all__ = [
    "PROTOCOLS",
    "EvalFiles",
    "Metric",
    "MetricSkipped",
    "MissingWeightsError",
    "Protocol",
    "ScoringOptions",
    "WeightsChecksumError",
    "ZeroLatentGenerator",
    "evaluate_generator",
    "evaluate_model",
    "format_markdown",
    "format_table",
    "get_metric",
    "get_protocol",
    "metric_names",
    "protocol_names",
    "register_metric",
    "write_results",
]
