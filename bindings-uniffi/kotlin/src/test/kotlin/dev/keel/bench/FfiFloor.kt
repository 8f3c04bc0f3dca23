// FFI floor from Kotlin on the JVM (JNA, through uniffi): a no-op and a small-record round trip,
// per call after warm-up, and a suspended no-op on Keel's runtime (p50 and p99 of single
// calls). Prints one JSON object; run by bench/run.py (`make bench`) against the release
// library. Not a test: a main in the test sources, so it shares the binding's build.
package dev.keel.bench

import dev.keel.Probe
import dev.keel.probeNoop
import dev.keel.probeNoopAsync
import dev.keel.probeRoundtrip
import kotlinx.coroutines.runBlocking

/** Nanoseconds per call of `body`, the best of five timed runs after warm-up. */
private inline fun perCallNs(body: () -> Unit): Double {
    val calls = 200_000
    repeat(calls) { body() }
    return (1..5).minOf {
        val start = System.nanoTime()
        repeat(calls) { body() }
        (System.nanoTime() - start).toDouble() / calls
    }
}

fun main() {
    val probe = Probe(1u, "deal-risk-scan", 0.5, listOf("copilot", "slack"))
    val noop = perCallNs { probeNoop() }
    val roundtrip = perCallNs { probeRoundtrip(probe) }
    val samples = runBlocking {
        (0 until 5_200).map {
            val start = System.nanoTime()
            probeNoopAsync()
            (System.nanoTime() - start) / 1e3
        }.drop(200).sorted()
    }
    val p50 = samples[samples.size / 2]
    val p99 = samples[Math.round((samples.size - 1) * 0.99).toInt()]
    println(
        """{"noop": $noop, "roundtrip": $roundtrip, """ +
            """"await_noop_p50_us": $p50, "await_noop_p99_us": $p99}""",
    )
}
