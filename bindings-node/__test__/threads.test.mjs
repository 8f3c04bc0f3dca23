// Slack copilot threads from Node on both backends: a thread ingested from Slack's JSON (each
// ts once), extraction at its watermark through Keel's LLM calls on the loopback (a failing
// model leaves the watermark), the Slack conclusion read from the web, a fleet agent's row,
// forgetting, turns and history, and bad input typed.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import keel from '../index.js'
import { BACKENDS, freshUrl, startLoopback } from './helpers.mjs'

const THREAD = '1733220000.000100'

/** A `conversations.replies` page of `n` messages, the rep and the copilot's bot in turn. */
const page = (n) => ({
  ok: true,
  messages: Array.from({ length: n }, (_, i) => ({
    type: 'message',
    user: i % 2 === 0 ? 'U1' : 'UBOT',
    ts: `17332200${String(i).padStart(2, '0')}.000100`,
    text: i === n - 1 ? 'Legal signed off on Acme Renewal; close Friday.' : `turn ${i}`,
  })),
})

let loopback
before(async () => {
  loopback = await startLoopback()
})
after(() => loopback.stop())

for (const backend of BACKENDS) {
  test(`${backend}: a Slack thread reaches the web copilot`, async () => {
    await loopback.reset()
    const db = await keel.connect(freshUrl(backend))
    try {
      const threads = db.slackThreads()
      const [orgId, userId, deal] = [randomUUID(), randomUUID(), randomUUID()]
      const key = { orgId, userId, slackTeamId: 'T1', slackChannelId: 'C1', slackThreadTs: THREAD }
      const thread = await threads.getOrCreate(key)
      const done = await threads.ingest(orgId, thread.id, page(10), { botUserId: 'UBOT' })
      assert.deepEqual([done.added, done.extractionDue], [10, true])
      const again = await threads.ingest(orgId, thread.id, page(10), { botUserId: 'UBOT' })
      assert.deepEqual([again.added, again.duplicates, again.messageCount], [0, 10, 10])

      const llm = (await db.modelRouter({ seedDefaults: false })).llm({ providers: loopback.providers() })
      const model = { provider: 'openai', model: 'thread-model' }
      await loopback.script('thread-model', { error: 400, message: 'bad request' })
      const failed = await threads.sweep(llm, model)
      assert.deepEqual([failed.claimed, failed.failed], [1, 1])
      const kept = await threads.get(orgId, thread.id)
      assert.deepEqual([kept.extractedThrough, kept.extractionAttempts], [0, 1])
      assert.ok(kept.extractionError)

      const answer = {
        summary: 'Acme Renewal: legal signed off; closing Friday.',
        entities: [
          { entity_type: 'deal', name: 'Acme Renewal' },
          { entity_type: 'company', name: 'Acme' },
        ],
      }
      await loopback.script('thread-model', { text: JSON.stringify(answer) })
      const link = async (kind) => (kind === 'deal' ? deal : null)
      const extracted = await threads.extract(orgId, thread.id, llm, { ...model, link })
      assert.deepEqual([extracted.status, extracted.extractedThrough], ['extracted', 10])
      assert.deepEqual(extracted.entities.map((e) => e.entityId), [deal, null])

      const memory = db.conversations()
      const web = await memory.contextForUser(orgId, userId, { message: 'Where is Acme Renewal?', channel: 'web' })
      assert.match(web.block, /closing Friday/)
      await memory.upsertContext({
        orgId,
        userId,
        channel: 'agent',
        entityType: 'deal',
        entityId: deal,
        summary: 'Enriched Acme Renewal: 3 new stakeholders.',
        entityName: 'Acme Renewal',
        agentName: 'deal-enricher',
      })
      const both = await memory.contextForUser(orgId, userId, { message: 'Acme Renewal' })
      assert.equal(both.entries.length, 2)
      assert.match(both.block, /fleet_agent \(deal-enricher\)/)
      const forgotten = await memory.forgetContext(orgId, userId, 'deal', deal)
      assert.equal(forgotten.removed, 2)

      const turn = await threads.recordTurn(orgId, thread.id, { intent: 'deal_query', credits: 0.5, action: { type: 'draft' } })
      assert.deepEqual([turn.intentsUsed, turn.creditsConsumed, turn.turns.length], [['deal_query'], 0.5, 1])
      const active = await threads.setActive(orgId, thread.id, { dealId: deal, loadedContext: { stage: 'legal' } })
      assert.equal(active.active.dealId, deal)
      const history = await threads.history(orgId, thread.id, { limit: 2 })
      assert.deepEqual(history.map((h) => h.role), ['user', 'assistant'])
      assert.match(history.at(-1).content, /^Legal signed off/)
    } finally {
      await db.close()
    }
  })
}

test('bad input is typed and names its field', async () => {
  const db = await keel.connect('sqlite::memory:')
  try {
    const threads = db.slackThreads()
    const [orgId, userId] = [randomUUID(), randomUUID()]
    const key = { orgId, userId, slackTeamId: 'T1', slackChannelId: 'C1', slackThreadTs: 'yesterday' }
    await assert.rejects(threads.getOrCreate(key), { code: 'invalid_input', field: 'slackThreadTs' })
    const thread = await threads.getOrCreate({ ...key, slackThreadTs: THREAD })
    await assert.rejects(threads.addMessages(orgId, thread.id, [{ slackTs: '1', role: 'user', text: 'hi' }]), {
      code: 'invalid_input',
      field: 'messages[0].slackTs',
    })
    await assert.rejects(threads.recordTurn(orgId, thread.id, { credits: -1 }), { field: 'credits' })
    assert.throws(() => db.slackThreads({ extractAfterMessages: 0 }), { field: 'options.extractAfterMessages' })
    await assert.rejects(db.conversations().forgetContext(orgId, userId, 'opportunity', randomUUID()), {
      field: 'entityType',
    })
  } finally {
    await db.close()
  }
})
