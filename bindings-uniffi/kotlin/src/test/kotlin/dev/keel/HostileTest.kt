package dev.keel

import java.nio.charset.CharacterCodingException
import java.util.UUID
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout
import org.json.JSONArray
import org.json.JSONObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test

/** Every Kotlin call that takes text, called with hostile text in each text argument: empty,
 * lone surrogates, NUL and every byte value, 1 MiB, JSON that does not parse or nests past
 * any sane depth, numbers out of range. Each call answers or throws a `KeelException` with a
 * stable code other than `internal`; a lone surrogate is refused by uniffi's UTF-8 encoder
 * (`CharacterCodingException`) before it reaches Rust; nothing hangs; afterwards the library
 * answers as before and a bystander org's stored data is unchanged, on both backends.
 * (Kotlin's types refuse a wrong-typed argument at compile time, so text is the attack
 * surface; the Python and Node hostile suites cover their dynamic types.) */
class HostileTest {
    private val library = REPO.resolve("skills").path

    private val hostile: List<String> = listOf(
        "",
        "\uDC80",
        "deal \uD800 status",
        "x\u0000y",
        String(ByteArray(256) { it.toByte() }, Charsets.ISO_8859_1),
        "What's the status of the Globex deal? ".repeat(1 shl 20 / 38 + 1).take(1 shl 20),
        "{",
        "[".repeat(100_000),
        "{\"orgId\": 1e999, \"messages\": [{\"role\": \"user\", \"content\": null}]}",
        "null",
        "-1",
        "NaN",
        "\u202Eevil\u202C\uFEFF",
    )

    /** True when `text` holds a UTF-16 surrogate without its pair. */
    private fun loneSurrogate(text: String): Boolean =
        text.indices.any { i ->
            val c = text[i]
            (c.isHighSurrogate() && (i + 1 >= text.length || !text[i + 1].isLowSurrogate())) ||
                (c.isLowSurrogate() && (i == 0 || !text[i - 1].isHighSurrogate()))
        }

    /** How the calls ended: answered, a `KeelException` by code, refused by the encoder. */
    private val outcomes = sortedMapOf<String, Int>()

    /** Runs `call` with `text`: an answer, or the errors the contract allows. */
    private suspend fun survive(name: String, text: String, call: suspend (String) -> Any?) {
        val label = "$name(${text.take(20).map { if (it.code < 32) '.' else it }.joinToString("")}…${text.length})"
        val outcome = try {
            withTimeout(60_000) { call(text) }
            "answered"
        } catch (e: KeelException) {
            assertTrue(e.info.code != "internal", "$label: ${e.info.code} ${e.info.detail}")
            assertTrue(e.info.code in errorCodes(), "$label: ${e.info.code}")
            // A database refusing the text (PostgreSQL rejects NUL) is a defect, not bad input.
            assertTrue(e.info.code != "storage", "$label: ${e.info.detail}")
            e.info.code
        } catch (e: CharacterCodingException) {
            assertTrue(loneSurrogate(text), "$label: $e")
            "encoder"
        }
        outcomes.merge(outcome, 1, Int::plus)
    }

    /** How many summaries were asked for. */
    private val summaries = java.util.concurrent.atomic.AtomicInteger()

    /** A summarizer that answers `summary` (hostile itself, in one call). */
    private inner class Echo(private val summary: String = "a summary") : Summarizer {
        override fun summarize(text: String, instructions: String?): String {
            summaries.incrementAndGet()
            return summary
        }
    }

    private val echo = Echo()

    /** 120 messages of about 60 tokens each, well over `small`'s threshold. */
    private val long = JSONArray(
        (0 until 120).map { i ->
            mapOf("role" to if (i % 2 == 0) "user" else "assistant", "content" to "Round $i on the Acme renewal: pricing, legal review, the champion's timeline and the next step. ".repeat(3))
        },
    ).toString()

    private val small = json(
        "threshold" to 4000, "recentTokens" to 1000, "toolResultTokens" to 500,
        "summaryInputTokens" to 2000, "summaryTokens" to 300,
    )

    @Test
    fun everyTextArgumentTakesHostileText() = runBlocking {
        for (url in Backends.fresh()) {
            val db = Keel.connect(url)
            val models = db.modelRouter()
            val skills = db.skillRegistry()
            skills.sync(library)
            val router = skills.messageRouter()
            val conversations = db.conversations()
            val llm = models.llm()
            val logger = db.createLogger("hostile")
            val queue = db.queue()
            val dedup = db.dedup()
            val fleet = db.fleet()
            // Slack on a closed port: what gets past the checks fails to connect, at once.
            val slackClient = db.slack(json("token" to "xoxb-hostile", "baseUrl" to "http://127.0.0.1:9/api", "maxRetries" to 0))
            val threads = db.slackThreads()
            val console = db.console()

            // A bystander org: credits, a conversation, a queue item not yet due (claims take any
            // org's due items); never named below.
            val bystander = UUID.randomUUID().toString()
            models.grantCredits(bystander, 50.0, null, "bystander-grant")
            val kept = JSONObject(conversations.start(json("orgId" to bystander, "userId" to "U1", "channel" to "web")))
            val keptId = kept.getString("id")
            conversations.append(bystander, keptId, JSONArray(listOf(mapOf("role" to "user", "content" to "Acme renewal"))).toString())
            val balance = models.checkBudget(bystander).remaining
            val messages = conversations.messages(bystander, keptId)
            val (waiting) = JSONArray(queue.enqueue(JSONArray(listOf(mapOf("orgId" to bystander, "sourceAgent" to "k", "itemType" to "t", "title" to "Acme", "delayMs" to 3_600_000))).toString())).map { it as String }
            val item = queue.get(waiting)

            val org = UUID.randomUUID().toString()
            val conversation = JSONObject(conversations.start(json("orgId" to org, "userId" to "U2", "channel" to "web"))).getString("id")
            val calls: List<Pair<String, suspend (String) -> Any?>> = listOf(
                "connect" to { h -> Keel.connect(h).shutdown() },
                "connectWith" to { h -> Keel.connectWith("sqlite::memory:", h).shutdown() },
                "parseDatabaseUrl" to { h -> parseDatabaseUrl(h) },
                "countTokens" to { h -> countTokens(h) },
                "countTokens.encoding" to { h -> countTokens("hello", h) },
                "redactSecrets" to { h -> redactSecrets(h) },
                "minhash" to { h -> minhash(h) },
                "planCompaction" to { h -> planCompaction(h) },
                "planCompaction.options" to { h -> planCompaction("[]", h) },
                "parseSkill" to { h -> parseSkill(h) },
                "parseSkill.folder" to { h -> parseSkill("---\nname: x\ndescription: y\n---\nbody\n", h, h, h) },
                "compileSkill" to { h -> compileSkill(h, h, h) },
                "channelNamespaces" to { h -> channelNamespaces(h) },
                "importSkills" to { h -> importSkills(h) },
                "validateSkills" to { h -> validateSkills(h, h) },
                "createLogger" to { h -> createLogger(h, h) },
                "logger.info" to { h -> logger.info(h, h); logger.error(h, h, h) },
                "logger.span" to { h -> logger.span(h, h, h).fail(h, h) },
                "modelRouter" to { h -> db.modelRouter(h) },
                "resolve" to { h -> models.resolve(h) },
                "setModel" to { h -> models.setModel(h) },
                "setOrgTier" to { h -> models.setOrgTier(h, h, h) },
                "recordFailure" to { h -> models.recordFailure(h, h, h) },
                "grantCredits" to { h -> models.grantCredits(h, Double.NaN, h, h) },
                "grantCredits.kind" to { h -> models.grantCredits(org, 1.0, h, h) },
                "reserveCredits" to { h -> models.reserveCredits(org, Double.POSITIVE_INFINITY, h) },
                "commitCredits" to { h -> models.commitCredits(h, -1.0) },
                "deductCredits" to { h -> models.deductCredits(h) },
                "compactionThreshold" to { h -> models.compactionThreshold(h, h) },
                "llm" to { h -> models.llm(h) },
                "complete" to { h -> llm.complete(h) },
                "stream" to { h -> llm.stream(h).next() },
                "llm.countTokens" to { h -> llm.countTokens(h, h) },
                "embed" to { h -> llm.embed(h) },
                "skillRegistry" to { h -> db.skillRegistry(h) },
                "sync" to { h -> skills.sync(h, h) },
                "setOrgContext" to { h -> skills.setOrgContext(org, h) },
                "setEnabled" to { h -> skills.setEnabled(h, h, false) },
                "resolveSkills" to { h -> skills.resolveSkills(h, h) },
                "render" to { h -> skills.resolveSkills(org, "web").render("deal-status", h) },
                "messageRouter" to { h -> skills.messageRouter(h) },
                "messageRouterWith" to { h -> skills.messageRouterWith(h, modelTask { h }, modelTask { h }) },
                "messageRouterWithLlm" to { h -> skills.messageRouterWithLlm(h, null, null) },
                // A Kotlin classifier answering hostile text: the stage fails, the route falls through.
                "modelTask.answer" to { h ->
                    val undecided = json("thresholds" to mapOf("sequence" to 1, "skill" to 1), "log" to false)
                    val asked = skills.messageRouterWith(undecided, modelTask { h }, modelTask { h })
                    asked.route("how is the Globex deal going", "web", org, null, json("allowLlm" to true))
                },
                "route" to { h -> router.route(h, "web", org, h, null) },
                "route.channel" to { h -> router.route("hi", h, h, null, h) },
                "tryRoute" to { h -> router.tryRoute(h, "slack", org) },
                "evaluate" to { h -> router.evaluate(h, org) },
                "routingLog" to { h -> router.log(h, h) },
                "start" to { h -> conversations.start(h) },
                "append" to { h -> conversations.append(org, conversation, h) },
                "append.ids" to { h -> conversations.append(h, h, "[]") },
                "messages" to { h -> conversations.messages(org, conversation, h) },
                "compact" to { h -> conversations.compact(org, conversation, null, h) },
                "context" to { h -> conversations.context(h, h, null, h) },
                "addFacts" to { h -> conversations.addFacts(org, h, h, null, h) },
                "recall" to { h -> conversations.recall(org, h, h, h) },
                "queue" to { h -> db.queue(h) },
                "enqueue" to { h -> queue.enqueue(h) },
                "claim" to { h -> queue.claim(h, h) },
                "claimAfter" to { h -> queue.claimAfter(h, h, h) },
                "claimBatch" to { h -> queue.claimBatch("w", h) },
                "complete.item" to { h -> queue.complete(h, ULong.MAX_VALUE, h) },
                "completeAll" to { h -> queue.completeAll(h) },
                "fail" to { h -> queue.fail(h, 0uL, h, h) },
                "defer" to { h -> queue.defer(h, 1uL, Long.MIN_VALUE) },
                "extend" to { h -> queue.extend(h, 1uL, h) },
                "get" to { h -> queue.get(h) },
                "session" to { h -> queue.session(h) },
                "settle" to { h -> queue.session().settle(h, 1uL, h, null) },
                "LocalLimiter" to { h -> LocalLimiter(h) },
                "limiter.check" to { h -> LocalLimiter().check(h, h) },
                "limiter.acquire" to { h -> LocalLimiter().acquire(h) },
                "sharedLimiter.check" to { h -> db.sharedLimiter().check(h, h) },
                "sharedLimiter.acquire" to { h -> db.sharedLimiter().acquire(h) },
                "rateLimitDecide" to { h -> rateLimitDecide(h) },
                "startRun" to { h -> db.startRun(h).close() },
                "runAgent" to { h -> db.runAgent(h) { null } },
                "runAgent.value" to { h -> db.runAgent("""{"agentName": "hostile", "maxRetries": 0}""") { h } },
                "runAgent.throws" to { h -> db.runAgent("""{"agentName": "hostile", "maxRetries": 0}""") { throw AgentFailure(h, kind = h) } },
                "step" to { h -> db.runAgent("""{"agentName": "hostile", "maxRetries": 0}""") { ctx -> ctx.step(h) { h } } },
                "runs.list" to { h -> db.runs().list(h) },
                "runs.get" to { h -> db.runs().get(h) },
                "runs.sweep" to { h -> db.runs().sweep(h) },
                "deadLetters.enqueue" to { h -> db.deadLetters().enqueue(h) },
                "deadLetters.list" to { h -> db.deadLetters().list(h) },
                "deadLetters.abandon" to { h -> db.deadLetters().abandon(h, h) },
                "deadLetters.purge" to { h -> db.deadLetters().purge(h) },
                "deadLetters.workOnce" to { h -> db.deadLetters().workOnce(h) },
                "deadLetters.workOnce.handler" to { h -> db.deadLetters().workOnce(h) { h } },
                "deadLetters.get" to { h -> db.deadLetters().get(h) },
                "deadLetters.retry" to { h -> db.deadLetters().retry(h) },
                "deadLetters.redrive" to { h -> db.deadLetters().redrive(h) },
                "deadLetters.resolve" to { h -> db.deadLetters().resolve(h) },
                "summarize" to { h -> llm.summarize(h) },
                "classify" to { h -> llm.classify(h) },
                "compactWith" to { h -> conversations.compactWith(org, h, echo, h) },
                "compactWith.summary" to { h ->
                    // A long conversation of its own, so each hostile summary is asked for.
                    val key = json("orgId" to org, "userId" to "U3", "channel" to "web", "channelRef" to UUID.randomUUID().toString())
                    val id = JSONObject(conversations.start(key)).getString("id")
                    conversations.append(org, id, long)
                    conversations.compactWith(org, id, Echo(h), small)
                },
                "pin" to { h -> skills.pin(h, h, null) },
                "resolvedSkills.get" to { h -> skills.resolveSkills(org, "web").get(h) },
                "recordSuccess" to { h -> models.recordSuccess(h, h) },
                "releaseCredits" to { h -> models.releaseCredits(h) },
                "logger.debug" to { h -> logger.debug(h, h); logger.warn(h, h) },
                "span.child" to { h -> logger.span("hostile").child(h, h).stop(h) },
                "minHasher" to { h -> MinHasher().signature(h) },
                "lsh" to { h -> MinHashLsh().run { insert(h, minhash("Acme renewal")); remove(h) } },
                "dedup" to { h -> db.dedup(h) },
                "dedup.enqueue" to { h -> dedup.enqueue(h) },
                "dedup.check" to { h -> dedup.check(h, h) },
                "dedup.score" to { h -> dedup.score(h, 0.5) },
                "dedup.group" to { h -> dedup.group(h) },
                "dedup.counts" to { h -> dedup.counts(h) },
                // Options of null would sweep every org, the bystander's too: a dry run here.
                "dedup.sweep" to { h -> dedup.sweep(json("org" to h, "dryRun" to true)) },
                "dedupKey" to { h -> dedupKey(h) },
                "slack" to { h -> db.slack(h) },
                "slack.repliesPage" to { h -> slackClient.repliesPage(h, h, h) },
                "slack.postMessage" to { h -> slackClient.postMessage(h, h, h) },
                "slack.user" to { h -> slackClient.user(h) },
                "slackIngest" to { h -> slackIngest(h, h) },
                "slackThreads" to { h -> db.slackThreads(h) },
                "threads.getOrCreate" to { h -> threads.getOrCreate(h) },
                "threads.ingest" to { h -> threads.ingest(h, h, h, h) },
                "threads.recordTurn" to { h -> threads.recordTurn(h, h, h) },
                "threads.history" to { h -> threads.history(h, h, h) },
                "readThreadContext" to { h -> readThreadContext(h) },
                "threadTranscript" to { h -> threadTranscript(h, h) },
                "upsertContext" to { h -> conversations.upsertContext(h) },
                "contextForUser" to { h -> conversations.contextForUser(h, h, h) },
                "priorContext" to { h -> conversations.priorContext(org, "U2", h) },
                "forgetContext" to { h -> conversations.forgetContext(h, h, h, h) },
                "console" to { h -> db.console(h) },
                "console.call" to { h -> console.call(h, h) },
                "console.call.args" to { h -> console.call("logs", h) },
                "agentStatus" to { h -> agentStatus(h, h) },
                "nextAlert" to { h -> nextAlert(h, h, h) },
                "fleetAlertMessage" to { h -> fleetAlertMessage(h) },
                "fleet" to { h -> db.fleet(h) },
                "fleet.setAgent" to { h -> fleet.setAgent(h) },
                "fleet.removeAgent" to { h -> fleet.removeAgent(h) },
                "fleet.alerts" to { h -> fleet.alerts(h) },
                "fleet.prune" to { h -> fleet.prune(h) },
                "fleet.report" to { h -> fleet.report(h) },
                "fleet.reportHtml" to { h -> fleet.reportHtml(h) },
                "mergeReports" to { h -> mergeReports(h, h) },
                "agentConfig" to { h -> agentConfig(h) },
                "classifyFailure" to { h -> classifyFailure(h) },
                "retryDelays" to { h -> retryDelays(h) },
            )
            for ((name, call) in calls) {
                for (text in hostile) survive(name, text, call)
            }
            println("hostile text on ${url.substringBefore(':')}: $outcomes, $summaries summaries")
            assertTrue(summaries.getAndSet(0) >= hostile.size, "every hostile summary was asked for")
            // Every call ran with every value, and the values reached Rust's checks.
            assertEquals(calls.size * hostile.size, outcomes.values.sum())
            assertTrue(outcomes.getOrDefault("invalid_input", 0) > calls.size, "$outcomes")
            assertTrue(outcomes.getOrDefault("encoder", 0) >= calls.size, "$outcomes")
            outcomes.clear()

            // The library answers as before, and the bystander's rows are as they were.
            val routed = JSONObject(router.route("What's the status of the Globex deal?", "web", org))
            assertEquals("deal-status", routed["route"], url)
            assertEquals(2uL, countTokens("hello world"))
            assertEquals(balance, models.checkBudget(bystander).remaining, url)
            assertEquals(messages, conversations.messages(bystander, keptId), url)
            assertEquals(item, queue.get(waiting), url)
            logger.flush()
            db.shutdown()
        }
    }
}
