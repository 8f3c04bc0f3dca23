// Hand-written beside the generated keel.kt: the fields every KeelException variant carries,
// read without a `when` at each call site. The `when` below is exhaustive over the sealed
// class, so a variant added in Rust and not here fails to compile.
package dev.keel

/** What every Keel error carries: the stable code, the message, the field at fault. */
data class KeelErrorInfo(
    val code: String,
    val detail: String,
    val field: String?,
    val retryAfterMs: ULong?,
    /** An `invalid_skill`'s findings, JSON (camelCase). */
    val diagnosticsJson: String?,
    /** A failed model call's attempts, JSON (camelCase). */
    val attemptsJson: String?,
)

/** This error's stable code, message, field and retry hint. */
val KeelException.info: KeelErrorInfo
    get() = when (this) {
        is KeelException.InvalidInput -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.InvalidUrl -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.Connection -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.Migration -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.Storage -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.Timeout -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.Aborted -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.Closed -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.Forked -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.NoModelAvailable -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.BudgetExceeded -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.InvalidSkill -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.Internal -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.Provider -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.RateLimited -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.ContentRefused -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.ContextTooLong -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
        is KeelException.Overloaded -> KeelErrorInfo(code, detail, field, retryAfterMs, diagnosticsJson, attemptsJson)
    }

/** The stable code, e.g. `"invalid_input"`. */
val KeelException.code: String get() = info.code

/** The argument or option at fault, for bad input. */
val KeelException.field: String? get() = info.field
