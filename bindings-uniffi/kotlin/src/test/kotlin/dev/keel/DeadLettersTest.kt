package dev.keel

import java.util.Collections
import java.util.UUID
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Dead letters replayed by a Kotlin suspend handler on both backends, as Node's and Python's
 * suites replay them: a handler that fails (its `AgentFailure`'s kind, status and wait
 * classified in core), accepts and succeeds; every replay of a letter with the same
 * idempotency key; any other exception a recorded failure; bad options named by field. */
class DeadLettersTest {
    private fun letter(agent: String, vararg more: Pair<String, Any?>): String = json(
        "agentName" to agent,
        "payload" to mapOf("deal_id" to "d-1", "nested" to mapOf("snake_key" to 1)),
        "orgId" to "system",
        "userId" to UUID.randomUUID().toString(),
        "errors" to listOf(mapOf("kind" to "transient", "message" to "HTTP 503", "status" to 503)),
        "delayMs" to 0,
        *more,
    )

    private val options = json("seed" to 1, "backoff" to mapOf("baseMs" to 0, "capMs" to 0))

    @Test
    fun aKotlinHandlerFailsAcceptsAndSucceeds() = runBlocking {
        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            val letters = db.deadLetters()
            val flaky = JSONObject(letters.enqueue(letter("flaky", "idempotencyKey" to "run-7"))).getString("id")
            val slow = JSONObject(letters.enqueue(letter("orchestrator"))).getString("id")
            val broken = JSONObject(letters.enqueue(letter("broken"))).getString("id")
            val seen = Collections.synchronizedList(mutableListOf<JSONObject>())
            val handler: suspend (String) -> String? = { json ->
                val replay = JSONObject(json).also { seen += it }
                delay(1) // a suspend handler
                when {
                    replay.getString("agentName") == "broken" -> throw AgentFailure("HTTP 422", status = 422)
                    replay.getString("agentName") == "orchestrator" -> "\"accepted\""
                    replay.getInt("retry") == 1 -> throw AgentFailure("slow down", status = 429, retryAfterMs = 0)
                    else -> null
                }
            }
            val first = JSONObject(letters.workOnce(options, handler))
            assertEquals(listOf(3, 1, 1, 1), listOf("claimed", "retrying", "accepted", "abandoned").map { first.getInt(it) }, "$url: $first")
            assertEquals(setOf(flaky, slow, broken).map { "dlq:$it" }.toSet(), seen.map { it.getString("idempotencyKey") }.toSet())
            val replayed = seen.first { it.getString("id") == flaky }
            assertEquals(1, replayed.getJSONObject("payload").getJSONObject("nested").getInt("snake_key"), "the payload as enqueued")
            val retried = JSONObject(letters.get(flaky))
            assertEquals("rate_limited", retried.getString("errorKind"))
            assertEquals(429, retried.getJSONArray("errors").let { it.getJSONObject(it.length() - 1) }.getInt("status"))
            assertEquals("a validation failure is not retried", JSONObject(letters.get(broken)).getString("abandonedReason"))
            assertEquals(1, JSONObject(letters.workOnce(options, handler)).getInt("resolved"))
            assertEquals(listOf("dlq:$flaky", "dlq:$flaky"), seen.filter { it.getString("id") == flaky }.map { it.getString("idempotencyKey") }, "every retry, one key")
            assertEquals("accepted", JSONObject(letters.get(slow)).getString("status"))
            assertEquals("resolved", JSONObject(letters.resolve(slow)).getString("status"))
            val resolved = JSONArray(letters.list(json("status" to listOf("resolved")))).map { (it as JSONObject).getString("id") }
            assertEquals(setOf(flaky, slow), resolved.toSet())

            // An exception that says nothing of itself is a recorded failure, retried.
            val kinds = JSONObject(letters.enqueue(letter("kinds"))).getString("id")
            val report = JSONObject(letters.workOnce(json("agents" to listOf("kinds"), "seed" to 1)) { error("just a message") })
            assertEquals(1, report.getInt("retrying"), "$report")
            assertTrue(JSONObject(letters.get(kinds)).getString("failureReason").contains("just a message"))
            // An answer that is not JSON is a failure too, never taken for done.
            letters.retry(kinds)
            val garbled = JSONObject(letters.workOnce(json("agents" to listOf("kinds"), "seed" to 1)) { "{" })
            assertEquals(listOf(1, 0), listOf(garbled.getInt("retrying"), garbled.getInt("resolved")), "$garbled")
            assertTrue(JSONObject(letters.get(kinds)).getString("failureReason").contains("not JSON"))
            db.shutdown()
        }
    }

    @Test
    fun badOptionsAreNamed() = runBlocking {
        val db = Keel.connect("sqlite::memory:")
        val letters = db.deadLetters()
        val both = assertThrows<KeelException.InvalidInput> { letters.workOnce(json("url" to "http://127.0.0.1:9/")) { null } }
        assertEquals("options.url", both.field)
        assertEquals("options.leaseMs", assertThrows<KeelException.InvalidInput> { letters.workOnce(json("leaseMs" to -1)) { null } }.field)
        assertEquals("options", assertThrows<KeelException.InvalidInput> { letters.workOnce("[1]") { null } }.field)
        db.shutdown()
    }
}
