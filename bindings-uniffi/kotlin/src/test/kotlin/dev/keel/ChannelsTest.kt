package dev.keel

import java.util.UUID
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.AfterAll
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.TestInstance
import org.junit.jupiter.api.assertThrows

/** Cross-channel continuity from Kotlin, as Node's suites run it: Slack's Web API on the
 * loopback (a thread read page by page and ingested, a post into a thread, Slack's errors
 * typed without the token, a 429 waited out), Slack threads on both backends (ingest with each
 * ts once, extraction at the watermark through Keel's model calls, a failing model leaving the
 * watermark, a Kotlin resolver linking entities, the conclusion read from the web, a fleet
 * agent's row, forgetting, turns and history), the pure functions' vectors, and bad input. */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class ChannelsTest {
    private val loopback = Loopback()
    private val token = "xoxb-kotlin-secret"
    private val thread = "1712345678.000100"

    @AfterAll
    fun stop() = loopback.close()

    private fun slack(db: Keel, vararg more: Pair<String, Any?>): Slack =
        db.slack(json("token" to token, "baseUrl" to "${loopback.baseUrl}/api", "workspace" to "T-kotlin", *more))

    @Test
    fun aSlackThreadIsReadPageByPageIngestedAndAnsweredIn() = runBlocking {
        loopback.reset()
        val db = Keel.connect("sqlite::memory:")
        val client = slack(db)
        val page = JSONObject(client.repliesPage("C1", thread))
        assertEquals(200, page.getJSONArray("messages").length())
        assertTrue(page.getString("nextCursor").isNotEmpty())
        val messages = JSONArray(client.replies("C1", thread))
        assertEquals(450, messages.length())
        assertEquals(thread, messages.getJSONObject(0).getString("thread_ts"), "Slack's own objects keep Slack's keys")
        val got = JSONObject(slackIngest(messages.toString(), json("botUserId" to "UBOT")))
        val ingested = got.getJSONArray("messages").map { it as JSONObject }
        assertEquals(listOf("user", "assistant"), ingested.take(2).map { it.getString("role") })
        assertEquals("message 449", ingested.last().getString("text"))
        val posted = JSONObject(client.postMessage("C1", "Acme is in legal review", json("threadTs" to thread)))
        assertEquals("C1", posted.getString("channel"))
        val sent = loopback.received().filter { it.optString("model") == "chat.postMessage" }
        assertEquals(thread, sent.last().getJSONObject("body").getString("thread_ts"))
        db.shutdown()
    }

    @Test
    fun slacksErrorsAreTypedAndA429IsWaitedOut() = runBlocking {
        loopback.reset()
        val db = Keel.connect("sqlite::memory:")
        val client = slack(db, "maxRetries" to 1)
        val missing = assertThrows<KeelException.Provider> { client.repliesPage("C404", thread) }
        assertTrue(missing.info.detail.contains("channel_not_found"), missing.info.detail)
        assertFalse(missing.info.detail.contains(token))
        loopback.script("users.info", mapOf("error" to 429, "message" to "ratelimited", "retry_after" to "1"))
        val started = System.nanoTime()
        val user = JSONObject(client.user("U1"))
        assertTrue(System.nanoTime() - started >= 900_000_000L, "the 429's wait was kept")
        assertEquals("Dana Scully", user.getString("displayName"))
        loopback.script(
            "chat.update",
            mapOf("error" to 429, "message" to "ratelimited", "retry_after" to "1"),
            mapOf("error" to 429, "message" to "ratelimited", "retry_after" to "2"),
        )
        val limited = assertThrows<KeelException.RateLimited> { client.update("C1", thread, "edited") }
        assertEquals(2000uL, limited.info.retryAfterMs)
        db.shutdown()
    }

    /** A `conversations.replies` page of `n` messages, the rep and the copilot's bot in turn. */
    private fun page(n: Int): String = JSONObject(
        mapOf(
            "ok" to true,
            "messages" to (0 until n).map { i ->
                mapOf(
                    "type" to "message",
                    "user" to if (i % 2 == 0) "U1" else "UBOT",
                    "ts" to "17332200%02d.000100".format(i),
                    "text" to if (i == n - 1) "Legal signed off on Acme Renewal; close Friday." else "turn $i",
                )
            },
        ),
    ).toString()

    @Test
    fun aSlackThreadReachesTheWebCopilot() = runBlocking {
        for (url in Backends.fresh()) {
            loopback.reset()
            val db = Keel.connect(url)
            val threads = db.slackThreads()
            val (org, user, deal) = List(3) { UUID.randomUUID().toString() }
            val key = json("orgId" to org, "userId" to user, "slackTeamId" to "T1", "slackChannelId" to "C1", "slackThreadTs" to "1733220000.000100")
            val id = JSONObject(threads.getOrCreate(key)).getString("id")
            val done = JSONObject(threads.ingest(org, id, page(10), json("botUserId" to "UBOT")))
            assertEquals(listOf(10, true), listOf(done.getInt("added"), done.getBoolean("extractionDue")))
            val again = JSONObject(threads.ingest(org, id, page(10), json("botUserId" to "UBOT")))
            assertEquals(listOf(0, 10, 10), listOf("added", "duplicates", "messageCount").map { again.getInt(it) })

            val llm = db.modelRouter(json("seedDefaults" to false)).llm(json("providers" to loopback.providers))
            val model = json("provider" to "openai", "model" to "thread-model")
            loopback.script("thread-model", mapOf("error" to 400, "message" to "bad request"))
            val failed = JSONObject(threads.sweep(llm, model))
            assertEquals(listOf(1, 1), listOf(failed.getInt("claimed"), failed.getInt("failed")))
            val kept = JSONObject(threads.get(org, id))
            assertEquals(listOf(0, 1), listOf(kept.getInt("extractedThrough"), kept.getInt("extractionAttempts")), "the watermark stays")
            assertFalse(kept.isNull("extractionError"))

            val answer = JSONObject(
                mapOf(
                    "summary" to "Acme Renewal: legal signed off; closing Friday.",
                    "entities" to listOf(mapOf("entity_type" to "deal", "name" to "Acme Renewal"), mapOf("entity_type" to "company", "name" to "Acme")),
                ),
            )
            loopback.script("thread-model", mapOf("text" to answer.toString()))
            val resolver = object : EntityResolver {
                override fun resolve(orgId: String, userId: String, kind: String, name: String): String? = if (kind == "deal") deal else null
            }
            val extracted = JSONObject(threads.extract(org, id, llm, model, resolver))
            assertEquals(listOf("extracted", 10), listOf(extracted.getString("status"), extracted.getInt("extractedThrough")))
            assertEquals(listOf(deal, null), extracted.getJSONArray("entities").map { (it as JSONObject).opt("entityId").takeUnless { v -> v == JSONObject.NULL } })

            val memory = db.conversations()
            val web = JSONObject(memory.contextForUser(org, user, json("message" to "Where is Acme Renewal?", "channel" to "web")))
            assertTrue(web.getString("block").contains("closing Friday"), "$url: $web")
            memory.upsertContext(
                json(
                    "orgId" to org, "userId" to user, "channel" to "agent", "entityType" to "deal", "entityId" to deal,
                    "summary" to "Enriched Acme Renewal: 3 new stakeholders.", "entityName" to "Acme Renewal", "agentName" to "deal-enricher",
                ),
            )
            val both = JSONObject(memory.contextForUser(org, user, json("message" to "Acme Renewal")))
            assertEquals(2, both.getJSONArray("entries").length())
            assertTrue(both.getString("block").contains("fleet_agent (deal-enricher)"))
            assertNotNull(JSONObject(memory.priorContext(org, user, "Acme Renewal")).optString("block"))
            assertEquals(2, JSONObject(memory.forgetContext(org, user, "deal", deal)).getInt("removed"))
            assertEquals(0, JSONObject(memory.archiveContext()).getInt("archived"))

            val turn = JSONObject(threads.recordTurn(org, id, json("intent" to "deal_query", "credits" to 0.5, "action" to mapOf("type" to "draft"))))
            assertEquals(listOf("deal_query"), turn.getJSONArray("intentsUsed").toList())
            assertEquals(0.5, turn.getDouble("creditsConsumed"))
            val active = JSONObject(threads.setActive(org, id, json("dealId" to deal, "loadedContext" to mapOf("stage" to "legal"))))
            assertEquals(deal, active.getJSONObject("active").getString("dealId"))
            val history = JSONArray(threads.history(org, id, json("limit" to 2))).map { it as JSONObject }
            assertEquals(listOf("user", "assistant"), history.map { it.getString("role") })
            assertTrue(history.last().getString("content").startsWith("Legal signed off"))
            val added = JSONObject(threads.addMessages(org, id, JSONArray(listOf(mapOf("slackTs" to "1733229999.000100", "role" to "user", "text" to "and the MSA?"))).toString()))
            assertEquals(1, added.getInt("added"))
            db.shutdown()
        }
    }

    @Test
    fun thePureFunctionsMatchTheVectors() {
        for (case in Vectors.load("thread_answers.json")) {
            val name = case.getString("name")
            val answer = case.getJSONObject("input").getString("answer")
            if (case.has("expected_error_code")) {
                val error = keelError(name) { readThreadContext(answer) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                assertEquals(case.getString("expected_error_field"), error.field, name)
                continue
            }
            val expected = JSONObject(case.getJSONObject("expected").toString())
            expected.put("entities", Vectors.camelKeys(expected.getJSONArray("entities")))
            val got = JSONObject(readThreadContext(answer))
            assertTrue(expected.similar(got), "$name: $got")
        }
        for (case in Vectors.load("thread_transcripts.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val options = JSONObject().also { o -> input.keys().forEach { if (it != "messages") o.put(it, input.get(it)) } }
            val messages = input.get("messages").toString()
            if (case.has("expected_error_code")) {
                val error = keelError(name) { threadTranscript(messages, options.toString()) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                val f = case.getString("expected_error_field")
                assertEquals(if (f.startsWith("messages")) f else "options.${Vectors.camel(f)}", error.field, name)
                continue
            }
            val got = JSONObject(threadTranscript(messages, options.toString()))
            assertTrue(case.getJSONObject("expected").similar(got), "$name: $got")
        }
        val events = JSONArray(
            listOf(
                mapOf("type" to "event_callback", "event" to mapOf("type" to "message", "channel" to "C1", "user" to "U1", "text" to "first", "ts" to thread)),
                mapOf("type" to "event_callback", "event" to mapOf("type" to "message", "channel" to "C1", "subtype" to "message_changed", "message" to mapOf("user" to "U1", "text" to "first, fixed", "ts" to thread))),
                mapOf("type" to "event_callback", "event" to mapOf("type" to "reaction_added")),
            ),
        )
        val got = JSONObject(slackIngest(events.toString()))
        assertEquals(listOf("first, fixed"), got.getJSONArray("messages").map { (it as JSONObject).getString("text") })
        assertEquals(1, got.getInt("edits"))
        assertEquals(listOf(2), got.getJSONArray("skipped").map { (it as JSONObject).getInt("index") })
    }

    @Test
    fun badInputIsTypedAndNamesItsField() = runBlocking {
        val db = Keel.connect("sqlite::memory:")
        assertEquals("options.token", assertThrows<KeelException.InvalidInput> { db.slack(json("token" to "")) }.field)
        assertEquals("options.baseUrl", assertThrows<KeelException.InvalidInput> { db.slack(json("token" to token, "baseUrl" to "http://slack.example/api")) }.field)
        assertEquals("payload", assertThrows<KeelException.InvalidInput> { slackIngest("\"not a payload\"") }.field)
        assertEquals("ts", assertThrows<KeelException.InvalidInput> { slack(db).update("C1", "yesterday", "x") }.field)
        val threads = db.slackThreads()
        val (org, user) = List(2) { UUID.randomUUID().toString() }
        val key = mapOf("orgId" to org, "userId" to user, "slackTeamId" to "T1", "slackChannelId" to "C1", "slackThreadTs" to "yesterday")
        assertEquals("slackThreadTs", assertThrows<KeelException.InvalidInput> { threads.getOrCreate(JSONObject(key).toString()) }.field)
        val id = JSONObject(threads.getOrCreate(JSONObject(key + ("slackThreadTs" to thread)).toString())).getString("id")
        val bad = JSONArray(listOf(mapOf("slackTs" to "1", "role" to "user", "text" to "hi"))).toString()
        assertEquals("messages[0].slackTs", assertThrows<KeelException.InvalidInput> { threads.addMessages(org, id, bad) }.field)
        assertEquals("credits", assertThrows<KeelException.InvalidInput> { threads.recordTurn(org, id, json("credits" to -1)) }.field)
        assertEquals("options.extractAfterMessages", assertThrows<KeelException.InvalidInput> { db.slackThreads(json("extractAfterMessages" to 0)) }.field)
        assertEquals("entityType", assertThrows<KeelException.InvalidInput> { db.conversations().forgetContext(org, user, "opportunity", UUID.randomUUID().toString()) }.field)
        db.shutdown()
    }
}
