package dev.keel

import java.io.File
import java.util.UUID
import java.util.concurrent.atomic.AtomicInteger
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** Routing's model stages done by Kotlin functions (core: `keel::llm::HostTask`) on both
 * backends: what the function is handed, and every answer of `testdata/host_answers.json`
 * deciding the route or failing the stage, as from Python and Node; and the LLM stage over
 * Keel's own client against `keel loopback`. */
class ModelTasksTest {
    private val library = REPO.resolve("skills").path
    private val answers = JSONObject(File(System.getProperty("keel.testdata") ?: "../../testdata", "host_answers.json").readText())

    // The index never decides, so every route reaches the model stages.
    private val undecided = json("thresholds" to mapOf("sequence" to 1, "skill" to 1), "log" to false, "llmTimeout" to 1)

    private fun cases(section: String): List<JSONObject> =
        answers.getJSONArray(section).let { a -> (0 until a.length()).map { a.getJSONObject(it) } }

    /** A database at `url` with the library synced, and its registry. */
    private suspend fun open(url: String): Pair<Keel, SkillRegistry> {
        val db = Keel.connect(url)
        val skills = db.skillRegistry()
        skills.sync(library)
        return db to skills
    }

    @Test
    fun aKotlinFunctionIsTheLlmStage() = runBlocking {
        for (url in Backends.fresh()) {
            val (db, skills) = open(url)
            val org = UUID.randomUUID().toString()
            val asked = mutableListOf<JSONObject>()
            val router = skills.messageRouterWith(undecided, classifier = modelTask { task ->
                asked.add(JSONObject(task))
                json("label" to "deal-status", "confidence" to 0.8)
            })
            val d = JSONObject(router.route("how is the Globex deal going", "web", org, null, json("allowLlm" to true)))
            assertEquals(listOf("deal-status", "llm", "llm", 0.8), listOf(d["route"], d["stage"], d["matchedBy"], d.getDouble("confidence")), url)
            val task = asked.single()
            assertEquals(setOf("text", "labels", "instructions"), task.keySet(), url)
            val names = task.getJSONArray("labels").map { (it as JSONObject).getString("name") }
            assertTrue("deal-status" in names && names.last() == "none", names.toString())
            // Not allowed, not asked.
            router.route("where are we with the Initech deal", "web", org)
            assertEquals(1, asked.size, url)
            db.shutdown()
        }
    }

    @Test
    fun theVectorsAnswersDecideOrFallThrough() = runBlocking {
        for (url in Backends.fresh()) {
            val (db, skills) = open(url)
            val org = UUID.randomUUID().toString()
            val message = answers.getString("message")
            for (case in cases("classify")) {
                val asked = AtomicInteger()
                val router = skills.messageRouterWith(undecided, classifier = modelTask {
                    asked.incrementAndGet()
                    JSONObject.valueToString(case.opt("answer"))
                })
                val d = JSONObject(router.route(message, "web", org, null, json("allowLlm" to true)))
                router.route(message, "web", org, null, json("allowLlm" to true))
                val name = case.getString("name")
                val label = case.optString("label").ifEmpty { null }
                if (label != null && label != "none") {
                    assertEquals(listOf(label, "llm"), listOf(d["route"], d["stage"]), name)
                    if (!case.isNull("confidence")) assertEquals(case.getDouble("confidence"), d.getDouble("confidence"), name)
                } else {
                    assertEquals(listOf("general", "fallback"), listOf(d["route"], d["stage"]), name)
                }
                // A failed stage is never cached, so the second route asks again; an answer is.
                assertEquals(if (case.has("code")) 2 else 1, asked.get(), name)
            }
            for (case in cases("embed")) {
                val asked = AtomicInteger()
                val router = skills.messageRouterWith(undecided, embedder = modelTask { task ->
                    asked.incrementAndGet()
                    val texts = JSONObject(task).getJSONArray("texts").length()
                    val rows = JSONArray(List(if (case.isNull("answer_rows")) texts else case.getInt("answer_rows")) { case.getJSONArray("row") })
                    when (val shape = case.getString("as")) {
                        "list" -> rows.toString()
                        "object" -> JSONObject().put("vectors", rows).toString()
                        else -> JSONObject().put(shape, rows).toString()
                    }
                })
                val d = JSONObject(router.route("deal deal risk", "web", org))
                router.route("deal deal risk", "web", org)
                val name = case.getString("name")
                assertEquals(if (case.has("code")) "fallback" else "embedding", d["stage"], name)
                assertEquals(if (case.has("code")) 2 else 1, asked.get(), name)
            }
            db.shutdown()
        }
    }

    @Test
    fun keelsOwnClientIsTheLlmStage() = runBlocking {
        Loopback().use { loopback ->
            val (db, skills) = open("sqlite::memory:")
            val models = db.modelRouter(json("seedDefaults" to false))
            models.setModel(json("feature" to "copilot", "tier" to "medium", "provider" to "openai", "modelId" to "route-model", "creditCost" to 1.0))
            val llm = models.llm(json("providers" to loopback.providers))
            loopback.script("route-model", mapOf("text" to json("label" to "deal-status", "confidence" to 0.9)))
            val router = skills.messageRouterWithLlm(undecided, classifier = llm)
            val org = UUID.randomUUID().toString()
            val d = JSONObject(router.route("how is the Globex deal going", "web", org, null, json("allowLlm" to true)))
            assertEquals(listOf("deal-status", "llm", 0.9), listOf(d["route"], d["stage"], d.getDouble("confidence")))
            val request = loopback.received().single()
            assertEquals("route-model", request["model"])
            val sent = request.getJSONObject("body").getJSONArray("messages").toString()
            assertTrue("deal-status" in sent && "how is the Globex deal going" in sent, sent)
            db.shutdown()
        }
    }

    @Test
    fun textThatIsNotJsonOrAThrowFailsTheStage() = runBlocking {
        val (db, skills) = open("sqlite::memory:")
        val org = UUID.randomUUID().toString()
        val answers = listOf<suspend (String) -> String>(
            { "deal-status" }, // a label, but not as JSON text
            { throw AgentFailure("slow down", status = 429, retryAfterMs = 2_000) },
            { throw IllegalStateException("model down") },
        )
        for (answer in answers) {
            val router = skills.messageRouterWith(undecided, classifier = modelTask(answer))
            val d = JSONObject(router.route("how is the Globex deal going", "web", org, null, json("allowLlm" to true)))
            assertEquals(listOf("general", "fallback"), listOf(d["route"], d["stage"]))
        }
        db.shutdown()
    }
}
