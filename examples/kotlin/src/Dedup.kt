// Deduplication: three agents report the same risk on one deal (one primary, two merged, the
// third agent escalates it once), a fourth phrases it differently under another action (a
// near-duplicate by MinHash), another org's identical item stays its own; the post-scoring
// merge and the counters; then the general-purpose MinHash index.
//
// The same scenario runs in examples/rust/dedup.rs, examples/python/dedup.py and
// examples/node/dedup.mjs.

import dev.keel.Keel
import dev.keel.LshOptions
import dev.keel.MinHashLsh
import dev.keel.minhash
import java.util.Locale
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject

private const val DEDUP_ORG = "00000000-0000-4000-8000-0000000000a1"
private const val OTHER_ORG = "00000000-0000-4000-8000-0000000000b2"
private const val DEAL = "00000000-0000-4000-8000-00000000de01"
private const val RISK = "Acme renewal at risk: the champion stopped replying after the pricing call and procurement asked for a discount"

private fun report(org: String, agent: String, title: String, vararg context: Pair<String, Any>) = mapOf(
    "orgId" to org, "sourceAgent" to agent, "itemType" to "deal_risk", "title" to title, "dealId" to DEAL,
    "context" to mapOf(*context),
)

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    // --8<-- [start:dedup]
    val db = Keel.connect(url)
    val dedup = db.dedup() // a 4 h merge window, near-duplicates at Jaccard 0.8
    val reports = listOf(
        report(DEDUP_ORG, "deal-risk-scan", RISK, "action_type" to "call", "confidence" to 0.6, "evidence" to listOf("no reply in 9 days")),
        report(DEDUP_ORG, "email-signals", RISK, "action_type" to "call", "confidence" to 0.5, "evidence" to listOf("pricing thread unanswered")),
        report(DEDUP_ORG, "meeting-intel", RISK, "action_type" to "call", "confidence" to 0.7),
        report(DEDUP_ORG, "crm-hygiene", "$RISK this quarter", "action_type" to "email", "confidence" to 0.4),
        report(OTHER_ORG, "deal-risk-scan", RISK, "action_type" to "call"),
    )
    val checked = JSONArray(dedup.enqueue(JSONArray(reports).toString())).map { it as JSONObject }
    for (c in checked) {
        val near = if (c.isNull("jaccard")) "" else String.format(Locale.ROOT, " (jaccard %.2f)", c.getDouble("jaccard"))
        println("${c["verdict"]}$near${if (c.getBoolean("escalated")) " escalated" else ""}")
    }
    val group = JSONObject(dedup.group(checked[0].getString("id"))!!)
    val agents = group.getJSONArray("contributingAgents").joinToString(", ") { "'$it'" }
    println(
        "group: agents [$agents], lane ${group["queuePriority"]}, " +
            "${group.getJSONArray("mergedFrom").length()} absorbed, merged confidence ${group.getDouble("mergedConfidence")}",
    )
    val scored = JSONObject(dedup.score(checked[0].getString("id"), 0.8))
    println("scored 0.8: group confidence ${scored.getDouble("mergedConfidence")}")
    val counts = JSONObject(dedup.counts(DEDUP_ORG))
    println("counters: ${counts["suppressed"]} suppressed, ${counts["near_merged"]} near-merged, ${counts["escalated"]} escalated")

    val index = MinHashLsh(LshOptions(threshold = 0.8)) // bands and rows follow the threshold
    index.insert("ticket-1", minhash("Login page returns a 500 error after the password reset"))
    index.insert("ticket-2", minhash("Invoice PDF shows the wrong currency for EU customers"))
    val found = index.query(minhash("login page returns a 500 error after the password reset!"))
    println(found.joinToString(", ", "[", "]") { String.format(Locale.ROOT, "{'key': '%s', 'jaccard': %.1f}", it.key, it.jaccard) })
    db.shutdown()
    // --8<-- [end:dedup]
}
