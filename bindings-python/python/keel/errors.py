"""Keel's exceptions: one class per stable error code, all under :class:`KeelError`.

Catch a class, or compare ``err.code`` (the same string the Rust core and the Node package use).
Classes mix in the builtin that fits, so ``except ValueError`` still catches bad input.
"""

from __future__ import annotations

__all__ = [
    "KeelError",
    "InvalidInputError",
    "InvalidUrlError",
    "DatabaseConnectionError",
    "MigrationError",
    "StorageError",
    "KeelTimeoutError",
    "AbortedError",
    "ClosedError",
    "ForkedError",
    "NoModelAvailableError",
    "BudgetExceededError",
    "OverloadedError",
    "InvalidSkillError",
    "InternalError",
    "ProviderError",
    "RateLimitedError",
    "ContentRefusedError",
    "ContextTooLongError",
    "BY_CODE",
]


class KeelError(Exception):
    """Base class of every error Keel raises."""

    #: Stable machine code, e.g. ``"invalid_url"``.
    code: str = "keel_error"
    #: The argument or field at fault, for bad input; otherwise ``None``.
    field: str | None = None


class InvalidInputError(KeelError, ValueError, TypeError):
    """A value Keel cannot use, of the wrong value or the wrong type; ``field`` names it.
    Both ``except ValueError`` and ``except TypeError`` catch it."""

    code = "invalid_input"


class InvalidUrlError(KeelError, ValueError):
    """A database URL Keel cannot parse or whose scheme it does not support."""

    code = "invalid_url"


class DatabaseConnectionError(KeelError, ConnectionError):
    """The database could not be reached or opened."""

    code = "connection"


class MigrationError(KeelError):
    """Applying the embedded migrations failed."""

    code = "migration"


class StorageError(KeelError):
    """A query failed after the connection was established."""

    code = "storage"


class KeelTimeoutError(KeelError, TimeoutError):
    """An operation did not finish within its time limit. For a model call, ``attempts``
    lists each try (as on :class:`ProviderError`)."""

    code = "timeout"
    attempts: list[dict[str, object]] = []
    retry_after_ms: int | None = None


class AbortedError(KeelError):
    """The caller gave up on the operation (in Python a cancelled task raises
    ``asyncio.CancelledError`` instead; the code exists for every language)."""

    code = "aborted"


class ClosedError(KeelError):
    """The handle was closed."""

    code = "closed"


class ForkedError(KeelError):
    """A handle created before ``fork()`` was used in the child; connect again there."""

    code = "forked"


class NoModelAvailableError(KeelError):
    """No model can serve a request: none is configured for the feature and tier, or every
    candidate's circuit is open."""

    code = "no_model_available"


class BudgetExceededError(KeelError):
    """A debit would take an org's balance below its grace threshold."""

    code = "budget_exceeded"


class InvalidSkillError(KeelError, ValueError):
    """A SKILL.md, or a library of them, failed validation. ``diagnostics`` lists every error
    finding as a dict with ``code``, ``file``, ``line``, ``column``, ``field`` and ``message``."""

    code = "invalid_skill"
    diagnostics: list[dict[str, object]] = []


class InternalError(KeelError):
    """A bug in Keel, or a panic caught at the boundary. Please report it."""

    code = "internal"


class ProviderError(KeelError):
    """A model call failed on the provider's side (a server error, an overload, a broken
    connection, a malformed reply) or was refused as a bad request, on every candidate it could
    try. ``attempts`` lists each try with its provider, model, outcome, status and latency."""

    code = "provider"
    attempts: list[dict[str, object]] = []
    retry_after_ms: int | None = None


class RateLimitedError(ProviderError):
    """The provider rate-limited the call; ``retry_after_ms`` says how long it asked to wait."""

    code = "rate_limited"


class ContentRefusedError(ProviderError):
    """The model declined to answer (a safety refusal). Keel does not fall back on it."""

    code = "content_refused"


class ContextTooLongError(ProviderError, ValueError):
    """The prompt did not fit the model's context window."""

    code = "context_too_long"


class OverloadedError(KeelError):
    """The queue sheds load: a low-lane enqueue while the backlog is past the shedding
    threshold. ``retry_after_ms`` says when to try again; lanes 0 and 1 are never refused."""

    code = "overloaded"
    retry_after_ms: int | None = None


#: Every class by its code. The native module raises through this table.
BY_CODE: dict[str, type[KeelError]] = {
    cls.code: cls
    for cls in (
        InvalidInputError,
        InvalidUrlError,
        DatabaseConnectionError,
        MigrationError,
        StorageError,
        KeelTimeoutError,
        AbortedError,
        ClosedError,
        ForkedError,
        NoModelAvailableError,
        BudgetExceededError,
        InvalidSkillError,
        InternalError,
        ProviderError,
        RateLimitedError,
        ContentRefusedError,
        ContextTooLongError,
        OverloadedError,
    )
}
