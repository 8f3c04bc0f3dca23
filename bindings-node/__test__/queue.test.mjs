// The Command Centre queue and rate limits from Node, on SQLite and PostgreSQL: claims by lane,
// fenced outcomes, deferral, the worker with bounded concurrency and a clean stop on abort,
// health and shedding by name, limiters all or none; bad input named by field (camelCase).
import { test } from 'node:test'
import assert from 'node:assert/strict'

import keel from '../index.js'
import { BACKENDS, freshUrl } from './helpers.mjs'

const ORG = '00000000-0000-4000-8000-00000000000a'
const item = (lane, title, more = {}) => ({
  orgId: ORG,
  sourceAgent: 'deal-risk',
  itemType: 'deal_risk',
  title,
  context: { dealName: 'Acme', snake_key: 1 },
  queuePriority: lane,
  ...more,
})

for (const backend of BACKENDS) {
  test(`${backend}: claims go by lane and outcomes are fenced`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const q = db.queue()
    const ids = await q.enqueue([item(3, 'low'), item(0, 'critical'), item(2, 'normal')])
    assert.equal(ids.length, 3)
    const claimed = await q.claim('w1', { n: 2 })
    assert.deepEqual(claimed.map((i) => i.title), ['critical', 'normal'])
    const [first, second] = claimed
    assert.equal(first.enrichmentStatus, 'processing')
    assert.deepEqual(first.context, { dealName: 'Acme', snake_key: 1 }, 'the context is kept as given')
    assert.equal(await q.complete(first.id, first.leaseToken + 1), false)
    assert.equal(await q.complete(first.id, first.leaseToken, { context: { crmStage: 'won' } }), true)
    assert.deepEqual((await q.get(first.id)).enrichmentContext, { crmStage: 'won' })
    assert.equal(await q.defer(second.id, second.leaseToken, 60_000), true)
    assert.equal((await q.get(second.id)).processingAttempts, 0)
    assert.equal(await q.fail(ids[0], 0, 'stale holder'), null)
    assert.deepEqual(await q.sweep(), { requeued: 0, failed: 0 })
    const rest = await q.claim('w2', { n: 5 })
    const after = await q.claimAfter(rest.map((i) => ({ id: i.id, leaseToken: i.leaseToken })), 'w2')
    assert.deepEqual([...after.completed].sort(), rest.map((i) => i.id).sort())
    assert.deepEqual(after.items, [])
    await db.close()
  })

  test(`${backend}: the worker bounds concurrency and an abort stops it cleanly`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const q = db.queue({ maxAttempts: 1 })
    await q.enqueue(Array.from({ length: 20 }, (_, i) => item(i % 4, `t${i}`)))
    let running = 0
    let peak = 0
    let seen = 0
    const stop = new AbortController()
    const handler = async (it) => {
      running += 1
      peak = Math.max(peak, running)
      await new Promise((r) => setTimeout(r, 10))
      running -= 1
      seen += 1
      if (seen === 20) stop.abort()
      if (it.title === 't1') return { deferMs: 3_600_000 }
      if (it.title === 't2') return { fail: 'bad deal', retryable: false }
      if (it.title === 't3') throw new Error('hubspot 500')
      return { enriched: true }
    }
    const report = await q.work(handler, { concurrency: 3, pollMs: 20, signal: stop.signal })
    assert.ok(peak <= 3, `peak ${peak}`)
    assert.equal(running, 0)
    assert.deepEqual(report, { claimed: 20, completed: 17, deferred: 1, failed: 2, lost: 0 })
    const health = await q.health()
    assert.equal(health.inFlight, 0)
    assert.equal(health.lanes[1].delayed, 1)
    await db.close()
  })

  test(`${backend}: health names the mode and low lanes are shed`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const q = db.queue({ shedding: { batchDepth: 2, throttleDepth: 4, shedDepth: 6, refreshMs: 1 } })
    await q.enqueue(Array.from({ length: 7 }, (_, i) => item(1, `h${i}`)))
    const health = await q.health()
    assert.equal(health.mode, 'shed')
    assert.equal(health.lanes[1].depth, 7)
    await assert.rejects(q.enqueue([item(3, 'refused')]), (err) => {
      assert.equal(err.code, 'overloaded')
      assert.equal(err.retryAfterMs, 60_000)
      return true
    })
    assert.equal((await q.enqueue([item(0, 'urgent')])).length, 1)
    const batch = await q.claimBatch('w', { n: 5 })
    assert.equal(batch.mode, 'shed')
    assert.equal(batch.groups.reduce((n, g) => n + g.items.length, 0), 5)
    await db.close()
  })

  test(`${backend}: limiters take every key or none`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const local = new keel.LocalLimiter()
    assert.equal(local.check('calendar:o', { limit: 10 }).allowed, true)
    const both = local.acquire({ orgId: 'o', providers: ['hubspot', 'calendar'] })
    assert.equal(both.allowed, false)
    assert.equal(both.key, 'calendar:o')
    assert.ok(both.retryAfterMs > 0)
    assert.equal(local.check('hubspot:o', { limit: 8 }).allowed, true, 'the denial spent nothing')
    const custom = local.acquire({ orgId: 'o', providers: ['crm'], limits: [{ provider: 'crm', limit: 1, periodMs: 1000 }] })
    assert.equal(custom.allowed, true)
    const shared = db.sharedLimiter()
    assert.equal((await shared.check('slack:o', { limit: 5 })).allowed, true)
    const denied = await shared.acquire({ orgId: 'o', providers: ['slack'] })
    assert.equal(denied.allowed, false)
    assert.ok(denied.retryAfterMs > 0 && denied.retryAfterMs <= 12_000)
    await db.close()
  })

  test(`${backend}: bad input names the field`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const q = db.queue()
    for (const [bad, field] of [
      [item(4, 'x'), 'items[0].queuePriority'],
      [item(1, 'x', { delayMs: -1 }), 'items[0].delayMs'],
      [{ sourceAgent: 'a', itemType: 't', title: 'x' }, 'items[0].orgId'],
    ]) {
      await assert.rejects(q.enqueue([bad]), (err) => err.code === 'invalid_input' && err.field === field)
    }
    await assert.rejects(q.claim('w', { lanes: [0, 9] }), (err) => err.field === 'lanes[1]')
    assert.throws(() => new keel.LocalLimiter().check('k', { limit: 0 }), (err) => err.field === 'limits.k.limit')
    assert.throws(() => db.queue({ orgInFlight: 0 }), (err) => err.field === 'options.orgInFlight')
    assert.throws(() => new keel.LocalLimiter({ capacity: 3 }), (err) => err.field === 'options.capacity')
    await db.close()
  })
}
