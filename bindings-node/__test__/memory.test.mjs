// The conversation store from Node, on SQLite and PostgreSQL.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import keel from '../index.js'
import { BACKENDS, SMALL, freshUrl, rounds, startLoopback } from './helpers.mjs'

for (const backend of BACKENDS) {
  test(`${backend}: appends count tokens in the database and read back in order`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const store = db.conversations()
    const orgId = randomUUID()
    const key = { orgId, userId: 'U042', channel: 'slack', channelRef: '1733220000.000100' }
    const c = await store.start(key)
    assert.deepEqual([c.messageCount, c.totalTokens, c.channelRef], [0, 0, '1733220000.000100'])
    const again = await store.start({ ...key, title: 'Acme' })
    assert.deepEqual([again.id, again.title], [c.id, 'Acme'])
    const first = await store.append(orgId, c.id, [
      { role: 'user', content: 'What is blocking the Acme renewal?' },
      { role: 'assistant', content: [{ type: 'tool_call', id: 'call-1', name: 'crm_lookup', arguments: { deal_name: 'Acme' } }] },
    ])
    // 8 tokens of o200k_base, 'user' 1, framing 3: the count core keeps, exact for text.
    assert.deepEqual([first.firstSeq, first.lastSeq, first.tokens[0]], [1, 2, 12])
    const second = await store.append(orgId, c.id, [{ role: 'tool', content: [{ type: 'tool_result', callId: 'call-1', content: 'legal' }] }])
    assert.equal(second.totalTokens, first.tokens[0] + first.tokens[1] + second.tokens[0])
    const read = await store.messages(orgId, c.id)
    assert.deepEqual(read.map((m) => m.seq), [1, 2, 3])
    // Tool arguments are the caller's data: their keys come back as written.
    assert.deepEqual(read[1].content[0].arguments, { deal_name: 'Acme' })
    assert.equal(read[2].content[0].callId, 'call-1')
    assert.deepEqual(read.map((m) => m.tokensExact), [true, false, false])
    assert.deepEqual((await store.messages(orgId, c.id, { afterSeq: 2 })).map((m) => m.seq), [3])
    // 32 appends at once: every seq once, and the total is the sum of what each counted.
    const all = await Promise.all(Array.from({ length: 32 }, (_, i) => store.append(orgId, c.id, [{ role: 'user', content: 'x'.repeat(i * 5 + 1) }])))
    const stored = await store.get(orgId, c.id)
    assert.equal(stored.messageCount, 35)
    assert.equal(stored.totalTokens, second.totalTokens + all.reduce((sum, a) => sum + a.tokens[0], 0))
    assert.deepEqual(all.map((a) => a.firstSeq).sort((a, b) => a - b), Array.from({ length: 32 }, (_, i) => i + 4))
    await db.close()
  })
}

test('bad input rejects with invalid_input naming the field', async () => {
  const db = await keel.connect('sqlite::memory:')
  const store = db.conversations()
  const orgId = randomUUID()
  const c = await store.start({ orgId, userId: 'U042', channel: 'web' })
  // Fields as JavaScript spells them.
  const cases = [
    [() => store.start({ orgId, userId: 'U042', channel: 'email' }), 'key.channel'],
    [() => store.start({ orgId, userId: 'U042' }), 'key.channel'],
    [() => store.get('nope', c.id), 'orgId'],
    [() => store.append(orgId, c.id, [{ role: 'robot', content: 'hi' }]), 'messages[0].role'],
    [() => store.append(orgId, c.id, 'not a list'), 'messages'],
    [() => store.append(orgId, c.id, [{ role: 'tool', content: [{ type: 'tool_result', callId: 'x', content: '?' }] }]), 'messages[0].content[0].callId'],
    [() => store.append(orgId, randomUUID(), [{ role: 'user', content: 'hi' }]), 'conversationId'],
    [() => store.messages(orgId, c.id, { limit: 0 }), 'limit'],
  ]
  for (const [call, field] of cases) {
    await assert.rejects(call(), (err) => err.code === 'invalid_input' && err.field === field, field)
  }
  await assert.rejects(async () => store.get(42, c.id), TypeError)
  // A lone surrogate reaches core replaced, and is stored.
  await store.append(orgId, c.id, [{ role: 'user', content: '\ud800 deal' }])
  assert.equal((await store.get(orgId, c.id)).messageCount, 1)
  // One U+FFFD, as from Python.
  assert.deepEqual((await store.messages(orgId, c.id))[0].content, [{ type: 'text', text: '\ufffd deal' }])
  await db.close()
})

for (const backend of BACKENDS) {
  test(`${backend}: compaction summarises through Keel's LLM calls, under the threshold, once`, async () => {
    const loopback = await startLoopback()
    const db = await keel.connect(freshUrl(backend))
    try {
      const store = db.conversations()
      const orgId = randomUUID()
      const c = await store.start({ orgId, userId: 'U042', channel: 'web' })
      await store.append(orgId, c.id, rounds(100))
      const llm = (await db.modelRouter({ seedDefaults: false })).llm({ providers: loopback.providers() })
      await loopback.script('summary-model', { text: '**Decisions & Conclusions**\n- Acme moved to legal.' })
      const before = await store.context(orgId, c.id, null, { threshold: 4000 })
      assert.ok(before.trimmed && before.tokens <= 4000)
      const done = await store.compact(orgId, c.id, llm, { ...SMALL, summaryProvider: 'openai', summaryModel: 'summary-model' })
      assert.ok(done.applied)
      assert.deepEqual([done.compaction.method, done.compaction.number], ['summary', 1])
      assert.ok(done.compaction.tokensAfter <= 4000 && done.compaction.tokensBefore > 4000)
      assert.ok(done.compaction.masked.length > 50)
      const [request] = (await loopback.received()).map((r) => r.body)
      assert.match(request.messages[0].content, /Deal Stage Changes/)
      const window = await store.context(orgId, c.id, null, { threshold: 4000 })
      assert.equal(window.trimmed, false)
      assert.equal(window.tokens, done.compaction.tokensAfter)
      assert.match(window.messages[0].content[0].text, /^Summary of the earlier conversation/)
      const again = await store.compact(orgId, c.id, null, SMALL)
      assert.deepEqual([again.applied, again.compaction], [false, null])
    } finally {
      await db.close()
      loopback.stop()
    }
  })
}

test('compaction without a summarizer trims; bad options name their field', async () => {
  const db = await keel.connect('sqlite::memory:')
  const store = db.conversations()
  const orgId = randomUUID()
  const c = await store.start({ orgId, userId: 'U042', channel: 'web' })
  await store.append(orgId, c.id, rounds(100))
  const done = await store.compact(orgId, c.id, null, SMALL)
  assert.deepEqual([done.compaction.method, done.compaction.note], ['trim', 'no summarizer'])
  const cases = [
    [() => store.compact(orgId, c.id, null, { threshold: 0 }), 'options.threshold'],
    [() => store.compact(orgId, c.id, null, { model: 'claude-haiku-4-5' }), 'options.model'],
    [() => store.compact(orgId, c.id, null, { minRecent: -1 }), 'options.minRecent'],
    [() => store.context(randomUUID(), c.id, null, { threshold: 4000 }), 'conversationId'],
  ]
  for (const [call, field] of cases) {
    await assert.rejects(call(), (err) => err.code === 'invalid_input' && err.field === field, field)
  }
  const plan = keel.planCompaction(Array.from({ length: 20 }, (_, i) => ({ role: 'user', content: `q${i}`, tokens: 100 })), { threshold: 1000, minRecent: 4, summaryTokens: 50 })
  assert.deepEqual([plan.action, plan.fits, plan.keepFrom], ['summarize', true, 12])
  assert.throws(() => keel.planCompaction([{ role: 'robot', content: 'x' }]), { code: 'invalid_input', field: 'messages[0].role' })
  await db.close()
})

for (const backend of BACKENDS) {
  test(`${backend}: context carries from Slack to the web, one row per key`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const store = db.conversations()
    const [orgId, userId, entityId] = [randomUUID(), randomUUID(), randomUUID()]
    const entry = { orgId, userId, channel: 'slack', channelRef: '1733220000.000100', entityType: 'deal', entityId }
    await Promise.all([1, 2, 3, 4].map((i) => store.upsertContext({ ...entry, summary: `Acme Corp renewal, note ${i}.` })))
    const written = await store.upsertContext({ ...entry, summary: 'Acme Corp renewal is in legal review.' })
    assert.deepEqual([written.channel, written.entityId, written.channelRef], ['slack', entityId, '1733220000.000100'])
    const prior = await store.priorContext(orgId, userId, 'How do I prep for the Acme Corp call?')
    assert.deepEqual(prior.terms, ['Acme Corp'])
    assert.deepEqual(prior.entries.map((e) => [e.entry.entityId, e.score]), [[entityId, 5]])
    assert.match(prior.block, /^## Prior Conversation Context\n\[Context from slack_copilot — deal — /)
    assert.deepEqual(await store.archiveContext(), { archived: 0 })
    const cases = [
      [() => store.upsertContext({ ...entry, entityType: 'lead', summary: 'x' }), 'entry.entityType'],
      [() => store.upsertContext({ ...entry, summary: ' ' }), 'summary'],
      [() => store.upsertContext({ ...entry, orgId: randomUUID(), summary: 'x' }), 'orgId'],
      [() => store.archiveContext({ maxAgeDays: 0 }), 'maxAgeDays'],
    ]
    for (const [call, field] of cases) {
      await assert.rejects(call(), (err) => err.code === 'invalid_input' && err.field === field, field)
    }
    await db.close()
  })
}
