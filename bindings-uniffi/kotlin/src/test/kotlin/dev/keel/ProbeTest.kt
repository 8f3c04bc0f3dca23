package dev.keel

import java.io.File
import kotlinx.coroutines.runBlocking
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** The boundary itself: a record's round trip, a panic in core arriving as an exception (never
 * a crash of the JVM), and the Swift sources generated from the same library as Kotlin's. */
class ProbeTest {
    @Test
    fun aRecordCrossesBothWays() {
        val back = probeRoundtrip(Probe(1u, "deal-risk-scan", 0.5, listOf("copilot", "slack")))
        assertEquals(Probe(2u, "deal-risk-scan", 1.0, listOf("copilot", "slack")), back)
        runBlocking { probeNoopAsync() }
    }

    @Test
    fun aPanicInCoreIsAnException() {
        val async = assertThrows<KeelException.Internal> { runBlocking { probePanicAsync("boom") } }
        assertTrue(async.info.detail.contains("boom"), async.info.detail)
        val sync = assertThrows<InternalException> { probePanic("boom") }
        assertTrue(sync.message!!.contains("boom"), sync.message)
        // The library still answers after both.
        assertEquals(2uL, countTokens("hello world"))
    }

    @Test
    fun swiftHasEveryFunctionAndClassKotlinHas() {
        val kotlin = File("src/main/kotlin/dev/keel/keel.kt").readText()
        val swift = REPO.resolve("bindings-uniffi/swift/Keel.swift").readText()
        val functions = Regex("""^(?:    )?(?:override )?(?:suspend )?fun `(\w+)`\(""", RegexOption.MULTILINE)
            .findAll(kotlin).map { it.groupValues[1] }.toSet()
        val classes = Regex("""^open class (\w+):""", RegexOption.MULTILINE).findAll(kotlin).map { it.groupValues[1] }.toSet()
        assertTrue(functions.size > 80, "found ${functions.size} functions")
        // Swift quotes its keywords (`defer`) in backticks.
        val missing = functions.filter { !Regex("""func `?$it`?\(""").containsMatchIn(swift) }
        assertEquals(emptyList<String>(), missing, "Swift lacks these functions")
        assertTrue(classes.containsAll(listOf("Keel", "ModelRouter", "Llm", "MessageRouter", "SkillRegistry")), "$classes")
        for (name in classes) assertTrue(Regex("""class $name\b""").containsMatchIn(swift), "Swift lacks class $name")
        assertTrue(Regex("""public\s+enum KeelError\b""").containsMatchIn(swift), "Swift lacks the error enum")
        assertTrue(swift.contains("func summarize(text: String, instructions: String?) throws"), "the Summarizer protocol")
    }
}
