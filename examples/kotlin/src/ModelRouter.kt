// Model router: resolve a model for a feature, report the call, charge its credits.
//
// The same scenario runs in examples/rust/model_router.rs, examples/python/model_router.py
// and examples/node/model_router.mjs. Requests and results cross as JSON text (camelCase).

import dev.keel.Keel
import java.util.Locale
import java.util.UUID
import kotlinx.coroutines.runBlocking
import org.json.JSONObject

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    val org = UUID.randomUUID().toString()
    // --8<-- [start:model_router]
    val db = Keel.connect(url)
    val router = db.modelRouter() // seeds the default matrix
    router.setOrgTier(org, "copilot", "low")
    val pick = JSONObject(router.resolve(JSONObject(mapOf("feature" to "copilot", "orgId" to org)).toString()))
    println("copilot for this org: ${pick["provider"]}/${pick["modelId"]} (${pick["tier"]} tier)")
    // When its conversations must be compacted: the window from the matrix, the dated id matched.
    val limit = JSONObject(router.compactionThreshold(pick.getString("modelId")))
    println("compact ${limit["canonicalId"]} conversations above ${limit["threshold"]} tokens")

    // A 400 is the caller's fault: the breaker does not count it.
    println("a 400 changes the breaker: ${router.recordFailure(pick.getString("modelId"), "400")}")

    router.grantCredits(org, 10.0)
    val charge = mapOf(
        "orgId" to org, "resolution" to pick, "inputTokens" to 2000, "outputTokens" to 500,
        "idempotencyKey" to "call-1",
    )
    val charged = JSONObject(router.deductCredits(JSONObject(charge).toString()))
    println("balance after the call: ${"%.4f".format(Locale.ROOT, charged.getDouble("balanceAfter"))}")
    db.shutdown()
    // --8<-- [end:model_router]
}
