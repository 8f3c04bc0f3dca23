// Hand-written beside the generated keel.kt: a queue worker on coroutines.
package dev.keel

import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.coroutineScope
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext

/**
 * Runs a worker on this coroutine until it is cancelled: core's session (`optionsJson`, Node's
 * `QueueWorkerOptions`: concurrency, batch, lanes, poll, worker id) decides what to claim, when
 * to wait and what each answer means, and writes the outcomes; this runs [handler] on each item
 * it hands out, in a coroutine of its own, and tells the session how each ended.
 *
 * [handler] gets the item (a `QueueItem`) as JSON text and returns null (done), or a JSON
 * answer: `{"deferMs": n}` puts the item back without spending an attempt, `{"fail": reason}`
 * (with `"retryable": false` when a retry cannot help) fails it, anything else is done and kept
 * as its enrichment. An exception is a retryable failure with its message.
 *
 * Cancelling the calling coroutine stops claiming: the running handlers finish, their
 * outcomes are written, then the cancellation goes on. A claim under way is never cut off
 * (its items would wait out their lease). Returns the session's report (`QueueWorkerReport`)
 * when [session]'s `stop()` ends it without a cancellation.
 */
suspend fun Queue.work(
    optionsJson: String? = null,
    session: WorkerSession = this.session(optionsJson),
    handler: suspend (item: String) -> String?,
): String = coroutineScope {
    val watcher = launch {
        try {
            awaitCancellation()
        } finally {
            session.stop()
        }
    }
    withContext(NonCancellable) {
        coroutineScope {
            while (true) {
                val items = session.next() ?: break
                for (item in items) {
                    launch { settle(session, item.id, item.leaseToken) { handler(item.itemJson) } }
                }
            }
        }
    }
    watcher.cancel()
    session.report()
}

/** Runs one handler and tells [session] how it ended; an answer the session refuses (JSON that
 * does not parse) is a failure with the refusal's message. */
private suspend fun settle(session: WorkerSession, id: String, leaseToken: ULong, handler: suspend () -> String?) {
    val failure = try {
        session.settle(id, leaseToken, handler(), null)
        return
    } catch (e: Throwable) {
        e.message?.ifBlank { null } ?: e.toString()
    }
    session.settle(id, leaseToken, null, failure)
}
