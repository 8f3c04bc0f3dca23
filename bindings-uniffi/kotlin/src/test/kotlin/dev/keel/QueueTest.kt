package dev.keel

import java.util.Collections
import java.util.UUID
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** The Command Centre queue and the rate limiters from Kotlin on both backends: concurrent
 * claimers taking each item once, fencing, defer and fail, typed errors naming the field,
 * `Queue.work` with handlers that complete, defer and throw, stopped and cancelled with the
 * running items recorded, the limiters, and the shared GCRA vectors. */
class QueueTest {
    private val org = UUID.randomUUID().toString()

    /** `n` new items over the four lanes, titled `title(i)`. */
    private fun items(n: Int, title: (Int) -> String = { "item $it" }): String = JSONArray(
        (0 until n).map { i ->
            mapOf("orgId" to org, "sourceAgent" to "kotlin", "itemType" to "deal_update", "title" to title(i), "queuePriority" to i % 4)
        },
    ).toString()

    private fun ids(json: String): List<String> = JSONArray(json).map { it as String }

    private fun withQueue(options: String? = null, block: suspend CoroutineScope.(Keel, Queue) -> Unit) = runBlocking {
        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            try {
                block(db, db.queue(options))
            } finally {
                db.shutdown()
            }
        }
    }

    @Test
    fun concurrentClaimersTakeEachItemOnce() = withQueue { _, queue ->
        val enqueued = ids(queue.enqueue(items(200)))
        assertEquals(200, enqueued.toSet().size)
        val done = Collections.synchronizedList(mutableListOf<String>())
        (0 until 4).map { w ->
            async(Dispatchers.IO) {
                while (true) {
                    val claimed = JSONArray(queue.claim("kotlin-$w", json("n" to 10)))
                    if (claimed.length() == 0) break
                    val leases = (0 until claimed.length()).map { i ->
                        claimed.getJSONObject(i).let { mapOf("id" to it.getString("id"), "leaseToken" to it.getLong("leaseToken")) }
                    }
                    done += ids(queue.completeAll(JSONArray(leases).toString()))
                }
            }
        }.awaitAll()
        assertEquals(enqueued.toSet(), done.toSet())
        assertEquals(200, done.size, "no item completed twice")
        val health = JSONObject(queue.health())
        assertEquals(0, health.getInt("depth"))
        assertEquals(0, health.getInt("inFlight"))
    }

    @Test
    fun aStaleLeaseCannotChangeAnItem() = withQueue { _, queue ->
        val (id) = ids(queue.enqueue(items(1)))
        val item = JSONArray(queue.claim("kotlin")).getJSONObject(0)
        assertEquals(id, item.getString("id"))
        assertEquals("processing", item.getString("enrichmentStatus"))
        assertEquals(1, item.getInt("processingAttempts"))
        val token = item.getLong("leaseToken").toULong()
        assertTrue(queue.extend(id, token, json("leaseMs" to 60_000)))
        assertFalse(queue.complete(id, token + 1u), "another token")
        assertTrue(queue.defer(id, token, 60_000), "put back without an attempt")
        assertFalse(queue.complete(id, token), "the deferred lease is gone")
        val deferred = JSONObject(queue.get(id)!!)
        assertEquals("pending", deferred.getString("enrichmentStatus"))
        assertEquals(0, JSONArray(queue.claim("kotlin")).length(), "not due for a minute")

        val (other) = ids(queue.enqueue(items(1)))
        val claimed = JSONArray(queue.claim("kotlin")).getJSONObject(0)
        val failed = JSONObject(queue.fail(other, claimed.getLong("leaseToken").toULong(), "the CRM refused it", json("retryable" to false))!!)
        assertEquals("failed", failed.getString("enrichmentStatus"))
        assertEquals("the CRM refused it", failed.getString("failureReason"))
        assertNull(queue.fail(other, claimed.getLong("leaseToken").toULong(), "again"))
        assertNull(queue.get(UUID.randomUUID().toString()))
    }

    @Test
    fun badArgumentsAreTypedErrorsNamingTheField() = withQueue { db, queue ->
        val lane = assertThrows<KeelException.InvalidInput> {
            queue.enqueue(JSONArray(listOf(mapOf("orgId" to org, "sourceAgent" to "k", "itemType" to "t", "title" to "x", "queuePriority" to 7))).toString())
        }
        assertEquals("items[0].queuePriority", lane.field)
        assertEquals("orgId", assertThrows<KeelException.InvalidInput> { queue.enqueue("""[{"sourceAgent": "k", "itemType": "t", "title": "x"}]""") }.field?.substringAfterLast('.'))
        assertEquals("options", assertThrows<KeelException.InvalidInput> { queue.claim("w", "[1]") }.field)
        assertEquals("delayMs", assertThrows<KeelException.InvalidInput> { queue.defer(UUID.randomUUID().toString(), 1u, -5) }.field)
        assertEquals("id", assertThrows<KeelException.InvalidInput> { queue.complete("not-a-uuid", 1u) }.field)
        assertEquals("options.leaseMs", assertThrows<KeelException.InvalidInput> { db.queue(json("leaseMs" to 0)) }.field)
        assertEquals("options.concurrency", assertThrows<KeelException.InvalidInput> { queue.session(json("concurrency" to 0)) }.field)
        assertEquals("limit", assertThrows<KeelException.InvalidInput> { LocalLimiter().check("k", json("limit" to 0)) }.field?.substringAfterLast('.'))
    }

    @Test
    fun aWorkerRunsHandlersAndStopsCleanly() = withQueue { _, queue ->
        queue.enqueue(items(40) { i -> if (i % 10 == 3) "throws $i" else if (i % 10 == 7) "defers $i" else "ok $i" })
        val session = queue.session(json("concurrency" to 4, "pollMs" to 20))
        val seen = Collections.synchronizedSet(mutableSetOf<String>())
        val worker = async(Dispatchers.IO) {
            queue.work(session = session) { item ->
                val title = JSONObject(item).getString("title")
                check(seen.add(title)) { "$title handed out twice" }
                when {
                    title.startsWith("throws") -> throw IllegalStateException("no CRM record for $title")
                    title.startsWith("defers") -> json("deferMs" to 60_000)
                    else -> json("enriched" to title)
                }
            }
        }
        withTimeout(30_000) {
            while (seen.size < 40) delay(20)
        }
        session.stop()
        val report = JSONObject(withTimeout(30_000) { worker.await() })
        assertEquals(40, report.getInt("claimed"), "$report")
        assertEquals(4, report.getInt("deferred"), "$report")
        assertEquals(4, report.getInt("failed"), "$report")
        assertEquals(32, report.getInt("completed"), "$report")
        val health = JSONObject(queue.health())
        assertEquals(0, health.getInt("inFlight"), "every outcome written before work returned")
        // 4 deferred for a minute, 4 retrying after their backoff: none due yet.
        assertEquals(0, health.getInt("depth"), "$health")
        val lanes = health.getJSONArray("lanes")
        assertEquals(8, (0 until lanes.length()).sumOf { lanes.getJSONObject(it).getInt("delayed") }, "$health")
    }

    @Test
    fun cancellingAWorkerRecordsTheRunningItems() = withQueue { _, queue ->
        queue.enqueue(items(6))
        val started = Collections.synchronizedList(mutableListOf<String>())
        val worker = launch(Dispatchers.IO) {
            queue.work(json("concurrency" to 3, "pollMs" to 20)) { item ->
                started += JSONObject(item).getString("id")
                delay(300)
                null
            }
        }
        withTimeout(30_000) {
            while (started.size < 3) delay(10)
        }
        withTimeout(30_000) { worker.cancelAndJoin() }
        assertTrue(worker.isCancelled)
        val health = JSONObject(queue.health())
        assertEquals(0, health.getInt("inFlight"), "the running handlers finished and were recorded: $health")
        for (id in started.toList()) {
            assertEquals("enriched", JSONObject(queue.get(id)!!).getString("enrichmentStatus"), id)
        }
        assertEquals(6 - started.size, health.getInt("depth"), "nothing claimed after the cancellation")
    }

    @Test
    fun limitersDecideLocallyAndInTheDatabase() = runBlocking {
        val local = LocalLimiter(json("capacity" to 16))
        val limit = json("limit" to 2, "periodMs" to 60_000, "burst" to 2)
        val local1 = JSONObject(local.check("hubspot:$org", limit))
        assertTrue(local1.getBoolean("allowed"))
        assertEquals(1, local1.getInt("remaining"))
        assertTrue(JSONObject(local.check("hubspot:$org", limit)).getBoolean("allowed"))
        val refused = JSONObject(local.check("hubspot:$org", limit))
        assertFalse(refused.getBoolean("allowed"))
        assertTrue(refused.getLong("retryAfterMs") > 0)
        assertEquals(1uL, local.keys())
        // All or none: the calendar key is spent, so the CRM key is not.
        val both = json("keys" to listOf(mapOf("key" to "crm", "limit" to 5), mapOf("key" to "hubspot:$org", "limit" to 2, "periodMs" to 60_000, "burst" to 2)))
        assertFalse(JSONObject(local.acquire(both)).getBoolean("allowed"))
        assertTrue(JSONObject(local.check("crm", json("limit" to 5, "burst" to 1))).getBoolean("allowed"))

        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            val shared = db.sharedLimiter()
            val decisions = (0 until 3).map { JSONObject(shared.check("slack:$org", limit)).getBoolean("allowed") }
            assertEquals(listOf(true, true, false), decisions, url)
            // A second handle on the same database obeys the same quota.
            val other = Keel.connect(url)
            assertFalse(JSONObject(other.sharedLimiter().check("slack:$org", limit)).getBoolean("allowed"), url)
            other.shutdown()
            db.shutdown()
        }
    }

    @Test
    fun rateLimitDecisionsMatchTheVectors() {
        for (case in Vectors.load("rate_limit_decisions.json")) {
            val name = case.getString("name")
            val input = Vectors.camelKeys(case.getJSONObject("input")).toString()
            if (case.has("expected_error_code")) {
                val error = keelError(name) { rateLimitDecide(input) }
                assertEquals(case.getString("expected_error_code"), error.info.code, name)
                assertEquals(Vectors.camel(case.getString("expected_error_field")), error.info.field?.let(Vectors::camel), name)
                continue
            }
            val want = Vectors.camelKeys(case.getJSONObject("expected")) as JSONObject
            val got = JSONObject(rateLimitDecide(input))
            assertTrue(want.getJSONObject("decision").similar(got.getJSONObject("decision")), "$name: expected $want, got $got")
            // As doubles: org.json keeps the vector's digits as a BigDecimal.
            assertEquals(want.getDouble("tatMs"), got.getDouble("tatMs"), name)
        }
    }
}
