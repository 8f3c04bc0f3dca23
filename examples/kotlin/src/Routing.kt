// Message routing: one `route` for web and Slack, from the cache through rules and the skill
// index, every decision logged off the response path.
//
// The same scenario runs in examples/rust/routing.rs, examples/python/routing.py and
// examples/node/routing.mjs. Run from the repository's root folder (it syncs `skills/`).

import dev.keel.Keel
import java.util.Locale
import java.util.UUID
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject

val MESSAGES = listOf(
    "web" to "What's the status of the Globex deal?",
    "slack" to "how do we win against Rivalsoft?",
    "web" to "thanks!",
    "web" to "what's the weather in Paris?",
    "web" to "what's the STATUS of the globex deal?",
)

/** `text` quoted as Python's `repr` quotes it (the other languages print the same line). */
fun repr(text: String): String = if ('\'' in text) "\"$text\"" else "'$text'"

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    val org = UUID.randomUUID().toString()
    // --8<-- [start:routing]
    val db = Keel.connect(url)
    val skills = db.skillRegistry()
    skills.sync("skills")
    val router = skills.messageRouter()
    for ((channel, message) in MESSAGES) {
        val d = JSONObject(router.route(message, channel, org, "rep-7"))
        val how = when {
            d.getBoolean("cached") -> "cache"
            d.getBoolean("outOfScope") -> "out of scope"
            else -> d.getString("stage")
        }
        val confidence = "%.2f".format(Locale.ROOT, d.getDouble("confidence"))
        println("${channel.padEnd(5)} ${repr(message).padEnd(42)} -> ${d["route"]} ($confidence, $how)")
    }
    // On a hot path, tryRoute answers without suspending when nothing needs waiting for.
    val hit = router.tryRoute("What's the status of the Globex deal?", "web", org)?.let(::JSONObject)
    if (hit != null) println("without waiting: ${hit["route"]} (cached: ${hit["cached"]})")
    router.flush() // decisions are logged off the response path
    val rows = JSONArray(router.log(org)).map { it as JSONObject }
    println("routing_logs: ${rows.size} decisions, ${rows.count { it.getBoolean("cached") }} from the cache")
    db.shutdown()
    // --8<-- [end:routing]
}
