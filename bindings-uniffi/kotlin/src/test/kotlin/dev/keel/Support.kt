package dev.keel

import java.io.File
import java.net.URI
import java.net.http.HttpClient
import java.net.http.HttpRequest
import java.net.http.HttpResponse
import java.nio.file.Files
import java.util.UUID
import org.json.JSONObject

/** The repository's root folder (the tests run from bindings-uniffi/kotlin). */
val REPO: File = File(System.getProperty("user.dir")).resolve("../..").canonicalFile

/** The two backends every storage test runs on: a fresh SQLite file and, when
 * `KEEL_TEST_PG_URL` is set (`make test` sets it), a fresh PostgreSQL database. */
object Backends {
    private val admin: String? = System.getenv("KEEL_TEST_PG_URL")?.ifEmpty { null }

    /** A URL of a new, empty database of each backend. */
    fun fresh(): List<String> {
        val sqlite = "sqlite://" + Files.createTempDirectory("keel-kotlin").resolve("keel.db")
        return listOfNotNull(sqlite, admin?.let(::freshPostgres))
    }

    private fun freshPostgres(admin: String): String {
        val name = "keel_kotlin_" + UUID.randomUUID().toString().replace("-", "").take(12)
        val psql = ProcessBuilder("psql", admin, "-qc", "CREATE DATABASE $name").inheritIO().start()
        check(psql.waitFor() == 0) { "psql could not create $name" }
        return admin.substringBeforeLast('/') + "/" + name
    }

    /** True when the PostgreSQL half runs (CI sets the URL; a bare `mvn test` may not). */
    val postgres: Boolean get() = admin != null
}

/** `keel loopback` (the CLI, built by `cargo build -p keel-cli`): the providers' wires on
 * loopback, scripted over HTTP as cli/src/loopback.rs documents. One per test class. */
class Loopback : AutoCloseable {
    private val process: Process = ProcessBuilder(REPO.resolve("target/debug/keel").path, "loopback")
        .redirectErrorStream(true).start()
    private val http = HttpClient.newHttpClient()

    /** The server's base URL. */
    val baseUrl: String = run {
        val line = process.inputStream.bufferedReader().readLine() ?: error("keel loopback printed nothing")
        Regex("http://\\S+").find(line)?.value ?: error("keel loopback printed $line")
    }

    /** `providers` for `router.llm` with every wire on this server. */
    val providers: JSONObject
        get() = JSONObject(
            mapOf(
                "anthropic" to mapOf("apiKey" to "key-anthropic", "baseUrl" to baseUrl),
                "google" to mapOf("apiKey" to "key-google", "baseUrl" to baseUrl),
                "openai" to mapOf("apiKey" to "key-openai", "baseUrl" to "$baseUrl/v1"),
            ),
        )

    /** Queues `replies` for `model`. */
    fun script(model: String, vararg replies: Any) {
        post("/_loopback/script", JSONObject(mapOf("model" to model, "replies" to replies.toList())))
    }

    /** The requests received, oldest first (`wire`, `path`, `model`, `body`, …). */
    fun received(): List<JSONObject> = org.json.JSONArray(post("/_loopback/received", JSONObject())).map { it as JSONObject }

    /** Forgets scripts and requests. */
    fun reset() {
        post("/_loopback/reset", JSONObject())
    }

    private fun post(path: String, body: JSONObject): String {
        val request = HttpRequest.newBuilder(URI.create(baseUrl + path))
            .header("content-type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body.toString())).build()
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        check(response.statusCode() == 200) { "$path: ${response.statusCode()} ${response.body()}" }
        return response.body()
    }

    override fun close() {
        process.destroy()
        process.waitFor()
    }
}

/** A JSON object's text. */
fun json(vararg fields: Pair<String, Any?>): String = JSONObject(mapOf(*fields)).toString()

/** One user message, as a `messages` list. */
fun ask(text: String): List<Map<String, String>> = listOf(mapOf("role" to "user", "content" to text))
