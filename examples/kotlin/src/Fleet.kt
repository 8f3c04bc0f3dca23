// Fleet health: the seeded agent registry, an agent registered by its cron schedule, its runs
// judged by one health run (every seeded agent that never ran is stale), alerts posted once to
// a Slack webhook, a second run that sends nothing, and a schedule that is not cron refused.
//
// The same scenario runs in examples/rust/fleet.rs, examples/python/fleet.py and
// examples/node/fleet.mjs.

import dev.keel.AgentFailure
import dev.keel.Keel
import dev.keel.KeelException
import dev.keel.info
import dev.keel.runAgent
import java.util.Locale
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    // A local Slack (`keel loopback`) when set; else SLACK_WEBHOOK_URL and friends.
    val base = System.getenv("KEEL_LLM_BASE_URL")
    val options = base?.let { JSONObject(mapOf("webhookUrl" to "$it/services/T0/B0/example")).toString() }
    // --8<-- [start:fleet]
    val db = Keel.connect(url)
    val fleet = db.fleet(options)
    val agents = JSONArray(fleet.agents()).map { it as JSONObject }
    val weekly = agents.first { it.getString("agentName") == "pipeline-snapshot" }
    println("${agents.size} agents registered; pipeline-snapshot every ${weekly.getLong("cadenceMs") / 86_400_000} d (${weekly["schedule"]})")
    val crm = JSONObject(fleet.setAgent("""{"agentName": "crm-sync", "schedule": "*/30 * * * *"}"""))
    println("crm-sync every ${crm.getLong("cadenceMs") / 60_000} min")

    for (ok in listOf(true, false, true, false)) {
        db.runAgent("""{"agentName": "crm-sync", "maxRetries": 0, "deadLetter": false}""") {
            if (!ok) throw AgentFailure("CRM unavailable", status = 503)
            """{"synced": 12}"""
        }
    }
    db.runs().flush()

    val health = JSONObject(fleet.checkFleetHealth())
    for (agent in health.getJSONArray("agents").map { it as JSONObject }) {
        val reasons = agent.getJSONArray("reasons")
        val why = if (reasons.isEmpty) "" else reasons.getString(0)
        println(String.format(Locale.ROOT, "  %-20s %-8s %s", agent["name"], agent["status"], why))
    }
    println("${health["total_alerts_fired"]} alerts queued, ${health.getJSONObject("delivery")["delivered"]} delivered")
    val again = JSONObject(fleet.checkFleetHealth())
    println("a second run: ${again["total_alerts_fired"]} new alerts")

    try {
        fleet.setAgent("""{"agentName": "x", "schedule": "every day"}""")
    } catch (e: KeelException) {
        println("refused: ${e.info.code} (${e.info.field})")
    }
    // --8<-- [end:fleet]
    db.shutdown()
}
