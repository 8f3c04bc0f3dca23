package dev.keel

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Deduplication from Kotlin on both backends, as Node's and Python's suites run it: later
 * reports merged into the first (each agent once, escalated once), near-duplicates found by
 * the enrichment-stage check of an item in flight, the post-scoring merge, the sweep, a
 * hundred identical events at once making one primary, and bad input named by field. */
class DedupTest {
    private val org = "00000000-0000-4000-8000-00000000000a"
    private val deal = "00000000-0000-4000-8000-0000000000d1"

    /** A report of `agent` about the Acme deal, `context` added to its action. */
    private fun report(agent: String, title: String = "Acme renewal at risk", vararg context: Pair<String, Any>): JSONObject =
        JSONObject(
            mapOf(
                "orgId" to org, "sourceAgent" to agent, "itemType" to "deal_risk", "title" to title, "dealId" to deal,
                "context" to mapOf("action_type" to "call", *context),
            ),
        )

    private fun batch(vararg reports: JSONObject): String = JSONArray(reports.toList()).toString()

    private fun withDedup(block: suspend CoroutineScope.(Keel, Dedup) -> Unit) = runBlocking {
        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            try {
                block(db, db.dedup())
            } finally {
                db.shutdown()
            }
        }
    }

    @Test
    fun laterReportsMergeIntoTheFirst() = withDedup { _, dedup ->
        val got = JSONArray(
            dedup.enqueue(
                batch(
                    report("deal-risk", context = *arrayOf("confidence" to 0.5, "evidence" to listOf("no reply"))),
                    report("email", context = *arrayOf("confidence" to 0.5, "evidence" to listOf("no reply"))),
                    report("calendar", context = *arrayOf("confidence" to 0.2)),
                ),
            ),
        ).map { it as JSONObject }
        assertEquals(listOf("primary", "merged", "merged"), got.map { it.getString("verdict") })
        assertEquals(listOf(false, false, true), got.map { it.getBoolean("escalated") })
        val group = JSONObject(dedup.group(got[0].getString("id"))!!)
        assertEquals(listOf("deal-risk", "email", "calendar"), group.getJSONArray("contributingAgents").toList())
        assertEquals(listOf(got[1].getString("id"), got[2].getString("id")), group.getJSONArray("mergedFrom").toList())
        assertEquals(1 - 0.5 * 0.5 * 0.8, group.getDouble("mergedConfidence"), 1e-4)
        assertEquals(1, group.getInt("queuePriority"))
        val counts = JSONObject(dedup.counts(org))
        assertEquals(listOf(1, 2, 1), listOf("primaries", "suppressed", "escalated").map { counts.getInt(it) })
        assertNull(dedup.group(got[1].getString("id")), "a merged item leads no group")
    }

    @Test
    fun nearDuplicatesInFlightChecksScoringAndTheSweep() = withDedup { db, dedup ->
        val text = "Acme renewal is at risk because the champion stopped replying after the pricing call"
        val first = JSONArray(dedup.enqueue(batch(report("deal-risk", text)))).getJSONObject(0)
        val queue = db.queue()
        queue.enqueue(batch(report("email", "$text last week", "action_type" to "email")))
        val held = JSONArray(queue.claim("w1", json("n" to 5))).map { it as JSONObject }.first { it.getString("sourceAgent") == "email" }
        assertEquals("in_flight", JSONObject(dedup.check(held.getString("id"))).getString("verdict"))
        val checked = JSONObject(dedup.check(held.getString("id"), json("leaseToken" to held.getLong("leaseToken"))))
        assertEquals("near_merged", checked.getString("verdict"))
        assertEquals(first.getString("id"), checked.getString("primaryId"))
        assertFalse(JSONObject(dedup.score(first.getString("id"), 0.8)).getBoolean("approved"))
        queue.enqueue(batch(report("c", "Globex wants a demo", "action_type" to "email")))
        val dry = JSONObject(dedup.sweep(json("dryRun" to true)))
        assertTrue(dry.getBoolean("dryRun"))
        assertEquals(1, dry.getInt("checked"))
        assertEquals(0, dry.getInt("primaries"), "a dry run changes nothing")
        assertEquals(1, JSONObject(dedup.sweep()).getInt("primaries"))
        assertEquals(0, JSONObject(dedup.sweep()).getInt("checked"))
    }

    @Test
    fun aHundredIdenticalEventsAtOnceMakeOnePrimary() = withDedup { _, dedup ->
        val verdicts = (0 until 100).map { i ->
            async(Dispatchers.IO) { JSONArray(dedup.enqueue(batch(report("agent-${i % 5}")))).getJSONObject(0).getString("verdict") }
        }.awaitAll()
        assertEquals(1, verdicts.count { it == "primary" })
        assertEquals(99, verdicts.count { it == "merged" })
    }

    @Test
    fun badInputIsNamed() = withDedup { db, dedup ->
        val id = "00000000-0000-4000-8000-000000000001"
        assertEquals("confidence", assertThrows<KeelException.InvalidInput> { dedup.score(id, Double.NaN) }.field)
        assertEquals("confidence", assertThrows<KeelException.InvalidInput> { dedup.score(id, 1.5) }.field)
        val overconfident = report("a", context = *arrayOf("confidence" to 1.5))
        assertEquals("items[0].context.confidence", assertThrows<KeelException.InvalidInput> { dedup.enqueue(batch(overconfident)) }.field)
        assertEquals("items[0].orgId", assertThrows<KeelException.InvalidInput> { dedup.enqueue(batch(report("a").put("orgId", ""))) }.field)
        assertEquals("items", assertThrows<KeelException.InvalidInput> { dedup.enqueue("not json") }.field)
        assertEquals("options.threshold", assertThrows<KeelException.InvalidInput> { db.dedup(json("threshold" to 1)) }.field)
        assertEquals("id", assertThrows<KeelException.InvalidInput> { dedup.check("not-a-uuid") }.field)
        assertEquals("options", assertThrows<KeelException.InvalidInput> { dedup.sweep("[1]") }.field)
    }
}
