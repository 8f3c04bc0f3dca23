package dev.keel

import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** The shared vectors of `testdata/` that the Kotlin API covers, run as Rust, Python and Node
 * run them. */
class VectorsTest {
    @Test
    fun errorCodes() {
        val expected = Vectors.load("error_codes.json")[0].getJSONArray("expected").map { it as String }
        assertEquals(expected, dev.keel.errorCodes())
    }

    @Test
    fun databaseUrls() {
        for (case in Vectors.load("database_urls.json")) {
            val name = case.getString("name")
            val url = case.getJSONObject("input").getString("url")
            if (case.has("expected_error_code")) {
                val error = keelError(name) { parseDatabaseUrl(url) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                continue
            }
            val expected = case.getJSONObject("expected")
            val parsed = parseDatabaseUrl(url)
            assertEquals(expected.getString("backend"), parsed.backend, name)
            assertEquals(expected.getString("masked"), parsed.masked, name)
            assertEquals(expected.getBoolean("in_memory"), parsed.inMemory, name)
        }
    }

    @Test
    fun maskUrl() {
        for (case in Vectors.load("mask_url.json")) {
            val url = case.getJSONObject("input").getString("url")
            assertEquals(case.getString("expected"), dev.keel.maskUrl(url), case.getString("name"))
        }
    }

    @Test
    fun connectErrors() = runBlocking {
        for (case in Vectors.load("connect_errors.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val error = try {
                Keel.connect(input.getString("url"))
                throw AssertionError("$name: connected")
            } catch (e: KeelException) {
                e
            }
            assertEquals(case.getString("expected_error_code"), error.code, name)
            val secret = input.optString("secret", "\u0000")
            assertFalse(error.info.detail.contains(secret), name)
            assertFalse(error.message!!.contains(secret), name)
        }
    }

    @Test
    fun connectWithOptions() = runBlocking {
        val db = Keel.connectWith("sqlite::memory:", JSONObject(mapOf("maxConnections" to 2, "connectTimeoutMs" to 500)).toString())
        assertEquals("sqlite", db.backend())
        db.shutdown()
        for (bad in listOf(mapOf("maxConnections" to 0), mapOf("maxConnection" to 2))) {
            val error = keelError(bad.toString()) { runBlocking { Keel.connectWith("sqlite::memory:", JSONObject(bad).toString()) } }
            assertEquals("invalid_input", error.code, bad.toString())
            assertTrue(error.info.field!!.startsWith("options"), error.info.field)
        }
    }

    @Test
    fun redactSecrets() {
        for (case in Vectors.load("redact_secrets.json")) {
            val text = case.getJSONObject("input").getString("text")
            assertEquals(case.getString("expected"), dev.keel.redactSecrets(text), case.getString("name"))
        }
    }

    @Test
    fun traceparent() {
        for (case in Vectors.load("traceparent.json")) {
            val name = case.getString("name")
            val parsed = dev.keel.parseTraceparent(case.getJSONObject("input").getString("header"))
            val expected = case.optJSONObject("expected")
            if (expected == null) {
                assertNull(parsed, name)
                continue
            }
            assertEquals(expected.getString("trace_id"), parsed!!.traceId, name)
            assertEquals(expected.getString("parent_span_id"), parsed.parentSpanId, name)
            assertEquals(expected.getBoolean("sampled"), parsed.sampled, name)
        }
    }

    @Test
    fun tokenCounts() {
        for (case in Vectors.load("token_counts.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val text = input.getString("text")
            val encoding = input.optString("encoding").ifEmpty { null }
            if (case.has("expected_error_code")) {
                val error = keelError(name) { countTokens(text, encoding) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                assertEquals(case.getString("expected_error_field"), error.field, name)
                continue
            }
            val expected = case.getJSONObject("expected").getLong("tokens")
            assertEquals(expected.toULong(), countTokens(text, encoding), name)
        }
    }

    @Test
    fun minhashSignatures() {
        var checked = 0
        for (case in Vectors.load("minhash_signatures.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val raw = input.getJSONObject("options")
            // Typed options: an option Kotlin has no name for cannot be passed at all.
            if (raw.keySet().any { it !in setOf("num_perm", "shingle_words", "seed") }) continue
            val options = MinHashOptions(
                numPerm = if (raw.has("num_perm")) raw.getInt("num_perm").toUInt() else null,
                shingleWords = if (raw.has("shingle_words")) raw.getInt("shingle_words").toUInt() else null,
                seed = if (raw.has("seed")) raw.getLong("seed").toULong() else null,
            )
            val text = input.getString("text")
            if (case.has("expected_error_code")) {
                val error = keelError(name) { minhash(text, options) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                val field = case.getString("expected_error_field")
                val expectedField = if (field == "text") "text" else "options.${Vectors.camel(field)}"
                assertEquals(expectedField, error.field, name)
                checked++
                continue
            }
            val expected = case.getJSONObject("expected")
            val sig = minhash(text, options)
            val values = expected.getJSONArray("values").map { (it as Number).toLong().toUInt() }
            assertEquals(values, sig.values(), name)
            assertEquals(expected.getString("bytes"), sig.toBytes().toHex(), name)
            assertEquals(sig, MinHash.fromBytes(sig.toBytes()), name)
            assertEquals(sig, MinHasher(options).signature(text), name)
            assertEquals(1.0, sig.jaccard(sig), name)
            checked++
        }
        assertTrue(checked >= 20, "every typed case ran")
    }

    @Test
    fun dedupKeys() {
        for (case in Vectors.load("dedup_keys.json")) {
            val name = case.getString("name")
            // The item's own fields in camelCase; its context as written.
            val input = case.getJSONObject("input")
            val item = JSONObject().also { out -> input.keys().forEach { out.put(Vectors.camel(it), input.get(it)) } }
            if (case.has("expected_error_code")) {
                val error = keelError(name) { dedupKey(item.toString()) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                assertEquals(Vectors.camel(case.getString("expected_error_field")), error.field, name)
                continue
            }
            assertEquals(case.getString("expected"), dedupKey(item.toString()), name)
        }
    }

    @Test
    fun dedupMerges() {
        for (case in Vectors.load("dedup_merges.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val given = input.getJSONArray("reports")
            // Each report's fields in camelCase, its context as written.
            val reports = JSONArray((0 until given.length()).map { i ->
                val report = given.getJSONObject(i)
                (Vectors.camelKeys(report) as JSONObject).also { r -> report.optJSONObject("context")?.let { r.put("context", it) } }
            })
            val options = if (input.has("queue_priority")) json("queuePriority" to input.get("queue_priority")) else null
            if (case.has("expected_error_code")) {
                val error = keelError(name) { mergeReports(reports.toString(), options) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                val field = case.getString("expected_error_field").replace(Regex("_([a-z])")) { it.groupValues[1].uppercase() }
                assertEquals(field, error.field, name)
                continue
            }
            val expected = case.getJSONObject("expected")
            val merged = JSONObject(mergeReports(reports.toString(), options))
            assertTrue(Vectors.camelKeys(expected.getJSONObject("group")).let { (it as JSONObject).similar(merged.getJSONObject("group")) }, "$name: $merged")
            assertTrue(expected.getJSONArray("escalated").similar(merged.getJSONArray("escalated")), "$name: $merged")
        }
    }

    @Test
    fun fleetStatuses() {
        for (case in Vectors.load("fleet_statuses.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val metrics = Vectors.camelKeys(input.getJSONObject("metrics")).toString()
            val options = if (input.isNull("now")) null else json("now" to input.getString("now"))
            if (case.has("expected_error_code")) {
                val error = keelError(name) { agentStatus(metrics, options) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                val path = case.getString("expected_error_field").split('.')
                val field = if (path.size > 1) "${path[0]}.${Vectors.camel(path.drop(1).joinToString("."))}" else "options.${Vectors.camel(path[0])}"
                assertEquals(field, error.field, name)
                continue
            }
            val got = JSONObject(agentStatus(metrics, options))
            assertTrue((Vectors.camelKeys(case.getJSONObject("expected")) as JSONObject).similar(got), "$name: $got")
        }
    }

    @Test
    fun fleetAlerts() {
        for (case in Vectors.load("fleet_alerts.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val state = if (input.isNull("state")) null else Vectors.camelKeys(input.get("state")).toString()
            val status = input.getString("status")
            val options = JSONObject().also { o -> input.keys().forEach { if (it != "state" && it != "status") o.put(Vectors.camel(it), input.get(it)) } }
            if (case.has("expected_error_code")) {
                val error = keelError(name) { nextAlert(state, status, options.toString()) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                val f = case.getString("expected_error_field")
                val field = if (f == "status" || f.startsWith("state.")) Vectors.camel(f) else "options.${Vectors.camel(f)}"
                assertEquals(field, error.field, name)
                continue
            }
            val expected = case.getJSONObject("expected")
            val got = JSONObject(nextAlert(state, status, options.toString()))
            // The state's keys recased; `notify` and `held` as they are.
            val want = JSONObject(expected.toString()).put("state", Vectors.camelKeys(expected.get("state")))
            assertTrue(want.similar(got), "$name: $got")
        }
    }

    @Test
    fun fleetNotices() {
        for (case in Vectors.load("fleet_notices.json")) {
            val name = case.getString("name")
            val notice = Vectors.camelKeys(case.getJSONObject("input").getJSONObject("notice")).toString()
            if (case.has("expected_error_code")) {
                val error = keelError(name) { fleetAlertMessage(notice) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                val path = case.getString("expected_error_field").split('.')
                assertEquals("${path[0]}.${Vectors.camel(path.drop(1).joinToString("."))}", error.field, name)
                continue
            }
            // Slack's payload is Slack's JSON: its keys are not recased.
            val got = JSONObject(fleetAlertMessage(notice))
            assertTrue(case.getJSONObject("expected").similar(got), "$name: $got")
        }
    }
}

private fun ByteArray.toHex(): String = joinToString("") { "%02x".format(it) }
