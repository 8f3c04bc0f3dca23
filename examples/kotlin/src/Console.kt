// The operator console's reads and actions by name, what `keel serve` answers, for a
// platform's own admin pages: the queue's backlog over time, the abandoned letters, an action
// refused on a read-only console, then run and logged with its actor on one that allows it.
//
// The same scenario runs in examples/rust/console.rs, examples/python/console.py and
// examples/node/console.mjs.

import dev.keel.Keel
import dev.keel.KeelException
import dev.keel.consoleActions
import dev.keel.consoleReads
import dev.keel.info
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject

private const val CONSOLE_ORG = "00000000-0000-4000-8000-0000000000a1"

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    // --8<-- [start:console]
    val db = Keel.connect(url)
    val items = (0 until 6).map { i ->
        mapOf("orgId" to CONSOLE_ORG, "sourceAgent" to "deal-risk", "itemType" to "deal_risk", "title" to "item $i", "queuePriority" to i % 3)
    }
    db.queue().enqueue(JSONArray(items).toString())
    val letters = db.deadLetters()
    val letter = JSONObject(letters.enqueue("""{"agentName": "crm-sync", "orgId": "$CONSOLE_ORG", "errors": [{"message": "HTTP 401"}]}"""))
    val id = letter.getString("id")
    letters.abandon(id, """{"reason": "the token was revoked"}""")
    println("${consoleReads().size} reads, ${consoleActions().size} actions")

    var console = db.console()
    val history = JSONObject(console.call("queue_history", """{"hours": 1, "points": 5}"""))
    val backlog = history.getJSONArray("lanes").map { (it as JSONObject).getJSONArray("backlog")[4] }
    println("backlog per lane now: [${backlog.joinToString(", ")}]")
    val abandoned = JSONArray(console.call("letters", """{"status": ["abandoned"]}"""))
    println("abandoned letters: ${abandoned.length()}")
    try {
        console.call("redrive_letter", """{"id": "$id", "actor": "ann"}""")
    } catch (e: KeelException) {
        println("read-only: ${e.info.code} on ${e.info.field}")
    }

    console = db.console("""{"allowActions": true}""")
    val redriven = JSONObject(console.call("redrive_letter", """{"id": "$id", "actor": "ann"}"""))
    println("redriven: ${redriven["status"]}")
    val logged = JSONObject(console.call("logs", """{"text": "console.action"}"""))
    val action = logged.getJSONArray("events").getJSONObject(0).getJSONObject("metadata")
    println("logged: ${action["operation"]} by ${action["actor"]}")
    db.shutdown()
    // --8<-- [end:console]
}
