// Hand-written beside the generated keel.kt: a streaming call as a Kotlin Flow.
package dev.keel

import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.flow

/**
 * A streaming call (`CallRequest` as JSON) as a cold [Flow] of events, each JSON text
 * (`delta`, `toolCall`, …, the last one `done`). Collecting starts the call; cancelling the
 * collector stops it (the HTTP request ends and unspent credits are released), as does an
 * early end of collection.
 */
fun Llm.streamFlow(requestJson: String): Flow<String> = flow {
    stream(requestJson).use { call ->
        while (true) {
            val events = call.next() ?: break
            for (event in events) emit(event)
        }
    }
}
