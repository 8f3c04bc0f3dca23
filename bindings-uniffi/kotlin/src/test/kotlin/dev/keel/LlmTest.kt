package dev.keel

import java.util.UUID
import kotlinx.coroutines.async
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.BeforeEach
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows

/** Model calls from Kotlin against `keel loopback` on both backends: fallback and credits,
 * typed errors with their attempts, a stream as a Flow, and a cancelled coroutine releasing
 * its call's credits. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LlmTest {
    private val loopback = Loopback()

    private val prices = mapOf(
        "creditCost" to 1.0, "inputCostPerMtok" to 100_000.0, "outputCostPerMtok" to 200_000.0, "maxTokens" to 100,
    )

    @AfterAll
    fun stop() = loopback.close()

    @BeforeEach
    fun reset() = loopback.reset()

    /** A router whose copilot/low tier is claude-a, then gemini-b, then gpt-c (2 credits a
     * loopback call), an org funded with 100 credits, and a client on the loopback. */
    private suspend fun setup(db: Keel): Triple<ModelRouter, Llm, String> {
        val router = db.modelRouter(json("seedDefaults" to false))
        val rows = listOf(Triple("anthropic", "claude-a", 0), Triple("google", "gemini-b", 1), Triple("openai", "gpt-c", 2))
        for ((provider, model, order) in rows) {
            val row = mapOf("feature" to "copilot", "tier" to "low", "provider" to provider, "modelId" to model, "fallbackOrder" to order)
            router.setModel(JSONObject(row + prices).toString())
        }
        val org = UUID.randomUUID().toString()
        router.grantCredits(org, 100.0)
        return Triple(router, router.llm(json("providers" to loopback.providers)), org)
    }

    @Test
    fun aCallFallsBackAndChargesTheModelThatAnswered() = runBlocking {
        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            val (router, llm, org) = setup(db)
            loopback.script("claude-a", mapOf("error" to 500, "message" to "boom"))
            loopback.script("gemini-b", mapOf("error" to 503, "message" to "The model is overloaded."))
            val done = JSONObject(llm.complete(json("feature" to "copilot", "tier" to "low", "orgId" to org, "messages" to ask("hello"))))
            val outcomes = done.getJSONArray("attempts").map { (it as JSONObject).getString("outcome") }
            assertEquals(listOf("server_error", "overloaded", "ok"), outcomes, url)
            assertEquals("gpt-c", done["model"], url)
            assertEquals("ok from gpt-c", done["text"], url)
            assertEquals(2.0, done.getDouble("creditsCharged"), url)
            assertEquals(98.0, router.checkBudget(org).remaining, url)
            db.shutdown()
        }
    }

    @Test
    fun errorsAreTypedAndCarryTheirAttempts() = runBlocking {
        val db = Keel.connect("sqlite::memory:")
        val (_, llm, _) = setup(db)
        loopback.script("claude-a", mapOf("error" to 429, "message" to "slow down", "retry_after" to "7"))
        val request = json("provider" to "anthropic", "model" to "claude-a", "messages" to ask("hello"))
        val err = assertThrows<KeelException.RateLimited> { llm.complete(request) }
        assertEquals("rate_limited", err.code)
        assertEquals(7000uL, err.retryAfterMs)
        val attempts = JSONArray(err.attemptsJson).map { (it as JSONObject).getString("outcome") }
        assertEquals(listOf("rate_limited"), attempts)

        val refused = assertThrows<KeelException.InvalidInput> {
            llm.complete(json("feature" to "copilot", "maxTokens" to 0, "messages" to ask("hi")))
        }
        assertEquals("maxTokens", refused.field)
        db.shutdown()
    }

    @Test
    fun aStreamIsAFlowOfEvents() = runBlocking {
        val db = Keel.connect("sqlite::memory:")
        val (_, llm, org) = setup(db)
        val events = llm.streamFlow(json("feature" to "copilot", "tier" to "low", "orgId" to org, "messages" to ask("hello")))
            .map(::JSONObject).toList()
        val text = events.filter { it["event"] == "delta" && it.optString("type") == "text" }.joinToString("") { it.getString("text") }
        assertEquals("ok from claude-a", text)
        assertEquals("done", events.last()["event"])
        db.shutdown()
    }

    @Test
    fun cancellingTheCoroutineReleasesTheCredits() = runBlocking {
        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            val (router, llm, org) = setup(db)
            loopback.script("claude-a", mapOf("stall_ms" to 30_000))
            val call = async {
                llm.complete(json("feature" to "copilot", "tier" to "low", "orgId" to org, "messages" to ask("hello")))
            }
            withTimeout(10_000) {
                while (router.checkBudget(org).remaining == 100.0) delay(10)
            }
            call.cancel()
            assertThrows<kotlinx.coroutines.CancellationException> { call.await() }
            withTimeout(10_000) {
                while (router.checkBudget(org).remaining != 100.0) delay(10)
            }
            db.shutdown()
        }
    }

    @Test
    fun aCallPastItsDeadlineTimesOut() = runBlocking {
        val db = Keel.connect("sqlite::memory:")
        val (_, llm, _) = setup(db)
        loopback.script("claude-a", mapOf("stall_ms" to 30_000))
        val request = json("provider" to "anthropic", "model" to "claude-a", "messages" to ask("hello"), "deadline" to 0.3)
        val started = System.nanoTime()
        val err = assertThrows<KeelException> { llm.complete(request) }
        assertEquals("timeout", err.code)
        assertTrue(System.nanoTime() - started < 5_000_000_000L, "the deadline cut the call short")
        db.shutdown()
    }
}
