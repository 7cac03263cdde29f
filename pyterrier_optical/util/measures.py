"""Evaluation measures given as ir_measures objects or their names."""
from __future__ import annotations

import ir_measures


def parse_measure(measure):
    """An ir_measures object from an object or a name such as ``"RR@10"``; anything else raises ``ValueError``."""
    if isinstance(measure, ir_measures.measures.BaseMeasure):
        return measure
    if isinstance(measure, str):
        try:
            return ir_measures.parse_measure(measure)
        except (ValueError, NameError, SyntaxError, TypeError):
            pass
    raise ValueError(f"unknown measure {measure!r}; use ir_measures names such as RR@10, nDCG@10, AP, R@100")


def parse_measures(measures) -> list:
    """:func:`parse_measure` of each of ``measures`` (one, or a list), a measure given twice kept once."""
    if isinstance(measures, (str, ir_measures.measures.BaseMeasure)):
        measures = [measures]
    if not isinstance(measures, (list, tuple)):
        raise ValueError(f"measures must be a measure or a list of them, got {measures!r}")
    parsed = list({str(m): m for m in map(parse_measure, measures)}.values())
    if not parsed:
        raise ValueError("no measures given")
    return parsed
