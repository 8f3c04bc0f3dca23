// Hand-written beside the generated keel.kt: an agent run driven on coroutines.
package dev.keel

import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.TimeoutCancellationException
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout

/**
 * A failure an executor throws to say what kind it is (`transient`, `rate_limited`, `timeout`,
 * `context_exceeded`, `model_unavailable`, `validation`), the HTTP status it came with, or the
 * wait it asked for; core classifies any other exception by what it carries (a
 * `KeelException`'s code and `retryAfterMs`) or by its message.
 */
class AgentFailure(
    message: String,
    val kind: String? = null,
    val status: Int? = null,
    val retryAfterMs: Long? = null,
    cause: Throwable? = null,
) : Exception(message, cause)

/**
 * Runs [executor] as the agent of `configJson` (an `AgentConfig`: `agentName`, retries,
 * time limits, budget, `idempotencyKey`, …) until it returns, a failure's kind has no
 * retries left, the run's time or budget runs out, or the calling coroutine is cancelled.
 * Core decides every attempt, time limit and wait and writes one `agent_executions` row;
 * this awaits [executor], sleeps and tells core what happened. [executor] gets the attempt's
 * [AgentContext] and returns its value as JSON text (or null). Model calls through
 * [AgentContext.complete] go through [llm] and count towards the run.
 *
 * Returns the `AgentResult` as JSON (`success`, `status`, `data`, `attempts`, `errors`, credits, the
 * execution id). Cancelling the coroutine cancels the run: it is recorded as cancelled, then
 * the cancellation goes on.
 */
suspend fun Keel.runAgent(
    configJson: String,
    llm: Llm? = null,
    executor: suspend (AgentContext) -> String?,
): String = startRun(configJson, llm).use { run ->
    try {
        drive(run, executor)
    } catch (e: CancellationException) {
        run.cancel()
        withContext(NonCancellable) { drive(run) { throw e } }
        throw e
    }
}

/** Does what [run] asks until it is done: its result. */
private suspend fun drive(run: AgentRun, executor: suspend (AgentContext) -> String?): String {
    while (true) {
        when (run.next()) {
            "attempt" -> run.context()!!.use { attempt(run, it, run.ms(), executor) }
            "wait" -> delay(run.ms().toLong())
            // The run's own writes are never cut off (the driver is out of the run meanwhile).
            "claim" -> withContext(NonCancellable) { run.claim() }
            "finish" -> withContext(NonCancellable) { run.finish() }
            else -> return run.result()
        }
    }
}

/** One attempt under its time limit, and how it ended. */
private suspend fun attempt(run: AgentRun, ctx: AgentContext, ms: Double, executor: suspend (AgentContext) -> String?) {
    val value = try {
        withTimeout(ms.toLong().coerceAtLeast(1)) { executor(ctx) }
    } catch (e: TimeoutCancellationException) {
        run.timedOut()
        return
    } catch (e: CancellationException) {
        throw e
    } catch (e: Throwable) {
        run.failed(describe(e))
        return
    }
    run.succeeded(value)
}

/** What the exception [e] says of itself, for core to classify. */
internal fun describe(e: Throwable): FailureInfo {
    val message = e.message?.ifBlank { null } ?: e.toString()
    return when (e) {
        is KeelException -> FailureInfo(e.info.detail, code = e.info.code, retryAfterMs = e.info.retryAfterMs)
        is AgentFailure -> FailureInfo(message, kind = e.kind, status = e.status?.toUShort(), retryAfterMs = e.retryAfterMs?.toULong())
        else -> FailureInfo(message)
    }
}

/**
 * Runs [work] as step [name] of the run, once per run: on a retry, a step that finished on an
 * earlier attempt is not run again and its recorded value (JSON text, or null) comes back.
 * Throws `KeelException.BudgetExceeded` without running [work] once the run's budget is spent,
 * and re-throws what [work] threw.
 */
suspend fun AgentContext.step(name: String, work: suspend () -> String?): String? = beginStep(name).use { call ->
    if (call.started()) {
        val value = try {
            work()
        } catch (e: Throwable) {
            call.fail(describe(e))
            throw e
        }
        call.succeed(value)
    }
    call.result()
}

/**
 * Claims one batch of due dead letters (`optionsJson`: Node's `WorkerOptions`, without `url`)
 * and replays each through [handler], which gets the letter's `Replay` as JSON text (`id`,
 * `agentName`, `payload`, `retry`, the `idempotencyKey` every retry of the letter shares, the
 * `steps` the failed run completed) and returns its answer as JSON text: null or anything
 * else is done; `"accepted"` or `{"accepted": true}` means the work goes on elsewhere and
 * the letter waits for `resolve`. What [handler] throws is the failure, classified by core as
 * a run's is ([AgentFailure] says its kind, status or wait). Returns the `WorkReport` as JSON
 * (`claimed`, `resolved`, `accepted`, `retrying`, `abandoned`, …).
 */
suspend fun DeadLetters.workOnce(optionsJson: String? = null, handler: suspend (String) -> String?): String =
    workOnceWith(
        object : LetterHandler {
            // Core calls this on a thread of its own, so it may block on the suspend handler.
            override fun handle(replayJson: String): HandlerAnswer = runBlocking {
                try {
                    HandlerAnswer.Returned(handler(replayJson))
                } catch (e: Throwable) {
                    HandlerAnswer.Threw(describe(e))
                }
            }
        },
        optionsJson,
    )
