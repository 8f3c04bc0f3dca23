// Conversation memory: open a Slack thread's conversation, append a turn with a tool call and its
// result, read the running total the database keeps, the compaction threshold of the model that
// will answer, and a compaction that masks old tool results. The same scenario runs in examples/rust/memory.rs and examples/python/memory.py.
//
//     node examples/node/memory.mjs
//     KEEL_DATABASE_URL=postgres://… node examples/node/memory.mjs
import { randomUUID } from 'node:crypto'
import keel from 'keelcore'

const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
const orgId = randomUUID()
// --8<-- [start:memory]
const db = await keel.connect(url)
const store = db.conversations()
const thread = await store.start({ orgId, userId: 'U042', channel: 'slack', channelRef: '1733220000.000100' })
const appended = await store.append(orgId, thread.id, [
  { role: 'user', content: 'What is blocking the Acme renewal?' },
  { role: 'assistant', content: [{ type: 'tool_call', id: 'call-1', name: 'crm_lookup', arguments: { deal: 'Acme' } }] },
  { role: 'tool', content: [{ type: 'tool_result', callId: 'call-1', content: 'stage: legal review' }] },
])
console.log(`appended messages ${appended.firstSeq}..${appended.lastSeq}: ${appended.totalTokens} tokens in the conversation`)
const messages = await store.messages(orgId, thread.id)
console.log(`read back: ${messages.map((m) => m.role).join(', ')}`)
// What the question costs: exact for an OpenAI model, estimated (and calibrated by the usage a
// client's calls report) for Claude.
const question = [{ role: 'user', content: 'What is blocking the Acme renewal?' }]
for (const model of ['gpt-4o', 'claude-haiku-4-5']) {
  const n = keel.countMessageTokens(model, question)
  console.log(`${model}: ${n.tokens} input tokens (${n.exact ? 'exact' : 'estimated'})`)
}
// A tool result must answer a call still waiting for one.
try {
  await store.append(orgId, thread.id, [{ role: 'tool', content: [{ type: 'tool_result', callId: 'call-1', content: 'again' }] }])
} catch (refused) {
  console.log(`a second answer to call-1 is refused: ${refused.code}`)
}
const router = await db.modelRouter()
const limit = router.compactionThreshold('claude-haiku-4-5-20251001')
console.log(`compact this thread above ${limit.threshold} tokens`)
// Twelve more lookups with 4 kB results, then a compaction under a small budget: old tool
// results become stubs (no model call); with an `llm` the middle would also be summarised.
for (let i = 2; i <= 13; i++) {
  await store.append(orgId, thread.id, [
    { role: 'user', content: `And deal ${i}?` },
    { role: 'assistant', content: [{ type: 'tool_call', id: `call-${i}`, name: 'crm_lookup', arguments: { deal: i } }] },
    { role: 'tool', content: [{ type: 'tool_result', callId: `call-${i}`, content: 'x'.repeat(4000) }] },
  ])
}
const { compaction } = await store.compact(orgId, thread.id, null, { threshold: 6000, toolResultTokens: 1000 })
console.log(`compaction ${compaction.number} (${compaction.method}): ${compaction.tokensBefore} -> ${compaction.tokensAfter} tokens, ${compaction.masked.length} tool results masked`)
const window = await store.context(orgId, thread.id, null, { threshold: 6000 })
console.log(`sent to the model: ${window.messages.length} messages, ${window.tokens} tokens`)
// What was said in the Slack thread about the Acme deal, carried into a web question.
const [userId, dealId] = [randomUUID(), randomUUID()]
await store.upsertContext({
  orgId, userId, channel: 'slack', channelRef: '1733220000.000100', entityType: 'deal', entityId: dealId,
  summary: 'Acme renewal is in legal review; Dana wants the usage report.',
})
const prior = await store.priorContext(orgId, userId, 'How do I prep for the Acme call?')
const [chosen] = prior.entries
console.log(`prior context for ${JSON.stringify(prior.terms)}: from ${chosen.entry.channel} about the ${chosen.entry.entityType}, score ${chosen.score}`)
// Facts kept about the rep across conversations: the company linked to the platform's id by a
// lookup of the caller's, then the best ones recalled for a later question.
await store.addFacts(orgId, 'U042', [
  { category: 'commitment', subject: 'Acme usage report', content: 'Dana wants the usage report by Friday', companyName: 'Acme' },
  { category: 'preference', subject: 'Reports', content: 'Prefers weekly pipeline reports by email' },
], { link: (kind, name) => (kind === 'company' && name === 'Acme' ? 'company-acme' : null) })
const recall = await store.recall(orgId, 'U042', 'What does Dana need from us for Acme?')
const [best] = recall.facts
console.log(`recalled '${best.fact.subject}' (company ${best.fact.companyId}), score ${best.score.toFixed(2)}`)
await db.close()
// --8<-- [end:memory]
