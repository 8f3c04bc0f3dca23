// LLM calls: one `complete` that resolves, budgets, calls, falls back, records and logs; a
// stream as a Flow; summaries and embeddings; a request refused before any I/O.
//
// The same scenario runs in examples/rust/llm.rs, examples/python/llm.py and
// examples/node/llm.mjs. KEEL_LLM_BASE_URL points every provider at one server (`keel
// loopback`); without it, the providers' own URLs and the usual API-key variables.

import dev.keel.Keel
import dev.keel.KeelException
import dev.keel.code
import dev.keel.streamFlow
import java.util.Locale
import java.util.UUID
import kotlinx.coroutines.flow.filter
import kotlinx.coroutines.flow.fold
import kotlinx.coroutines.flow.map
import kotlinx.coroutines.runBlocking
import org.json.JSONObject

/** A JSON object's text. */
fun json(vararg fields: Pair<String, Any?>): String = JSONObject(mapOf(*fields)).toString()

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    val base = System.getenv("KEEL_LLM_BASE_URL")
    val org = UUID.randomUUID().toString()
    // --8<-- [start:llm]
    val db = Keel.connect(url)
    val router = db.modelRouter()
    val paths = mapOf("anthropic" to "", "google" to "", "openai" to "/v1")
    val providers = if (base == null) emptyMap() else paths.mapValues { (_, path) -> mapOf("baseUrl" to base + path) }
    val llm = router.llm(json("providers" to providers))
    router.grantCredits(org, 10.0)

    val question = listOf(mapOf("role" to "user", "content" to "How do I prep for my Acme meeting?"))
    val done = JSONObject(
        llm.complete(
            json(
                "feature" to "copilot", "tier" to "low", "orgId" to org,
                "system" to "Answer in one line.", "messages" to question,
            ),
        ),
    )
    println("${done["provider"]}/${done["model"]}: ${done["text"]}")
    val usage = done.getJSONObject("usage")
    val credits = "%.6f".format(Locale.ROOT, done.getDouble("creditsCharged"))
    println(
        "${done.getJSONArray("attempts").length()} attempt(s), ${usage["inputTokens"]} in / " +
            "${usage["outputTokens"]} out tokens, $credits credits",
    )

    val summarise = listOf(mapOf("role" to "user", "content" to "Summarise the deal."))
    val text = llm.streamFlow(json("feature" to "copilot", "messages" to summarise))
        .map(::JSONObject)
        .filter { it["event"] == "delta" && it["type"] == "text" }
        .fold("") { text, event -> text + event.getString("text") }
    println("streamed: $text")

    val thread = "Acme asked for five more seats; legal wants the DPA before Friday."
    val summary = JSONObject(llm.summarize(json("feature" to "copilot", "text" to thread)))
    println("summary: ${summary["text"]}")
    val texts = listOf("Acme renewal", "DPA review")
    val embedded = JSONObject(llm.embed(json("provider" to "google", "texts" to texts, "dimensions" to 4)))
    println(
        "embedded ${embedded.getJSONArray("vectors").length()} texts into ${embedded["dimensions"]} " +
            "dimensions with ${embedded["model"]}",
    )

    try {
        val hi = listOf(mapOf("role" to "user", "content" to "hi"))
        llm.complete(json("feature" to "copilot", "maxTokens" to 0, "messages" to hi))
    } catch (err: KeelException) {
        println("refused before any request: ${err.code}") // err.field: maxTokens
    }
    db.shutdown()
    // --8<-- [end:llm]
}
