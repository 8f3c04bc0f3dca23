// Deduplication from Node, on SQLite and PostgreSQL: the first report a primary and later ones
// merged (each agent once, escalated once), near-duplicates by text, the enrichment-stage
// check of an item in flight, the post-scoring merge, the sweep, 100 identical events at once,
// and the general-purpose MinHash index; bad input named by field (camelCase).
import { test } from 'node:test'
import assert from 'node:assert/strict'

import keel from '../index.js'
import { BACKENDS, freshUrl } from './helpers.mjs'

const ORG = '00000000-0000-4000-8000-00000000000a'
const DEAL = '00000000-0000-4000-8000-0000000000d1'
const report = (agent, title = 'Acme renewal at risk', context = {}) => ({
  orgId: ORG,
  sourceAgent: agent,
  itemType: 'deal_risk',
  title,
  dealId: DEAL,
  context: { action_type: 'call', ...context },
})

for (const backend of BACKENDS) {
  test(`${backend}: later reports merge into the first`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const dedup = db.dedup()
    const got = await dedup.enqueue([
      report('deal-risk', undefined, { confidence: 0.5, evidence: ['no reply'] }),
      report('email', undefined, { confidence: 0.5, evidence: ['no reply'] }),
      report('calendar', undefined, { confidence: 0.2 }),
    ])
    assert.deepEqual(got.map((c) => c.verdict), ['primary', 'merged', 'merged'])
    assert.deepEqual(got.map((c) => c.escalated), [false, false, true])
    const group = await dedup.group(got[0].id)
    assert.deepEqual(group.contributingAgents, ['deal-risk', 'email', 'calendar'])
    assert.deepEqual(group.mergedFrom, [got[1].id, got[2].id])
    assert.ok(Math.abs(group.mergedConfidence - (1 - 0.5 * 0.5 * 0.8)) < 1e-4)
    assert.equal(group.queuePriority, 1)
    const counts = await dedup.counts(ORG)
    assert.deepEqual([counts.primaries, counts.suppressed, counts.escalated], [1, 2, 1])
    await db.close()
  })

  test(`${backend}: near-duplicates, in-flight checks, scoring and the sweep`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const dedup = db.dedup()
    const text = 'Acme renewal is at risk because the champion stopped replying after the pricing call'
    const [first] = await dedup.enqueue([report('deal-risk', text)])
    const queue = db.queue()
    await queue.enqueue([report('email', `${text} last week`, { action_type: 'email' })])
    const held = (await queue.claim('w1', { n: 5 })).find((i) => i.sourceAgent === 'email')
    assert.equal((await dedup.check(held.id)).verdict, 'in_flight')
    const checked = await dedup.check(held.id, { leaseToken: held.leaseToken })
    assert.equal(checked.verdict, 'near_merged')
    assert.equal(checked.primaryId, first.id)
    const scored = await dedup.score(first.id, 0.8)
    assert.equal(scored.approved, false)
    await queue.enqueue([report('c', 'Globex wants a demo', { action_type: 'email' })])
    assert.deepEqual(await dedup.sweep({ dryRun: true }), {
      dryRun: true, windowsClosed: 0, checked: 1, suppressed: 0, groupsMerged: 0, primaries: 0, resigned: 0,
    })
    assert.equal((await dedup.sweep()).primaries, 1)
    assert.equal((await dedup.sweep()).checked, 0)
    await db.close()
  })

  test(`${backend}: a hundred identical events at once make one primary`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const dedup = db.dedup()
    const got = await Promise.all(Array.from({ length: 100 }, (_, i) => dedup.enqueue([report(`agent-${i % 5}`)])))
    const verdicts = got.map((g) => g[0].verdict)
    assert.equal(verdicts.filter((v) => v === 'primary').length, 1)
    assert.equal(verdicts.filter((v) => v === 'merged').length, 99)
    await db.close()
  })

  test(`${backend}: bad input is named`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const dedup = db.dedup()
    await assert.rejects(dedup.score('00000000-0000-4000-8000-000000000001', Number.NaN), {
      code: 'invalid_input',
      field: 'confidence',
    })
    await assert.rejects(dedup.enqueue([report('a', undefined, { confidence: 1.5 })]), {
      field: 'items[0].context.confidence',
    })
    await assert.rejects(dedup.enqueue([{ ...report('a'), orgId: '' }]), { field: 'items[0].orgId' })
    assert.throws(() => db.dedup({ threshold: 1 }), { code: 'invalid_input', field: 'options.threshold' })
    await assert.rejects(dedup.check('not-a-uuid'), { field: 'id' })
    await db.close()
  })
}

test('the index finds near-duplicates and signatures round-trip', () => {
  const lsh = new keel.MinHashLsh({ threshold: 0.8 })
  const base = 'Acme renewal is at risk because the champion stopped replying after the pricing call'
  lsh.insert('a', keel.minhash(base))
  lsh.insert('b', keel.minhash('Globex wants a demo of the reporting module for finance'))
  const found = lsh.query(keel.minhash(`${base.toUpperCase()}!`))
  assert.deepEqual(found, [{ key: 'a', jaccard: 1 }])
  assert.equal(lsh.size, 2)
  assert.equal(lsh.remove('a'), true)
  const sig = new keel.MinHasher({ numPerm: 64, seed: 7 }).signature(base)
  assert.ok(keel.MinHash.fromBytes(sig.toBytes()).equals(sig))
  assert.equal(sig.numPerm, 64)
  assert.throws(() => lsh.insert('c', sig), { code: 'invalid_input', field: 'minhash' })
  assert.throws(() => keel.minhash(''), { code: 'invalid_input', field: 'text' })
})

test('signatures cut from one shared buffer stay their own, whatever their size', () => {
  // Enough signatures to fill several 16 KiB buffers, with 1,024-permutation ones (4,110
  // bytes) among them so that one does not fit what is left of a buffer.
  const big = new keel.MinHasher({ numPerm: 1024 })
  const made = []
  for (let i = 0; i < 200; i++) {
    const text = `Acme renewal ${i} at risk after the pricing call number ${i * 7}`
    const sig = i % 9 === 0 ? big.signature(text) : keel.minhash(text)
    made.push([text, sig, Buffer.from(sig.toBytes())])
  }
  for (const [text, sig, bytes] of made) {
    assert.ok(sig instanceof keel.MinHash)
    assert.deepEqual(Buffer.from(sig.toBytes()), bytes, 'no later signature wrote over this one')
    const again = sig.numPerm === 1024 ? big.signature(text) : keel.minhash(text)
    assert.ok(again.equals(sig))
    assert.equal(again.jaccard(sig), 1)
    assert.deepEqual([...sig.values], [...again.values])
  }
  assert.equal(made[0][1].numPerm, 1024)
  assert.equal(made[1][1].seed, '1')
  assert.equal(made[1][1].shingleWords, 3)
  // `toBytes` is a copy: changing it changes nothing stored.
  const copy = made[1][1].toBytes()
  copy.fill(0)
  assert.deepEqual(Buffer.from(made[1][1].toBytes()), made[1][2])
})

test('a MinHash is made only by Keel, and anything else in its place is invalid_input', () => {
  const sig = keel.minhash('Acme renewal at risk')
  assert.throws(() => new keel.MinHash(), { code: 'invalid_input', name: 'TypeError' })
  assert.throws(() => new keel.MinHash(sig.toBytes()), { code: 'invalid_input' })
  const lsh = new keel.MinHashLsh()
  for (const bad of [undefined, null, {}, sig.toBytes(), 'Acme']) {
    assert.throws(() => sig.jaccard(bad), { code: 'invalid_input', field: 'other', name: 'TypeError' })
    assert.throws(() => sig.equals(bad), { code: 'invalid_input', field: 'other' })
    assert.throws(() => lsh.insert('k', bad), { code: 'invalid_input', field: 'minhash' })
    assert.throws(() => lsh.query(bad), { code: 'invalid_input', field: 'minhash' })
    assert.throws(() => lsh.candidates(bad), { code: 'invalid_input', field: 'minhash' })
  }
  assert.equal(lsh.size, 0)
  assert.throws(() => keel.MinHash.fromBytes(Buffer.from('KM-not-a-signature')), { code: 'invalid_input', field: 'bytes' })
  assert.throws(() => keel.MinHash.fromBytes('KM'), { code: 'invalid_input' })
  assert.throws(() => keel.minhash(42), { code: 'invalid_input' })
})
