// The conversation store from Node, on SQLite and PostgreSQL.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import keel from '../index.js'
import { BACKENDS, freshUrl } from './helpers.mjs'

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
    assert.deepEqual([first.firstSeq, first.lastSeq, first.tokens[0]], [1, 2, 13])
    const second = await store.append(orgId, c.id, [{ role: 'tool', content: [{ type: 'tool_result', callId: 'call-1', content: 'legal' }] }])
    assert.equal(second.totalTokens, first.tokens[0] + first.tokens[1] + second.tokens[0])
    const read = await store.messages(orgId, c.id)
    assert.deepEqual(read.map((m) => m.seq), [1, 2, 3])
    // Tool arguments are the caller's data: their keys come back as written.
    assert.deepEqual(read[1].content[0].arguments, { deal_name: 'Acme' })
    assert.equal(read[2].content[0].callId, 'call-1')
    assert.equal(read[0].tokensExact, false)
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
  await db.close()
})
