package dev.keel

import java.util.UUID
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Conversations from Kotlin on both backends: appended and read back, compacted with the
 * summary written by a Kotlin `Summarizer`, a failing one trimmed instead, facts linked by a
 * Kotlin `EntityResolver` (a failing one storing nothing), bad input named. */
class MemoryTest {
    /** `turns` rounds of a question, a CRM lookup and its 800-byte result. */
    private fun rounds(turns: Int): String = JSONArray(
        (0 until turns).flatMap { i ->
            listOf(
                mapOf("role" to "user", "content" to "What changed on the Acme deal, round $i?"),
                mapOf(
                    "role" to "assistant",
                    "content" to listOf(mapOf("type" to "tool_call", "id" to "call-$i", "name" to "crm_search", "arguments" to mapOf("round" to i))),
                ),
                mapOf(
                    "role" to "tool",
                    "content" to listOf(mapOf("type" to "tool_result", "callId" to "call-$i", "content" to "r".repeat(800))),
                ),
            )
        },
    ).toString()

    private val small = json(
        "threshold" to 4000, "recentTokens" to 1000, "toolResultTokens" to 500,
        "summaryInputTokens" to 2000, "summaryTokens" to 300,
    )

    /** Writes a fixed summary and counts its calls. */
    private class Fixed(val text: String) : Summarizer {
        val calls = AtomicInteger()
        var seen: String = ""

        override fun summarize(text: String, instructions: String?): String {
            calls.incrementAndGet()
            seen = text
            return this.text
        }
    }

    @Test
    fun aKotlinSummarizerWritesTheCompaction() = runBlocking {
        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            val store = db.conversations()
            val org = UUID.randomUUID().toString()
            val c = JSONObject(store.start(json("orgId" to org, "userId" to "U042", "channel" to "web")))
            val id = c.getString("id")
            val appended = JSONObject(store.append(org, id, rounds(100)))
            assertEquals(300, appended.getInt("lastSeq"), url)

            val summarizer = Fixed("**Decisions & Conclusions**\n- Acme moved to legal.")
            val done = JSONObject(store.compactWith(org, id, summarizer, small))
            assertTrue(done.getBoolean("applied"), url)
            val compaction = done.getJSONObject("compaction")
            assertEquals("summary", compaction["method"], url)
            assertEquals(summarizer.text, compaction["summary"], url)
            assertEquals(1, summarizer.calls.get(), url)
            assertTrue(summarizer.seen.contains("What changed on the Acme deal"), "the summarizer saw the transcript")
            assertTrue(compaction.getInt("tokensAfter") <= 4000, url)

            val window = JSONObject(store.context(org, id, null, json("threshold" to 4000)))
            assertFalse(window.getBoolean("trimmed"), url)
            val first = window.getJSONArray("messages").getJSONObject(0)
            assertTrue(first.getJSONArray("content").getJSONObject(0).getString("text").startsWith("Summary of the earlier conversation"))
            db.shutdown()
        }
    }

    @Test
    fun aFailingSummarizerTrimsInstead() = runBlocking {
        val db = Keel.connect("sqlite::memory:")
        val store = db.conversations()
        val org = UUID.randomUUID().toString()
        val id = JSONObject(store.start(json("orgId" to org, "userId" to "U042", "channel" to "web"))).getString("id")
        store.append(org, id, rounds(100))
        val failing = object : Summarizer {
            override fun summarize(text: String, instructions: String?): String = throw IllegalStateException("model down")
        }
        val trimmed = JSONObject(store.compactWith(org, id, failing, small)).getJSONObject("compaction")
        assertEquals("trim", trimmed["method"])
        val note = trimmed.getString("note")
        assertTrue(note.contains("model down"), note)
        // Core names the summarizer once; the binding adds no prefix of its own.
        assertEquals(1, Regex("summarizer").findAll(note).count(), note)
        assertTrue(trimmed.getInt("tokensAfter") <= 4000)
        db.shutdown()
    }

    @Test
    fun aKotlinResolverLinksTheFactsEntities() = runBlocking {
        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            val store = db.conversations()
            val org = UUID.randomUUID().toString()
            val asked = mutableListOf<String>()
            val resolver = object : EntityResolver {
                override fun resolve(orgId: String, userId: String, kind: String, name: String): String? {
                    asked.add("$orgId/$userId/$kind/$name")
                    return if (kind == "company" && name == "Acme") "company-acme" else null
                }
            }
            val facts = json(
                "facts" to listOf(
                    mapOf(
                        "category" to "commitment", "subject" to "Acme usage report",
                        "content" to "Dana wants the usage report by Friday", "companyName" to "Acme",
                    ),
                    mapOf("category" to "preference", "subject" to "Reports", "content" to "Prefers weekly pipeline reports"),
                ),
            )
            val list = JSONObject(facts).getJSONArray("facts").toString()
            val stored = JSONArray(store.addFacts(org, "U042", list, resolver))
            assertEquals(2, stored.length(), url)
            assertEquals("company-acme", stored.getJSONObject(0)["companyId"], url)
            assertEquals(listOf("$org/U042/company/Acme"), asked, url)
            val recall = JSONObject(store.recall(org, "U042", "What does Dana need from us for Acme?"))
            val best = recall.getJSONArray("facts").getJSONObject(0).getJSONObject("fact")
            assertEquals("Acme usage report", best["subject"], url)

            val failing = object : EntityResolver {
                override fun resolve(orgId: String, userId: String, kind: String, name: String): String? =
                    throw IllegalStateException("CRM down")
            }
            val err = assertThrows<KeelException.InvalidInput> { store.addFacts(org, "U043", list, failing) }
            assertEquals("link", err.field)
            assertTrue(err.info.detail.contains("CRM down"), err.info.detail)
            val none = JSONObject(store.recall(org, "U043", "Acme"))
            assertEquals(0, none.getJSONArray("facts").length(), "nothing stored: $url")
            db.shutdown()
        }
    }

    @Test
    fun badInputNamesItsField() = runBlocking {
        val db = Keel.connect("sqlite::memory:")
        val store = db.conversations()
        val org = UUID.randomUUID().toString()
        val id = JSONObject(store.start(json("orgId" to org, "userId" to "U042", "channel" to "web"))).getString("id")
        for ((options, field) in listOf(json("threshold" to 0) to "options.threshold", json("recentTokens" to -1) to "options.recentTokens")) {
            val err = assertThrows<KeelException.InvalidInput> { store.compact(org, id, null, options) }
            assertEquals(field, err.field)
        }
        val notJson = assertThrows<KeelException.InvalidInput> { store.append(org, id, "[{") }
        assertEquals("messages", notJson.field)
        db.shutdown()
    }
}
