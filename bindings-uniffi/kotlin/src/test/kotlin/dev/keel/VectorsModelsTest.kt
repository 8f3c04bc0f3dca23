package dev.keel

import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** The shared vectors of the model router, skills, compaction and LSH, run from Kotlin. */
class VectorsModelsTest {
    /** A router on an empty in-memory database: the default matrix, every circuit closed. */
    private fun <T> withRouter(block: suspend (ModelRouter) -> T): T = runBlocking {
        val db = Keel.connect("sqlite::memory:")
        try {
            block(db.modelRouter())
        } finally {
            db.shutdown()
        }
    }

    /** `expected` (snake_case) equals `got` (JSON text, camelCase). */
    private fun assertSameJson(expected: Any, got: String, name: String) {
        val want = Vectors.camelKeys(expected)
        val have = if (got.trimStart().startsWith("[")) JSONArray(got) else JSONObject(got)
        val same = when (want) {
            is JSONObject -> want.similar(have)
            is JSONArray -> want.similar(have)
            else -> false
        }
        assertTrue(same, "$name: expected $want, got $have")
    }

    @Test
    fun modelResolution() = withRouter { router ->
        for (case in Vectors.load("model_resolution.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val request = json("feature" to input.get("feature"), "tier" to input.opt("tier"))
            if (case.has("expected_error_code")) {
                val error = keelError(name) { runBlocking { router.resolve(request) } }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                assertEquals("request.${case.getString("expected_field")}", error.field, name)
                continue
            }
            val got = JSONObject(router.resolve(request))
            val expected = case.getJSONObject("expected")
            for (key in expected.keySet()) {
                assertEquals(expected.get(key).toString(), got.get(Vectors.camel(key)).toString(), "$name: $key")
            }
        }
    }

    @Test
    fun failureStatuses() {
        for (case in Vectors.load("failure_statuses.json")) {
            withRouter { router ->
                val status = case.getJSONObject("input").get("status").toString()
                val got = router.recordFailure("claude-sonnet-4-6", status)
                assertEquals(case.getJSONObject("expected").getString("first_failure"), got, case.getString("name"))
            }
        }
    }

    @Test
    fun compactionThresholds() = withRouter { router ->
        for (case in Vectors.load("compaction_thresholds.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val options = Vectors.camelKeys(input.getJSONObject("options")).toString()
            if (case.has("expected_error_code")) {
                val error = keelError(name) { router.compactionThreshold(input.getString("model"), options) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                assertEquals(Vectors.camel(case.getString("expected_error_field")), error.field, name)
                continue
            }
            assertSameJson(case.getJSONObject("expected"), router.compactionThreshold(input.getString("model"), options), name)
        }
    }

    @Test
    fun compactionPlans() {
        for (case in Vectors.load("compaction_plans.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val messages = Vectors.camelKeys(input.getJSONArray("messages")).toString()
            val options = Vectors.camelKeys(input.getJSONObject("options")).toString()
            if (case.has("expected_error_code")) {
                val error = keelError(name) { planCompaction(messages, options) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                val field = case.getString("expected_error_field")
                val expected = if (field.startsWith("messages")) Vectors.camel(field) else "options.${Vectors.camel(field)}"
                assertEquals(expected, error.field, name)
                continue
            }
            assertSameJson(case.get("expected"), planCompaction(messages, options), name)
        }
    }

    @Test
    fun skillParse() {
        for (case in Vectors.load("skill_parse.json")) {
            val input = case.getJSONObject("input")
            val parsed = JSONObject(parseSkill(input.getString("text"), input.optString("folder").ifEmpty { null }))
            val skill = parsed.optJSONObject("skill")
            val diagnostics = parsed.getJSONArray("diagnostics").map {
                val d = it as JSONObject
                listOf(d.getString("code"), d.getString("severity"), d.get("line").toString(), d.get("column").toString())
            }
            val expected = case.getJSONObject("expected")
            assertEquals(expected.opt("name").takeIf { it != JSONObject.NULL }, skill?.getString("name"), case.getString("name"))
            val want = expected.getJSONArray("diagnostics").map { d -> (d as JSONArray).map { it.toString() } }
            assertEquals(want, diagnostics, case.getString("name"))
        }
    }

    @Test
    fun skillCompile() {
        for (case in Vectors.load("skill_compile.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val documents = input.opt("documents").takeIf { it != JSONObject.NULL }?.toString()
            val call = { compileSkill(input.getString("text"), input.get("context").toString(), documents) }
            if (case.has("expected_error_code")) {
                val error = keelError(name) { call() }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                assertEquals(case.opt("expected_error_field").takeIf { it != JSONObject.NULL }, error.field, name)
                if (case.has("expected_diagnostic_code")) {
                    val first = JSONArray(error.info.diagnosticsJson).getJSONObject(0)
                    assertEquals(case.getString("expected_diagnostic_code"), first.getString("code"), name)
                }
                continue
            }
            assertSameJson(case.getJSONObject("expected"), call(), name)
        }
    }

    @Test
    fun skillChannels() {
        for (case in Vectors.load("skill_channels.json")) {
            val name = case.getString("name")
            val channel = case.getJSONObject("input").getString("channel")
            if (case.has("expected_error_code")) {
                val error = keelError(name) { channelNamespaces(channel) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                assertEquals(case.getString("expected_error_field"), error.field, name)
                continue
            }
            assertEquals(case.getJSONArray("expected").map { it as String }, channelNamespaces(channel), name)
        }
    }

    @Test
    fun lshParams() {
        for (case in Vectors.load("lsh_params.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val threshold = input.opt("threshold")
            if (threshold != null && threshold !is Number) continue // typed: a text threshold cannot be passed
            val options = LshOptions(
                threshold = (threshold as Number?)?.toDouble(),
                numPerm = if (input.has("num_perm")) input.getInt("num_perm").toUInt() else null,
            )
            if (case.has("expected_error_code")) {
                val error = keelError(name) { MinHashLsh(options) }
                assertEquals(case.getString("expected_error_code"), error.code, name)
                assertEquals("options.${Vectors.camel(case.getString("expected_error_field"))}", error.field, name)
                continue
            }
            val lsh = MinHashLsh(options)
            val expected = case.getJSONObject("expected")
            assertEquals(expected.getInt("bands").toUInt(), lsh.bands(), name)
            assertEquals(expected.getInt("rows").toUInt(), lsh.rows(), name)
            assertEquals(expected.getDouble("confirm_at"), lsh.confirmAt(), 1e-9, name)
        }
    }

    @Test
    fun lshQueries() {
        for (case in Vectors.load("lsh_queries.json")) {
            val name = case.getString("name")
            val input = case.getJSONObject("input")
            val lsh = MinHashLsh(LshOptions(threshold = input.getDouble("threshold")))
            for (item in input.getJSONArray("items")) {
                val it = item as JSONObject
                lsh.insert(it.getString("key"), minhash(it.getString("text")))
            }
            val query = minhash(input.getString("query"))
            val expected = case.getJSONObject("expected")
            assertEquals(expected.getJSONArray("candidates").map { it as String }, lsh.candidates(query), name)
            val similar = expected.getJSONArray("similar").map { (it as JSONObject).let { s -> s.getString("key") to s.getDouble("jaccard") } }
            assertEquals(similar, lsh.query(query).map { it.key to it.jaccard }, name)
        }
    }
}
