package dev.keel

import kotlinx.coroutines.runBlocking
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** The operator console from Kotlin on both backends, as Node's suite runs it: the reads `keel
 * serve` answers, by name (a letter, the queue's backlog over time, a log search) in camelCase
 * with log metadata as stored, an action refused on a read-only console and logged with its
 * actor on one that allows it, the names core lists, and bad input named by field. */
class ConsoleTest {
    private val org = "00000000-0000-4000-8000-0000000000c1"

    @Test
    fun readsAndALoggedAction() = runBlocking {
        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            val letters = db.deadLetters()
            val stored = JSONObject(letters.enqueue(json("agentName" to "console-kotlin", "orgId" to org, "errors" to listOf(mapOf("kind" to "transient", "message" to "HTTP 503"))))).getString("id")
            letters.abandon(stored, json("reason" to "for the console test"))
            db.queue().enqueue("""[{"orgId": "$org", "sourceAgent": "a", "itemType": "deal", "title": "t", "queuePriority": 3}]""")
            val log = db.createLogger("console-kotlin", json("orgId" to org))
            log.info("deal.checked", json("deal_id" to "d-1"))
            log.flush()

            val readOnly = db.console()
            val found = JSONObject(readOnly.call("logs", json("text" to "deal.checked", "orgId" to org))).getJSONArray("events").getJSONObject(0)
            assertEquals(org, found.getString("orgId"), "the document in camelCase")
            assertTrue(JSONObject(mapOf("deal_id" to "d-1")).similar(found.getJSONObject("metadata")), "user data as stored: $found")
            assertFalse(readOnly.allowsActions())
            assertFalse(JSONObject(readOnly.call("about")).getBoolean("allowActions"))
            assertEquals("abandoned", JSONObject(readOnly.call("letter", json("id" to stored))).getString("status"))
            val history = JSONObject(readOnly.call("queue_history", json("hours" to 2, "points" to 9)))
            assertEquals(900_000, history.getInt("stepMs"))
            val backlog = history.getJSONArray("lanes").map { (it as JSONObject).getJSONArray("backlog").let { b -> b.getInt(b.length() - 1) } }
            assertEquals(listOf(0, 0, 0, 1), backlog, "$url")
            val refused = assertThrows<KeelException.InvalidInput> { readOnly.call("redrive_letter", json("id" to stored, "actor" to "ann")) }
            assertEquals("op", refused.field)

            val console = db.console(json("allowActions" to true))
            assertEquals("pending", JSONObject(console.call("redrive_letter", json("id" to stored, "actor" to "ann"))).getString("status"))
            val action = JSONObject(console.call("logs", json("text" to "console.action"))).getJSONArray("events").getJSONObject(0).getJSONObject("metadata")
            assertEquals(listOf("redrive_letter", "ann", stored), listOf("operation", "actor", "target").map { action.getString(it) })
            db.shutdown()
        }
    }

    @Test
    fun theNamesAreCoresAndBadInputNamesTheField() = runBlocking {
        assertTrue(consoleReads().contains("queue_history"))
        assertEquals(listOf("redrive_letter", "abandon_letter", "deprecate_skill", "restore_skill", "reset_breaker"), consoleActions())
        val db = Keel.connect("sqlite::memory:")
        val console = db.console()
        for ((op, args, field) in listOf(
            Triple("drop_tables", "{}", "op"),
            Triple("letter", json("id" to "nope"), "id"),
            Triple("queue_history", json("hours" to 0), "hours"),
            Triple("logs", json("limit" to 0), "limit"),
            Triple("routing", json("orgId" to "nope"), "orgId"),
            Triple("about", "[1]", "options"),
        )) {
            assertEquals(field, assertThrows<KeelException.InvalidInput>(op) { console.call(op, args) }.field, op)
        }
        assertEquals("options.allowEverything", assertThrows<KeelException.InvalidInput> { db.console(json("allowEverything" to true)) }.field)
        db.shutdown()
    }
}
