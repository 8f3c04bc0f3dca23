// Agent runs: an executor retried after a transient failure, a committed step that a retry
// skips, a budget that stops the run at its next step with partial results, and the
// agent_executions rows they left.
//
// The same scenario runs in examples/rust/agent_runs.rs, examples/python/agent_runs.py and
// examples/node/agent_runs.mjs.

import dev.keel.AgentFailure
import dev.keel.Keel
import dev.keel.runAgent
import dev.keel.step
import java.util.Locale
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    // --8<-- [start:agent_runs]
    val db = Keel.connect(url)
    val quick = mapOf("kinds" to mapOf("transient" to mapOf("maxAttempts" to 3, "backoff" to mapOf("baseMs" to 0, "capMs" to 0))))
    fun config(agent: String, vararg more: Pair<String, Any>) =
        JSONObject(mapOf("agentName" to agent, "orgId" to "system", "policy" to quick, *more)).toString()

    var result = JSONObject(
        db.runAgent(config("deal-risk-scan")) { ctx ->
            if (ctx.attempt() == 1u) throw AgentFailure("CRM unavailable", status = 503)
            ctx.addItems(3.0, 42.0)
            """{"at_risk":3}"""
        },
    )
    val firstKind = result.getJSONArray("errors").getJSONObject(0)["kind"]
    println("deal-risk-scan: ${result["status"]} after ${result["attempts"]} attempts; first failure $firstKind; data ${result["data"]}")

    var writes = 0
    result = JSONObject(
        db.runAgent(config("crm-sync")) { ctx ->
            val saved = ctx.step("write_crm") {
                writes++
                """{"crm_id":42}"""
            }
            if (ctx.attempt() == 1u) throw java.net.SocketException("connection reset")
            saved
        },
    )
    println("crm-sync: ${result["status"]}; the step ran $writes time(s); steps ${result.getJSONObject("steps").keys().asSequence().joinToString(", ")}")

    val briefing = JSONObject(mapOf("agentName" to "morning-briefing", "orgId" to "system", "budget" to 1, "allowPartialResults" to true)).toString()
    result = JSONObject(
        db.runAgent(briefing) { ctx ->
            val deals = ctx.step("gather") {
                ctx.addCredits(1.5) // the model calls of this step, say
                """["deal-1","deal-2"]"""
            }
            ctx.step("write") { writes++; null } // refused: the budget is spent
            deals
        },
    )
    println("morning-briefing: ${result["status"]}, partial ${result["partial"]}; kept ${result["steps"]}; the write ran ${writes - 1} time(s)")

    val runs = db.runs()
    runs.flush()
    val rows = JSONArray(runs.list("""{"orgId": "system"}""")).map { it as JSONObject }.reversed()
    for (row in rows) {
        val credits = "%.1f".format(Locale.ROOT, row.getDouble("creditsConsumed"))
        println("row ${row["agentName"]}: ${row["status"]}, ${row["attempts"]} attempt(s), credits $credits")
    }
    db.shutdown()
    // --8<-- [end:agent_runs]
}
