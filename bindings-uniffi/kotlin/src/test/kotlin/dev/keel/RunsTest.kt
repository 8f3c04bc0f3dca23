package dev.keel

import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Agent runs and dead letters from Kotlin on both backends: a suspend executor retried by
 * failure kind (an `AgentFailure`, a `KeelException`, any exception), one execution row per
 * run with its counters, a hung executor cut by its timeout into a dead letter, a cancelled
 * coroutine recorded as a cancelled run, bad configs named by field, the letters' operations,
 * and the shared vectors of the pure functions. */
class RunsTest {
    private val quick = mapOf(
        "kinds" to listOf("transient" to 3, "timeout" to 2, "unknown" to 2, "rate_limited" to 2)
            .associate { (kind, n) -> kind to mapOf("maxAttempts" to n, "backoff" to mapOf("baseMs" to 0, "capMs" to 0)) },
    )

    private fun config(agent: String, vararg more: Pair<String, Any?>): String =
        json("agentName" to agent, "policy" to quick, *more)

    private fun withDb(block: suspend CoroutineScope.(Keel, String) -> Unit) = runBlocking {
        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            try {
                block(db, url)
            } finally {
                db.shutdown()
            }
        }
    }

    @Test
    fun aFailureIsRetriedByKindAndTheRunRecordedOnce() = withDb { db, url ->
        val seen = mutableListOf<Int>()
        val result = JSONObject(
            db.runAgent(config("deal-risk-scan", "userId" to "system", "orgId" to "system", "triggeredBy" to "cron")) { ctx ->
                seen += ctx.attempt().toInt()
                ctx.addItems(1.0, 3.0)
                ctx.addCredits(0.25)
                ctx.logger().info("scoring.batch", json("deals" to 3))
                if (ctx.attempt() == 1u) throw AgentFailure("HTTP 503", status = 503)
                json("scored" to 3, "trace" to ctx.traceId())
            },
        )
        assertTrue(result.getBoolean("success"), "$url: $result")
        assertEquals(listOf(1, 2), seen)
        assertEquals(result.getString("traceId"), result.getJSONObject("data").getString("trace"))
        assertEquals(2, result.getInt("attempts"))
        assertEquals(0.5, result.getDouble("creditsConsumed"))
        assertEquals("transient", result.getJSONArray("errors").getJSONObject(0).getString("kind"))
        val runs = db.runs()
        runs.flush()
        val row = JSONObject(runs.get(result.getString("executionId")))
        assertEquals("completed", row.getString("status"))
        assertEquals(2, row.getInt("itemsEmitted"))
        assertEquals(6, row.getInt("itemsProcessed"))
        assertEquals("cron", row.getString("triggeredBy"))
        val listed = JSONArray(runs.list(json("agentName" to "deal-risk-scan", "status" to listOf("completed"))))
        assertEquals(1, listed.length())
    }

    @Test
    fun stepsRunOnceAndABudgetStopsAtTheNext() = withDb { db, url ->
        val writes = AtomicInteger()
        val result = JSONObject(
            db.runAgent(config("crm-sync")) { ctx ->
                val done = ctx.step("writeCrm") { json("crmId" to 40 + writes.incrementAndGet()) }
                if (ctx.attempt() == 1u) throw AgentFailure("socket hang up", kind = "transient")
                // What the work threw comes back as it was.
                val thrown = assertThrows<IllegalStateException> { ctx.step("bad") { error("the CRM refused") } }
                assertEquals("the CRM refused", thrown.message)
                assertEquals("step", assertThrows<KeelException.InvalidInput> { ctx.step("") { "1" } }.field)
                done
            },
        )
        assertTrue(result.getBoolean("success"), "$url: $result")
        assertEquals(41, result.getJSONObject("data").getInt("crmId"))
        assertEquals(1, writes.get(), "the step ran once across two attempts")
        assertEquals(setOf("writeCrm"), result.getJSONObject("steps").keySet())

        var later = 0
        val stopped = JSONObject(
            db.runAgent(config("briefing", "budget" to 1, "allowPartialResults" to true)) { ctx ->
                ctx.step("gather") {
                    ctx.addCredits(2.0)
                    """["deal-1"]"""
                }
                assertThrows<KeelException.BudgetExceeded> { ctx.step("write") { later++; null } }
                assertTrue(JSONObject(ctx.checkBudget()).getBoolean("exceeded"))
                error("stopped")
            },
        )
        assertEquals(listOf("budget_exceeded", true, false, 0), listOf(stopped.getString("status"), stopped.getBoolean("partial"), stopped.getBoolean("success"), later), "$stopped")
        assertEquals("deal-1", stopped.getJSONObject("steps").getJSONArray("gather").getString(0))
    }

    @Test
    fun failuresAreClassifiedByWhatTheyCarry() = withDb { db, url ->
        // A Keel error's code: rate_limited, with its wait.
        val limited = JSONObject(
            db.runAgent(config("limited", "maxRetries" to 0)) {
                throw KeelException.RateLimited("rate_limited", "slow down", null, 1500uL, null, null)
            },
        )
        assertEquals("rate_limited", limited.getString("errorKind"), "$url: $limited")
        // The kind an AgentFailure names wins; an unknown kind is `unknown`.
        val validation = JSONObject(db.runAgent(config("bad-input")) { throw AgentFailure("no deal id", kind = "validation") })
        assertEquals(listOf("validation", 1), listOf(validation.getString("errorKind"), validation.getInt("attempts")))
        val odd = JSONObject(db.runAgent(config("odd")) { throw AgentFailure("strange", kind = "cosmic_ray") })
        assertEquals(listOf("unknown", 2), listOf(odd.getString("errorKind"), odd.getInt("attempts")))
        // Any other exception: its message.
        val plain = JSONObject(db.runAgent(config("throws", "maxRetries" to 0)) { error("the CRM said no") })
        assertEquals(listOf("failed", "the CRM said no"), listOf(plain.getString("status"), plain.getString("error")))
        // A value that is not JSON is the caller's error.
        assertThrows<KeelException.InvalidInput> { db.runAgent(config("not-json")) { "{" } }
    }

    @Test
    fun aHungExecutorIsCutByItsTimeoutIntoADeadLetter() = withDb { db, url ->
        val result = JSONObject(db.runAgent(config("hangs", "attemptTimeoutMs" to 50, "payload" to mapOf("deal" to "Acme"))) { awaitCancellation() })
        assertEquals(listOf("failed", "timeout", 2), listOf(result.getString("status"), result.getString("errorKind"), result.getInt("attempts")), "$url: $result")
        val letters = db.deadLetters()
        val letter = JSONObject(letters.get(result.getString("deadLetterId")))
        assertEquals("Acme", letter.getJSONObject("payload").getString("deal"))
        assertEquals(2, letter.getJSONArray("errors").length())
        assertEquals("pending", letter.getString("status"))
        // The letter's operations.
        val due = JSONObject(letters.retry(letter.getString("id")))
        assertEquals("pending", due.getString("status"))
        val abandoned = JSONObject(letters.abandon(letter.getString("id"), json("reason" to "the deal closed")))
        assertEquals(listOf("abandoned", "the deal closed"), listOf(abandoned.getString("status"), abandoned.getString("abandonedReason")))
        assertEquals("pending", JSONObject(letters.redrive(letter.getString("id"))).getString("status"))
        assertEquals(1, JSONArray(letters.list(json("agentName" to "hangs"))).length())
        val once = json("agentName" to "import", "errors" to listOf(mapOf("message" to "boom")), "idempotencyKey" to "import-7")
        assertEquals(JSONObject(letters.enqueue(once)).getString("id"), JSONObject(letters.enqueue(once)).getString("id"))
        assertEquals("reason", assertThrows<KeelException.InvalidInput> { letters.abandon(letter.getString("id"), "{}") }.field?.substringAfterLast('.'))
        assertEquals(0uL, letters.purge())
    }

    @Test
    fun cancellingTheCoroutineRecordsACancelledRun() = withDb { db, url ->
        val started = CompletableDeferred<Unit>()
        val attempts = AtomicInteger()
        val run = launch(Dispatchers.IO) {
            db.runAgent(config("slow")) {
                attempts.incrementAndGet()
                started.complete(Unit)
                delay(5_000)
                null
            }
        }
        withTimeout(10_000) { started.await() }
        withTimeout(10_000) { run.cancelAndJoin() }
        assertTrue(run.isCancelled)
        assertEquals(1, attempts.get(), "no retry after the cancellation")
        val runs = db.runs()
        runs.flush()
        val row = JSONArray(runs.list(json("agentName" to "slow"))).getJSONObject(0)
        assertEquals(listOf("failed", "cancelled"), listOf(row.getString("status"), row.getString("errorMessage")), url)
        assertEquals(0, JSONArray(db.deadLetters().list()).length(), "a cancelled run is not a dead letter")
    }

    @Test
    fun aRunOnceAndBadConfigs() = withDb { db, _ ->
        val calls = AtomicInteger()
        val once = config("digest", "idempotencyKey" to "digest-2026-12-06")
        val first = JSONObject(db.runAgent(once) { json("n" to calls.incrementAndGet()) })
        val again = JSONObject(db.runAgent(once) { json("n" to calls.incrementAndGet()) })
        assertEquals(1, calls.get(), "an idempotency key runs once")
        assertTrue(again.getBoolean("deduplicated"), "$again")
        assertEquals(first.getString("executionId"), again.getString("executionId"))
        assertEquals("config.attemptTimeoutMs", assertThrows<KeelException.InvalidInput> { db.runAgent(config("a", "attemptTimeoutMs" to -1)) { null } }.field)
        assertEquals("config.agentName", assertThrows<KeelException.InvalidInput> { db.runAgent(json("agentName" to "")) { null } }.field)
        // Credits counted by the run, against its budget.
        val budget = JSONObject(db.runAgent(config("budgeted", "budget" to 1)) { ctx ->
            ctx.addCredits(0.4)
            ctx.checkBudget()
        })
        val used = budget.getJSONObject("data")
        assertFalse(used.getBoolean("exceeded"), "$used")
        assertEquals(0.4, used.getDouble("used"), 1e-9)
    }

    /** `got` equals `want`, numbers compared as doubles (org.json keeps a vector's digits). */
    private fun same(want: Any?, got: Any?): Boolean = when {
        want is JSONObject && got is JSONObject -> want.keySet() == got.keySet() && want.keySet().all { same(want.get(it), got.get(it)) }
        want is JSONArray && got is JSONArray -> want.length() == got.length() && (0 until want.length()).all { same(want.get(it), got.get(it)) }
        want is Number && got is Number -> want.toDouble() == got.toDouble()
        else -> want == got
    }

    @Test
    fun thePureFunctionsMatchTheVectors() {
        val functions = mapOf<String, (String) -> String>(
            "failure_kinds.json" to ::classifyFailure,
            "retry_schedules.json" to ::retryDelays,
            "agent_configs.json" to ::agentConfig,
        )
        for ((file, call) in functions) {
            for (case in Vectors.load(file)) {
                val name = "$file: ${case.getString("name")}"
                val input = Vectors.camelKeys(case.getJSONObject("input")).toString()
                if (case.has("expected_error_code")) {
                    val error = keelError(name) { call(input) }
                    assertEquals(case.getString("expected_error_code"), error.info.code, name)
                    assertEquals(Vectors.camel(case.getString("expected_error_field")), error.info.field, name)
                    continue
                }
                val want = Vectors.camelKeys(case.get("expected"))
                val got = JSONObject(call(input))
                assertTrue(same(want, got), "$name: expected $want, got $got")
            }
        }
    }
}
