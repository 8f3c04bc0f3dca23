// Backpressure: a burst of Command Centre items in four lanes, a worker with bounded
// concurrency, a provider whose shared quota defers what it cannot take (without spending an
// attempt), and the queue's health.
//
// The same scenario runs in examples/rust/queue.rs, examples/python/queue.py and
// examples/node/queue.mjs.

import dev.keel.Keel
import dev.keel.work
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject

const val ORG = "00000000-0000-4000-8000-0000000000a1"

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    // --8<-- [start:queue]
    val db = Keel.connect(url)
    val queue = db.queue()
    val limiter = db.sharedLimiter()
    val items = (0 until 12).map { i ->
        mapOf(
            "orgId" to ORG,
            "sourceAgent" to "deal-risk",
            "itemType" to if (i % 3 == 0) "outreach" else "deal_risk",
            "title" to "item $i",
            "queuePriority" to i % 4,
        )
    }
    queue.enqueue(JSONArray(items).toString())
    var health = JSONObject(queue.health())
    val due = health.getJSONArray("lanes").map { (it as JSONObject).getInt("depth") }
    println("enqueued 12: due per lane $due, mode ${health["mode"]}")

    val hubspot = listOf(mapOf("provider" to "hubspot", "limit" to 2, "periodMs" to 3_600_000, "burst" to 2))
    val handled = AtomicInteger()
    val session = queue.session(JSONObject(mapOf("concurrency" to 3)).toString())
    val report = JSONObject(
        queue.work(session = session) { text ->
            val item = JSONObject(text)
            if (handled.incrementAndGet() == items.size) session.stop()
            if (item["itemType"] == "outreach") {
                val acquisition = mapOf("orgId" to item["orgId"], "providers" to listOf("hubspot"), "limits" to hubspot)
                val decision = JSONObject(limiter.acquire(JSONObject(acquisition).toString()))
                if (!decision.getBoolean("allowed")) {
                    return@work JSONObject(mapOf("deferMs" to decision.getLong("retryAfterMs"))).toString()
                }
            }
            JSONObject(mapOf("enriched" to true)).toString()
        },
    )
    println("worker: ${report["claimed"]} claimed, ${report["completed"]} completed, ${report["deferred"]} deferred, ${report["failed"]} failed")
    health = JSONObject(queue.health())
    val delayed = health.getJSONArray("lanes").sumOf { (it as JSONObject).getInt("delayed") }
    println("health: mode ${health["mode"]}, ${health["depth"]} due, $delayed delayed, ${health["inFlight"]} in flight")
    db.shutdown()
    // --8<-- [end:queue]
}
