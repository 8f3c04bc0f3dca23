// Dead letters: a run that exhausted its retries is enqueued with its error chain, a worker
// replays it through a handler that fails once and then succeeds, and failures are classified
// on their structure.
//
// The same scenario runs in examples/rust/dead_letters.rs, examples/python/dead_letters.py and
// examples/node/dead_letters.mjs.

import dev.keel.AgentFailure
import dev.keel.Keel
import dev.keel.classifyFailure
import dev.keel.retryDelays
import dev.keel.workOnce
import kotlinx.coroutines.runBlocking
import org.json.JSONObject

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    // --8<-- [start:dead_letters]
    val db = Keel.connect(url)
    val letters = db.deadLetters()
    val letter = JSONObject(
        letters.enqueue(
            JSONObject(
                mapOf(
                    "agentName" to "deal-risk-batch",
                    "triggerType" to "cron",
                    "payload" to mapOf("deals" to 42),
                    "orgId" to "system",
                    "errors" to listOf(mapOf("kind" to "transient", "message" to "HTTP 503", "status" to 503)),
                    "idempotencyKey" to "deal-risk-batch:2026-12-03",
                    "delayMs" to 0,
                ),
            ).toString(),
        ),
    )
    println("enqueued for ${letter["agentName"]} (org ${letter["orgId"]}): ${letter["status"]}, ${letter.getJSONArray("errors").length()} failure(s)")

    // The handler replays the run: the first retry meets a 503, the second succeeds.
    val handler: suspend (String) -> String? = { replay ->
        if (JSONObject(replay).getInt("retry") == 1) throw AgentFailure("upstream unavailable", status = 503)
        null
    }
    for (pass in 1..2) {
        val r = JSONObject(letters.workOnce("""{"backoff": {"baseMs": 0, "capMs": 0}}""", handler))
        println("pass $pass: claimed ${r["claimed"]}, resolved ${r["resolved"]}, retrying ${r["retrying"]}")
    }
    val after = JSONObject(letters.get(letter.getString("id")))
    val history = after.getJSONArray("errors").map { (it as JSONObject).optString("kind", "unknown") }
    println("${after["status"]} after ${after["retryCount"]} retries; history: ${history.joinToString(", ")}")
    for (failure in listOf("""{"message": "request took 1400ms"}""", """{"status": 429, "retryAfter": "2"}""")) {
        val c = JSONObject(classifyFailure(failure))
        val wait = if (c.isNull("retryAfterMs")) "None" else "Some(${c["retryAfterMs"]})"
        println("classified ${c["kind"]} by ${c["by"]}, retry_after_ms=$wait")
    }
    val ceilings = JSONObject(retryDelays("""{"retries": 4, "seed": 7}""")).getJSONArray("ceilings")
    println("dead-letter backoff ceilings: ${ceilings.joinToString(", ")}")
    db.shutdown()
    // --8<-- [end:dead_letters]
}
