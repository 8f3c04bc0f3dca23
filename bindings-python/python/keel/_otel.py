"""The host application's OpenTelemetry context, when the ``opentelemetry`` API is installed.

Keel reads the current span as a W3C ``traceparent`` (through the propagator the host
configured) when it makes a logger or a model call, so Keel's spans nest under the host's
request; :func:`otel_context` goes the other way, so the host's spans can nest under Keel's.
Without the API installed, both do nothing.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from keel._native import Logger, Span
from keel.errors import InvalidInputError

_propagate: ModuleType | None
_trace: ModuleType | None
try:
    _propagate = importlib.import_module("opentelemetry.propagate")
    _trace = importlib.import_module("opentelemetry.trace")
except ImportError:  # pragma: no cover - exercised where the API is not installed
    _propagate = _trace = None


def traceparent() -> str | None:
    """The host's current span as a ``traceparent``, or None (no API, or no span)."""
    if _propagate is None or _trace is None:
        return None
    # A propagator writes a `traceparent` only from a valid span: checking first costs a
    # third of asking every configured propagator (a call's hottest Python step here).
    if not _trace.get_current_span().get_span_context().is_valid:
        return None
    carrier: dict[str, str] = {}
    _propagate.inject(carrier)
    header = carrier.get("traceparent")
    return header if isinstance(header, str) else None


def otel_context(span: Span | Logger) -> Any:
    """An OpenTelemetry ``Context`` whose parent is ``span`` (a Keel ``Span`` or ``Logger``),
    for ``tracer.start_as_current_span(name, context=keel.otel_context(span))``.

    Raises:
        InvalidInputError: ``span`` is neither (field ``span``).
        ImportError: the ``opentelemetry`` API is not installed.
    """
    if not isinstance(span, (Span, Logger)):
        err = InvalidInputError(f"span: expected a keel.Span or keel.Logger, got {type(span).__name__}")
        err.field = "span"
        raise err
    if _propagate is None:
        raise ImportError("keel.otel_context needs the opentelemetry-api package")
    return _propagate.extract({"traceparent": span.traceparent()})
