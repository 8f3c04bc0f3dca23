// Slack copilot threads: a thread ingested from Slack's JSON (each ts once), a turn recorded,
// its context extracted by a sweep through Keel's model calls (entities resolved by a Kotlin
// resolver), what the web copilot then sees, forgetting the deal, and the history.
//
// The same scenario runs in examples/rust/threads.rs, examples/python/threads.py and
// examples/node/threads.mjs.

import dev.keel.EntityResolver
import dev.keel.Keel
import dev.keel.KeelException
import dev.keel.info
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject

private const val THREAD_ORG = "00000000-0000-4000-8000-0000000000a7"
private const val REP = "00000000-0000-4000-8000-0000000000b7"
private const val THREAD_DEAL = "00000000-0000-4000-8000-00000000de07"
private const val THREAD_TS = "1733220000.000100"
private val LINES = listOf(
    "Where is the Acme Renewal?",
    "Legal has the redlines; Dana owns them.",
    "What did they push back on?",
    "The liability cap and a 12% discount.",
    "Can we hold the discount at 8%?",
    "Finance approved 8% on a two-year term.",
    "Draft the reply to Dana.",
    "Drafted: 8% on two years, cap unchanged.",
    "Sent. Dana says legal signs Friday.",
    "Noted: signature expected Friday.",
)

/** A `conversations.replies` page: the rep (U0REP) and the copilot's bot (U0BOT) in turn. */
private fun repliesPage(): String = JSONObject(
    mapOf(
        "ok" to true,
        "messages" to LINES.mapIndexed { i, text ->
            mapOf("type" to "message", "user" to if (i % 2 == 1) "U0BOT" else "U0REP", "text" to text, "ts" to "17332200%02d.000100".format(i))
        },
    ),
).toString()

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    // A local server (`keel loopback`) when set; else Anthropic itself, with your key.
    val base = System.getenv("KEEL_LLM_BASE_URL")
    // --8<-- [start:threads]
    val db = Keel.connect(url)
    val threads = db.slackThreads()
    val key = mapOf("orgId" to THREAD_ORG, "userId" to REP, "slackTeamId" to "T0ACME", "slackChannelId" to "C0DEALS", "slackThreadTs" to THREAD_TS)
    val id = JSONObject(threads.getOrCreate(JSONObject(key).toString())).getString("id")
    val bot = """{"botUserId": "U0BOT"}"""
    val done = JSONObject(threads.ingest(THREAD_ORG, id, repliesPage(), bot))
    val seqs = done.getJSONArray("seqs")
    println("ingested ${done["added"]} messages as seqs ${seqs[0]}..${seqs[1]}; extraction due: ${done["extractionDue"]}")
    val again = JSONObject(threads.ingest(THREAD_ORG, id, repliesPage(), bot))
    println("redelivered: ${again["added"]} added, ${again["duplicates"]} duplicates")
    val turn = JSONObject(threads.recordTurn(THREAD_ORG, id, """{"intent": "deal_query", "credits": 0.5}"""))
    val intents = turn.getJSONArray("intentsUsed").joinToString(", ")
    println("turns ${turn.getJSONArray("turns").length()}, intents $intents, credits ${turn["creditsConsumed"]}")

    val router = db.modelRouter()
    val providers = if (base != null) mapOf("anthropic" to mapOf("baseUrl" to base)) else mapOf()
    val llm = router.llm(JSONObject(mapOf("providers" to providers)).toString())
    val resolver = object : EntityResolver {
        override fun resolve(orgId: String, userId: String, kind: String, name: String): String? =
            if (name == "Acme Renewal") THREAD_DEAL else null
    }
    val sweep = JSONObject(threads.sweep(llm, null, resolver))
    val extraction = sweep.getJSONArray("threads").getJSONObject(0)
    println("sweep: ${sweep["claimed"]} claimed, ${sweep["extracted"]} extracted through ${extraction["extractedThrough"]}")
    println("  summary: ${extraction["summary"]}")
    for (e in extraction.getJSONArray("entities").map { it as JSONObject }) {
        println("  ${e["entityType"]} ${e["name"]}: ${if (e.isNull("entityId")) "kept as text" else "resolved"}")
    }

    val memory = db.conversations()
    val web = JSONObject(memory.contextForUser(THREAD_ORG, REP, """{"message": "Where does the Acme Renewal stand?", "channel": "web"}"""))
    for (chosen in web.getJSONArray("entries").map { it as JSONObject }) {
        val entry = chosen.getJSONObject("entry")
        println("web sees (${chosen["score"]}): ${entry["channel"]} ${entry["entityType"]} ${entry["entityName"]}")
    }
    val forgotten = JSONObject(memory.forgetContext(THREAD_ORG, REP, "deal", THREAD_DEAL))
    println("forgot the deal: ${forgotten["removed"]} row(s)")
    for (item in JSONArray(threads.history(THREAD_ORG, id, """{"limit": 2}""")).map { it as JSONObject }) {
        println("  [${item["seq"]}] ${item["role"]}: ${item["content"]}")
    }
    try {
        threads.history(THREAD_ORG, id, """{"limit": 0}""")
    } catch (e: KeelException) {
        println("refused: ${e.info.code} (${e.info.field})")
    }
    // --8<-- [end:threads]
    db.shutdown()
}
