package dev.keel

import kotlinx.coroutines.runBlocking
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Logs and spans from Kotlin on both backends, written to the `logs` table; bad options
 * named; a closed handle refusing calls. */
class TelemetryTest {
    @Test
    fun logsAndSpansAreWritten() = runBlocking {
        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            val logger = db.createLogger("kotlin-test", json("minLevel" to "debug"))
            logger.info("deal.checked", json("dealId" to "d-1", "apiKey" to "sk-proj-abcdefghijklmnop1234"))
            logger.error("deal.failed", "boom")
            val span = logger.span("deal.score", json("stage" to "proposal"))
            val child = span.child("crm.lookup")
            assertEquals(span.id(), child.parentId(), url)
            assertNull(span.parentId(), url)
            assertTrue(child.stop(), url)
            assertFalse(child.stop(), "a span stops once")
            assertTrue(span.fail("timed out", json("retries" to 2)), url)
            assertTrue(span.traceparent().startsWith("00-"), url)
            val stats = JSONObject(logger.flush())
            assertEquals(4, stats.getInt("written"), "$url: $stats")
            assertEquals(0, stats.getInt("dropped"), "$url: $stats")
            db.shutdown()
            val closed = assertThrows<KeelException.Closed> { db.appliedMigrations() }
            assertEquals("closed", closed.code)
        }
    }

    @Test
    fun badLoggerOptionsAreNamed() {
        val err = assertThrows<KeelException.InvalidInput> { createLogger("svc", json("minLevel" to "loud")) }
        assertEquals("min_level", err.field)
        val logger = createLogger("svc") // JSON lines on stdout
        logger.debug("not written below info")
        assertEquals(32, logger.traceId().replace("-", "").length)
    }
}
