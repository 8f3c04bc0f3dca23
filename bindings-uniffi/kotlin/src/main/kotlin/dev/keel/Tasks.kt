// Hand-written beside the generated keel.kt: a model task done by a suspend function.
package dev.keel

import kotlinx.coroutines.runBlocking

/**
 * A model task (routing's classifier or embedder) done by [work] over the platform's own model
 * client: [work] gets the task as JSON text (to classify `{text, labels: [{name, description}],
 * instructions}`, to embed `{texts, model, dimensions}`) and returns its answer as JSON text
 * (a label such as `"\"deal-status\""` or `{"label", "confidence"}`; the vectors, one per
 * text, or `{"vectors"}`). Core reads the answer: a label that is not a candidate, vectors of
 * the wrong count or length, text that is not JSON, or a throw fail the stage, and the route
 * falls through ([AgentFailure] or a `KeelException` says a status or a wait). Give it to
 * `SkillRegistry.messageRouterWith(optionsJson, classifier, embedder)`.
 */
fun modelTask(work: suspend (String) -> String): ModelTask = object : ModelTask {
    // Core calls this on a thread of its own, so it may block on the suspend function.
    override fun call(taskJson: String): TaskAnswer = runBlocking {
        try {
            TaskAnswer.Answered(work(taskJson))
        } catch (e: Throwable) {
            TaskAnswer.Threw(describe(e))
        }
    }
}
