// Skills: sync the library, an org's context and overrides, the view a channel sees, a skill
// rendered for a request; then the platform's corpus as it is.
//
// The same scenario runs in examples/rust/skills.rs, examples/python/skills.py and
// examples/node/skills.mjs. Run from the repository's root folder (it syncs `skills/`).

import dev.keel.Keel
import dev.keel.importSkills
import java.util.UUID
import kotlinx.coroutines.runBlocking
import org.json.JSONArray
import org.json.JSONObject

fun main() = runBlocking {
    val url = System.getenv("KEEL_DATABASE_URL") ?: "sqlite::memory:"
    val org = UUID.randomUUID().toString()
    // --8<-- [start:skills]
    val db = Keel.connect(url)
    val skills = db.skillRegistry()
    val report = JSONObject(skills.sync("skills")) // idempotent: unchanged files change nothing
    val items = report.getJSONArray("items").map { it as JSONObject }
    val created = items.count { it["action"] == "created" }
    println("synced ${items.size} skills ($created new)")

    skills.setOrgContext(org, JSONObject(mapOf("company_name" to "Acme")).toString())
    skills.setEnabled(org, "slack-general-query", false)
    val slack = skills.resolveSkills(org, "slack") // cached per (org, channel)
    val shadowed = JSONArray(slack.shadowed()).map { it as JSONObject }
        .joinToString(", ") { "${it["key"]} (${it["reason"]})" }
    println("slack sees ${slack.len()} skills; shadowed: $shadowed")
    val deal = slack.get("slack-deal-query")?.let(::JSONObject)
    if (deal != null) {
        val request = mapOf(
            "deal" to mapOf("name" to "Renewal", "stage" to "Proposal", "amount" to 120000, "close_date" to "2026-12-15"),
            "user_name" to "sam",
        )
        val text = slack.render("slack-deal-query", JSONObject(request).toString()) // fills ${deal.…}
        println("slack-deal-query v${deal["version"]}: ${text.length} chars")
    }
    db.shutdown()
    // --8<-- [end:skills]

    // The platform's corpus as it is (atomic/ and sequences/ folders), file by file.
    val corpus = JSONObject(importSkills("testdata/skill-corpus"))
    println("platform corpus: ${corpus["loads"]} load, ${corpus["warned"]} warned, ${corpus["refused"]} refused")
}
