package dev.keel

import com.sun.net.httpserver.HttpServer
import java.net.InetSocketAddress
import java.util.Collections
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Fleet health from Kotlin on both backends, as Node's suite runs it: the seeded registry, an
 * agent registered and judged from its real runs, alerts posted once to a Slack webhook on
 * loopback (the JDK's HTTP server) with the original's Block Kit layout, the original
 * snake_case response, a Kotlin `AlertSink` instead, the HTML report escaping markup, and bad
 * input named by field. */
class FleetTest {
    private val fast = mapOf("limit" to 100, "periodMs" to 1000, "burst" to 100)

    /** An agent run that fails once with a 503, its execution row written. */
    private suspend fun failingRun(db: Keel, agent: String) {
        val result = JSONObject(db.runAgent(json("agentName" to agent, "maxRetries" to 0)) { throw AgentFailure("the CRM said no", status = 503) })
        assertEquals("failed", result.getString("status"))
        db.runs().flush()
    }

    @Test
    fun aHealthRunPostsEachAlertOnceToTheWebhook() = runBlocking {
        val bodies = Collections.synchronizedList(mutableListOf<JSONObject>())
        val server = HttpServer.create(InetSocketAddress("127.0.0.1", 0), 0)
        server.createContext("/services/T0/B0/x") { exchange ->
            bodies += JSONObject(exchange.requestBody.readBytes().decodeToString())
            val ok = "ok".toByteArray()
            exchange.sendResponseHeaders(200, ok.size.toLong())
            exchange.responseBody.use { it.write(ok) }
        }
        server.start()
        try {
            for (url in Backends.fresh()) {
                bodies.clear()
                val db = Keel.connect(url)
                val hook = "http://127.0.0.1:${server.address.port}/services/T0/B0/x"
                val fleet = db.fleet(json("webhookUrl" to hook, "webhookLimit" to fast))
                val agents = JSONArray(fleet.agents()).map { it as JSONObject }
                assertEquals(6, agents.size, "the seeded registry")
                assertEquals(7L * 86_400_000, agents.first { it.getString("agentName") == "pipeline-snapshot" }.getLong("cadenceMs"))
                val added = JSONObject(fleet.setAgent(json("agentName" to "kotlin-agent", "schedule" to "*/5 * * * *")))
                assertEquals(300_000, added.getInt("cadenceMs"))
                failingRun(db, "kotlin-agent")

                val health = JSONObject(fleet.check())
                val mine = health.getJSONArray("agents").map { it as JSONObject }.first { it.getString("name") == "kotlin-agent" }
                assertEquals("critical", mine.getString("status"), "$url: $mine")
                assertEquals(100.0, mine.getDouble("failureRate24h"))
                val summary = health.getJSONObject("summary")
                assertEquals(listOf(0, 0, 1, 6), listOf("healthy", "warning", "critical", "stale").map { summary.getInt(it) })
                assertEquals(7, health.getInt("totalAlertsFired"))
                assertEquals(7, health.getJSONObject("delivery").getInt("delivered"))
                assertEquals(7, bodies.size, "each alert posted once")
                val body = bodies.first { it.getString("text").contains("kotlin-agent") }
                val blocks = body.getJSONArray("blocks").map { it as JSONObject }
                assertEquals(listOf("header", "section", "section", "section", "context"), blocks.map { it.getString("type") })
                assertEquals("Fleet Health CRITICAL: kotlin-agent", blocks[0].getJSONObject("text").getString("text"))

                val original = JSONObject(fleet.checkFleetHealth())
                assertEquals(0, original.getInt("total_alerts_fired"), "no new transition, no alert")
                assertTrue(original.has("checked_at") && original.getJSONArray("agents").getJSONObject(0).has("failure_rate_24h"))
                assertEquals(7, bodies.size)
                val report = JSONObject(fleet.report(json("periodMs" to 3_600_000)))
                assertEquals(2, report.getJSONObject("series").getJSONArray("kotlin-agent").length())
                assertEquals(0uL, fleet.prune(json("keepMs" to 86_400_000)))
                assertEquals(7, JSONArray(fleet.alerts()).length())
                assertEquals(1, JSONArray(fleet.alerts(json("agentName" to "kotlin-agent"))).length())
                assertEquals("kotlin-agent", JSONObject(fleet.removeAgent("kotlin-agent")).getString("agentName"))
                db.shutdown()
            }
        } finally {
            server.stop(0)
        }
    }

    @Test
    fun aKotlinSinkReceivesAlertsAndThePageEscapesMarkup() = runBlocking {
        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            val received = Collections.synchronizedList(mutableListOf<JSONObject>())
            val fleet = db.fleet(
                null,
                object : AlertSink {
                    override fun deliver(alertJson: String) {
                        received += JSONObject(alertJson)
                    }
                },
            )
            fleet.setAgent(json("agentName" to "<img src=x onerror=alert(1)>", "cadenceMs" to 60_000))
            val health = JSONObject(fleet.check())
            assertEquals(health.getInt("totalAlertsFired"), received.size, "$url")
            assertTrue(received.isNotEmpty())
            assertTrue(received.all { it.getString("delivery") == "sending" && it.getJSONObject("message").has("text") })
            val page = fleet.reportHtml()
            assertTrue(page.startsWith("<!doctype html>"))
            assertFalse(page.contains("<img src=x"))
            assertTrue(page.contains("&lt;img src=x onerror=alert(1)&gt;"))
            db.shutdown()
        }
    }

    @Test
    fun aSinkThatThrowsIsAFailedAttemptRetried() = runBlocking {
        val db = Keel.connect("sqlite::memory:")
        var calls = 0
        val fleet = db.fleet(
            null,
            object : AlertSink {
                override fun deliver(alertJson: String) {
                    calls++
                    throw IllegalStateException("the channel is down")
                }
            },
        )
        fleet.setAgent(json("agentName" to "flaky-sink", "cadenceMs" to 60_000))
        val health = JSONObject(fleet.check())
        assertTrue(calls > 0)
        val delivery = health.getJSONObject("delivery")
        assertEquals(0, delivery.getInt("delivered"), "$health")
        assertTrue(delivery.getInt("retrying") > 0, "$health")
        assertTrue(delivery.getJSONArray("errors").getString(0).contains("the channel is down"), "$health")
        db.shutdown()
    }

    @Test
    fun badInputNamesTheField() = runBlocking {
        val db = Keel.connect("sqlite::memory:")
        assertEquals("options.webhookUrl", assertThrows<KeelException.InvalidInput> { db.fleet(json("webhookUrl" to "http://hooks.example.com/x")) }.field)
        val fleet = db.fleet()
        assertEquals("cadenceMs", assertThrows<KeelException.InvalidInput> { fleet.setAgent(json("agentName" to "x", "cadenceMs" to 0)) }.field)
        assertEquals("agentName", assertThrows<KeelException.InvalidInput> { fleet.removeAgent("nobody") }.field)
        assertEquals("spec", assertThrows<KeelException.InvalidInput> { fleet.setAgent("{") }.field)
        db.shutdown()
    }
}
