// Facts from Node, on SQLite and PostgreSQL: stored with a JavaScript entity linker, recalled
// in the order `rankFacts` gives, superseded, and extracted by a model through Keel's LLM
// calls (the loopback provider).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import keel from '../index.js'
import { BACKENDS, freshUrl, startLoopback } from './helpers.mjs'

const FACTS = [
  { category: 'deal', subject: 'Acme pricing', content: 'Acme asked for 10% off the annual plan', companyName: 'Acme' },
  { category: 'commitment', subject: 'Acme demo', content: "Security review before Friday's demo", confidence: 0.8 },
  { category: 'relationship', subject: 'Sarah Lee', content: 'Sarah in procurement prefers short calls', contactName: 'Sarah Lee' },
  { category: 'preference', subject: 'Reports', content: 'Wants weekly pipeline reports by email' },
]

for (const backend of BACKENDS) {
  test(`${backend}: facts are linked, recalled and superseded`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const store = db.conversations()
    const orgId = randomUUID()
    const asked = []
    // An async linker, as a platform's CRM lookup would be.
    const link = async (kind, name) => {
      asked.push([kind, name])
      return { Acme: 'company-1', 'Sarah Lee': 'contact-7' }[name] ?? null
    }
    const stored = await store.addFacts(orgId, 'U042', FACTS, { link })
    assert.deepEqual(stored.map((f) => f.subject), FACTS.map((f) => f.subject))
    assert.deepEqual([stored[0].companyId, stored[2].contactId], ['company-1', 'contact-7'])
    assert.deepEqual(asked.sort(), [['company', 'Acme'], ['contact', 'Sarah Lee']])
    const query = 'What did Acme say about pricing?'
    const recall = await store.recall(orgId, 'U042', query, { recordAccess: false })
    const expected = keel.rankFacts(query, await store.facts(orgId, 'U042'))
    assert.deepEqual(recall.facts.map((r) => r.fact.id), expected.map((r) => r.fact.id))
    assert.equal(recall.facts[0].fact.subject, 'Acme pricing')
    assert.match(recall.block, /^## Relevant Memories\n- \*\*Acme pricing\*\* \(deal\): /)
    assert.equal((await store.recall(orgId, 'U042', 'Acme pricing')).facts[0].fact.accessCount, 1)
    const [newer] = await store.addFacts(orgId, 'U042', [{ category: 'deal', subject: 'Acme pricing', content: 'Acme settled on 5% off', supersedes: stored[0].id }])
    const all = await store.facts(orgId, 'U042', { includeSuperseded: true })
    assert.equal(all.find((f) => f.id === stored[0].id).supersededBy, newer.id)
    assert.equal((await store.facts(orgId, 'U042')).length, 4)
    const cases = [
      [() => store.addFacts(orgId, 'U042', [{ category: 'gossip', subject: 'x', content: 'y' }]), 'facts[0].category'],
      [() => store.addFacts(orgId, 'U042', [{ ...FACTS[0], confidence: 2 }]), 'facts[0].confidence'],
      [() => store.addFacts(orgId, '', FACTS), 'userId'],
      [() => store.recall(orgId, 'U042', 'x', { limit: 0 }), 'limit'],
      [() => store.addFacts(orgId, 'U042', FACTS, { link: () => { throw new Error('CRM down') } }), 'link'],
      [() => store.addFacts(orgId, 'U042', FACTS, { link: () => 42 }), 'link'],
    ]
    for (const [call, field] of cases) {
      await assert.rejects(call(), (err) => err.code === 'invalid_input' && err.field === field, field)
    }
    assert.equal((await store.facts(orgId, 'U042')).length, 4)
    await db.close()
  })
}

test('extraction through Keel LLM calls stores facts once per key', async () => {
  const loopback = await startLoopback()
  const db = await keel.connect('sqlite::memory:')
  try {
    const store = db.conversations()
    const orgId = randomUUID()
    const c = await store.start({ orgId, userId: 'U042', channel: 'web' })
    await store.append(orgId, c.id, [
      { role: 'user', content: "Acme's budget is 80k and Sarah Lee signs off." },
      { role: 'assistant', content: 'Noted: 80k, Sarah Lee signs.' },
    ])
    const llm = (await db.modelRouter({ seedDefaults: false })).llm({ providers: loopback.providers() })
    const answer = [
      { category: 'deal', subject: 'Acme budget', content: "Acme's budget is 80k", confidence: 0.9, source: [1] },
      { category: 'relationship', subject: 'Sarah Lee', content: 'Sarah Lee signs off at Acme', confidence: 0.8, contact_name: 'Sarah Lee' },
    ]
    await loopback.script('facts-model', { text: JSON.stringify(answer) })
    const options = { provider: 'openai', model: 'facts-model', link: (kind, name) => (kind === 'contact' ? 'contact-7' : null) }
    const done = await store.extractFacts(orgId, c.id, llm, options)
    assert.deepEqual([done.applied, done.range], [true, [1, 2]])
    assert.deepEqual(done.facts.map((f) => [f.subject, f.sourceSeqs, f.contactId]), [
      ['Acme budget', [1], null],
      ['Sarah Lee', [1, 2], 'contact-7'],
    ])
    const again = await store.extractFacts(orgId, c.id, llm, options)
    assert.deepEqual([again.applied, again.facts.map((f) => f.id)], [false, done.facts.map((f) => f.id)])
    assert.equal((await loopback.received()).length, 1)
  } finally {
    await db.close()
    loopback.stop()
  }
})
