// Slack's Web API: a thread read page by page and turned into messages, Events API payloads
// (an edit, a deletion, an event that is not a message), a post into the thread, a user, and
// a timestamp refused before any request.
//
// The same scenario runs in examples/rust/slack.rs, examples/python/slack.py and
// examples/node/slack.mjs.

import dev.keel.Keel
import dev.keel.KeelException
import dev.keel.info
import dev.keel.slackIngest
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject

/** An Events API payload carrying one message event. */
private fun event(vararg fields: Pair<String, Any>) =
    mapOf("type" to "event_callback", "event" to mapOf("type" to "message", "channel" to "C0123", *fields))

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    // A local server (`keel loopback`) when set; else Slack itself, with your bot's token.
    val base = System.getenv("KEEL_LLM_BASE_URL")
    val channel = System.getenv("SLACK_CHANNEL") ?: "C0123"
    val threadTs = System.getenv("SLACK_THREAD_TS") ?: "1712345678.000100"
    // --8<-- [start:slack]
    val db = Keel.connect(url)
    val options = mutableMapOf<String, Any>("token" to (System.getenv("SLACK_BOT_TOKEN") ?: "xoxb-example"), "workspace" to "T0123")
    if (base != null) options["baseUrl"] = "$base/api"
    val slack = db.slack(JSONObject(options).toString())

    val thread = slack.replies(channel, threadTs) // every page, following the cursor
    val got = JSONObject(slackIngest(thread, """{"botUserId": "UBOT"}"""))
    val messages = got.getJSONArray("messages").map { it as JSONObject }
    println("thread: ${JSONArray(thread).length()} read, ${messages.size} messages, ${got.getJSONArray("skipped").length()} skipped")
    for (m in messages.take(2)) println("  ${m["role"]}: ${m["text"]}")

    val payloads = listOf(
        event("user" to "U1", "text" to "Acme wants five more seats", "ts" to "1712346000.000100"),
        event("user" to "U2", "text" to "", "ts" to "1712346001.000100", "files" to listOf(mapOf("name" to "dpa.pdf"))),
        event("subtype" to "message_changed", "message" to mapOf("user" to "U1", "text" to "Acme wants six more seats", "ts" to "1712346000.000100")),
        event("subtype" to "message_deleted", "deleted_ts" to "1712346001.000100"),
        mapOf("type" to "event_callback", "event" to mapOf("type" to "reaction_added", "reaction" to "eyes")),
    )
    val events = JSONObject(slackIngest(JSONArray(payloads).toString()))
    val texts = events.getJSONArray("messages").joinToString("; ") { (it as JSONObject).getString("text") }
    println("events: $texts (${events["edits"]} edit, ${events.getJSONArray("deleted").length()} deleted)")
    for (skipped in events.getJSONArray("skipped").map { it as JSONObject }) {
        println("  skipped #${skipped["index"]}: ${skipped["reason"]}")
    }

    val posted = JSONObject(slack.postMessage(channel, "Acme: legal review by Friday.", JSONObject(mapOf("threadTs" to threadTs)).toString()))
    println("posted into the thread in ${posted["channel"]}")
    val user = JSONObject(slack.user("U1"))
    println("U1 is ${user["displayName"]}")
    try {
        slack.update(channel, "yesterday", "edited")
    } catch (e: KeelException) {
        println("refused before any request: ${e.info.code} (${e.info.field})")
    }
    // --8<-- [end:slack]
    db.shutdown()
}
