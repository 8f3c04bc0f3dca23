// One soak worker in Kotlin: the platform loop of soak/README.md until SIGTERM, the same loop as
// soak/worker.py, soak/worker.mjs and soak/worker.rs, journaled one JSON line per operation.
// Compiled with examples/kotlin (its pom.xml adds this folder); soak/run.py starts it as
//
//     java -Djna.library.path=target/debug -cp … dev.keel.soak.WorkerKt '{"id": "ko-1", …}'
package dev.keel.soak

import dev.keel.AgentFailure
import dev.keel.Keel
import dev.keel.KeelException
import dev.keel.info
import dev.keel.runAgent
import dev.keel.workOnce
import java.io.File
import java.util.Random
import kotlinx.coroutines.delay
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import sun.misc.Signal

@Volatile
private var stopping = false

/** One JSON line per operation, appended at once, so a killed worker's record ends where it died. */
private class Journal(path: String) {
    private val file = File(path)

    fun write(op: String, startedNs: Long, ok: Boolean, code: String? = null, extra: Map<String, Any?> = emptyMap()) {
        val ms = Math.round((System.nanoTime() - startedNs) / 1_000.0) / 1_000.0
        val line = JSONObject(mapOf("op" to op, "ms" to ms, "ok" to ok) + extra).put("code", code ?: JSONObject.NULL)
        file.appendText(line.toString() + "\n")
    }
}

private fun json(vararg fields: Pair<String, Any?>): String = JSONObject(mapOf(*fields)).toString()

fun main(args: Array<String>) = runBlocking {
    val cfg = JSONObject(args[0])
    val name = "${cfg.getString("id")}.${cfg.getInt("incarnation")}"
    val rng = Random("${cfg["seed"]}-${cfg["id"]}-${cfg["incarnation"]}".hashCode().toLong())
    fun <T> choice(list: List<T>): T = list[rng.nextInt(list.size)]
    val journal = Journal(cfg.getString("out"))
    // SIGTERM ends the loop; the worker then flushes and exits 0.
    Signal.handle(Signal("TERM")) { stopping = true }

    val db = Keel.connectWith(cfg.getString("url"), json("maxConnections" to 4))
    val log = db.createLogger("soak-$name")
    val base = cfg.getString("base_url")
    val paths = mapOf("anthropic" to "", "google" to "", "openai" to "/v1")
    val router = db.modelRouter(json("cooldown" to cfg.getDouble("cooldown_ms") / 1000, "probeTimeout" to cfg.getDouble("probe_timeout_ms") / 1000))
    val providers = paths.mapValues { (_, path) -> mapOf("baseUrl" to base + path) }
    val llm = router.llm(json("providers" to providers, "attemptTimeout" to 1.5, "deadline" to 6.0))
    val routes = db.skillRegistry(json("staleness" to 1.0)).messageRouter()
    val store = db.conversations()
    val dedup = db.dedup()
    val queue = db.queue(json("leaseMs" to cfg.getInt("lease_ms"), "retryDelayMs" to 200))
    val fleet = db.fleet(json("webhookUrl" to "$base/services/T0/B0/soak"))
    val runs = db.runs()
    val letters = db.deadLetters()
    val limiter = db.sharedLimiter()
    val limits = listOf(mapOf("provider" to "crm", "limit" to cfg.getInt("rate_limit"), "periodMs" to 1000, "burst" to cfg.getInt("rate_burst")))

    suspend fun <T> op(kind: String, extra: Map<String, Any?> = emptyMap(), call: suspend () -> T): T? {
        val started = System.nanoTime()
        return try {
            call().also { journal.write(kind, started, true, null, extra) }
        } catch (e: KeelException) {
            journal.write(kind, started, false, e.info.code, extra)
            null
        } catch (e: Exception) { // an executor's own failure surfaces as itself
            journal.write(kind, started, false, e.javaClass.simpleName, extra)
            null
        }
    }

    suspend fun handleQueue() {
        val claimed = op("claim") { JSONArray(queue.claim(name, json("n" to 4))) } ?: return
        for (item in claimed.map { it as JSONObject }) {
            // The CRM's quota is shared by every worker: over it, the item waits its turn.
            val org = item.getString("orgId")
            val token = item.getLong("leaseToken").toULong()
            val acquisition = json("orgId" to org, "providers" to listOf("crm"), "limits" to limits)
            val decision = op("acquire") { JSONObject(limiter.acquire(acquisition)) }
                ?: continue // the lease runs out and a sweep puts the item back
            if (!decision.getBoolean("allowed")) {
                op("defer") { queue.defer(item.getString("id"), token, decision.getLong("retryAfterMs")) }
                continue
            }
            journal.write("allowed", System.nanoTime(), true, null, mapOf("org" to org, "at" to System.currentTimeMillis()))
            delay((rng.nextDouble() * 20).toLong()) // the enrichment itself
            val acked = op("complete", mapOf("item" to item["id"])) { queue.complete(item.getString("id"), token) }
            if (acked != null) journal.write("ack", System.nanoTime(), acked, null, mapOf("item" to item["id"], "token" to item["leaseToken"]))
        }
    }

    val orgs = cfg.getJSONArray("orgs").map { it as String }
    val messages = cfg.getJSONArray("messages").map { it as String }
    val words = cfg.getJSONArray("words").map { it as String }
    var n = 0
    var lastHealth: Long? = null
    while (!stopping) {
        n += 1
        val org = choice(orgs)
        val conv = choice(cfg.getJSONObject("conversations").getJSONArray(org).map { it as String })
        val channel = choice(listOf("web", "slack"))
        val message = choice(messages)
        val decided = op("route") { JSONObject(routes.route(message, channel, org, "rep-1")) }
        val key = "$name-$n"
        val ask = json("feature" to "copilot", "orgId" to org, "idempotencyKey" to key, "messages" to listOf(mapOf("role" to "user", "content" to message)))
        val done = op("llm", mapOf("key" to key, "org" to org)) { JSONObject(llm.complete(ask)) }
        val reply = done?.getString("text") ?: "(no answer)"
        val turn = JSONArray(listOf(mapOf("role" to "user", "content" to message), mapOf("role" to "assistant", "content" to reply))).toString()
        val appended = op("append") { JSONObject(store.append(org, conv, turn)) }
        if (appended != null && appended.getInt("totalTokens") > cfg.getInt("compact_above") && rng.nextDouble() < 0.1) {
            op("compact") { store.compact(org, conv, llm, json("threshold" to cfg.getInt("compact_above"))) }
        }
        if (n % 3 == 0) {
            val fate = rng.nextDouble()
            val transient = mapOf("maxAttempts" to 2, "backoff" to mapOf("baseMs" to 10, "capMs" to 20))
            val config = json(
                "agentName" to cfg.getString("agent"),
                "orgId" to org,
                "maxRetries" to 1,
                "policy" to mapOf("kinds" to mapOf("transient" to transient)),
                "idempotencyKey" to key,
            )
            op("agent") {
                db.runAgent(config) { ctx ->
                    if (fate < 0.3 && ctx.attempt() == 1u) throw AgentFailure("CRM unavailable", status = 503)
                    if (fate > 0.93) throw AgentFailure("CRM down for good", status = 503)
                    json("scored" to 1)
                }
            }
        }
        val title = (1..5).joinToString(" ") { choice(words) }
        val deal = org.take(24) + "%012x".format(rng.nextInt(5000)) // one of the org's 5,000 deals: a dedup key each
        val item = mapOf("orgId" to org, "sourceAgent" to cfg.getString("agent"), "itemType" to "deal_risk", "title" to title, "dealId" to deal)
        val checked = op("enqueue") { JSONArray(dedup.enqueue(JSONArray(listOf(item)).toString())) }
        if (checked != null && checked.length() > 0) {
            val first = checked.getJSONObject(0)
            journal.write("enqueued", System.nanoTime(), true, null, mapOf("item" to first["id"], "verdict" to first["verdict"]))
        }
        handleQueue()
        log.info("soak.iteration", json("n" to n, "route" to (decided?.get("route") ?: JSONObject.NULL)))
        if (lastHealth == null || System.nanoTime() - lastHealth > cfg.getDouble("health_every") * 1e9) {
            lastHealth = System.nanoTime()
            op("sweep") { queue.sweep() }
            op("health") { fleet.checkFleetHealth() }
            op("letters") {
                letters.workOnce(json("backoff" to mapOf("baseMs" to 200, "capMs" to 1000))) { replay ->
                    // Half the letters replay cleanly; the others fail until they are abandoned.
                    if (JSONObject(replay).getString("id").last().digitToInt(16) % 2 == 1) throw AgentFailure("still down", status = 503)
                    null
                }
            }
        }
    }

    // A clean stop: what this incarnation emitted, wrote and dropped.
    log.flush()
    runs.flush()
    routes.flush()
    val stats = JSONObject(log.stats())
    val stopped = mapOf("emitted" to n, "accepted" to stats["accepted"], "written" to stats["written"], "dropped" to stats["dropped"])
    journal.write("stopped", System.nanoTime(), true, null, stopped)
    db.shutdown()
}
