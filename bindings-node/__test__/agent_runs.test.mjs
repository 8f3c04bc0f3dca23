// Agent runs from Node, on SQLite and PostgreSQL: an async executor retried by failure kind,
// steps skipped on retry and re-throwing what the work itself threw (a non-Error too), the
// budget stopping at a step with partial results, a hung executor cut by its timeout into a
// dead letter, an AbortSignal cancelling the run, step names keeping their case, the
// execution row with raw ids, and bad configs named by field (camelCase).
import { test } from 'node:test'
import assert from 'node:assert/strict'

import keel from '../index.js'
import { BACKENDS, freshUrl } from './helpers.mjs'

const quick = { kinds: Object.fromEntries([['transient', 3], ['timeout', 2], ['unknown', 2]].map(([k, n]) => [k, { maxAttempts: n, backoff: { baseMs: 0, capMs: 0 } }])) }
const config = (agentName, more = {}) => ({ agentName, policy: quick, ...more })
const upstream = (status) => Object.assign(new Error(`HTTP ${status}`), { status })

for (const backend of BACKENDS) {
  test(`${backend}: a transient failure is retried and the run recorded once`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const seen = []
    const result = await db.runAgent(config('deal-risk-scan', { userId: 'system', orgId: 'system', triggeredBy: 'cron' }), async (ctx) => {
      seen.push(ctx.attempt)
      ctx.addItems(1, 3)
      ctx.addCredits(0.25)
      ctx.logger.info('scoring.batch', { deals: 3 })
      if (ctx.attempt === 1) throw upstream(503)
      return { scored: 3, trace: ctx.traceId }
    })
    assert.ok(result.success, JSON.stringify(result))
    assert.deepEqual(seen, [1, 2])
    assert.deepEqual(result.data, { scored: 3, trace: result.traceId })
    assert.deepEqual([result.attempts, result.retriesUsed, result.creditsConsumed], [2, 1, 0.5])
    assert.equal(result.errors[0].kind, 'transient')
    const runs = db.runs()
    await runs.flush()
    const row = await runs.get(result.executionId)
    assert.deepEqual([row.status, row.itemsEmitted, row.itemsProcessed, row.userId, row.triggeredBy], ['completed', 2, 6, 'system', 'cron'])
    const listed = await runs.list({ agentName: 'deal-risk-scan', status: ['completed'] })
    assert.deepEqual(listed.map((r) => r.id), [result.executionId])
    await db.close()
  })

  test(`${backend}: steps run once, keep their names and re-throw what the work threw`, async () => {
    const db = await keel.connect(freshUrl(backend))
    let writes = 0
    const result = await db.runAgent(config('crm-sync'), async (ctx) => {
      const done = await ctx.step('writeCrm', async () => ({ crmId: 40 + ++writes }))
      if (ctx.attempt === 1) throw Object.assign(new Error('socket hang up'), { kind: 'transient' })
      await assert.rejects(ctx.step('bad', async () => { throw 'a string, not an Error' }), (err) => err === 'a string, not an Error')
      await assert.rejects(ctx.step('', async () => 1), (err) => err.code === 'invalid_input' && err.field === 'step')
      return done
    })
    assert.ok(result.success, JSON.stringify(result))
    assert.deepEqual(result.data, { crmId: 41 })
    assert.equal(writes, 1)
    assert.deepEqual(result.steps, { writeCrm: { crmId: 41 } })
    await db.close()
  })

  test(`${backend}: a spent budget stops at the next step with partial results`, async () => {
    const db = await keel.connect(freshUrl(backend))
    let later = 0
    const result = await db.runAgent(config('briefing', { budget: 1, allowPartialResults: true }), async (ctx) => {
      await ctx.step('gather', async () => { ctx.addCredits(2); return ['deal-1'] })
      await assert.rejects(ctx.step('write', async () => { later++ }), (err) => err.code === 'budget_exceeded')
      assert.ok(ctx.checkBudget().exceeded)
      throw new Error('stopped')
    })
    assert.deepEqual([result.status, result.partial, result.success, later], ['budget_exceeded', true, false, 0])
    assert.deepEqual(result.steps, { gather: ['deal-1'] })
    assert.equal(result.deadLetterId, null)
    await db.close()
  })

  test(`${backend}: a hung executor is cut by its timeout and becomes a dead letter`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const result = await db.runAgent(config('hangs', { attemptTimeoutMs: 50, payload: { deal: 'Acme' } }), () => new Promise(() => {}))
    assert.deepEqual([result.status, result.errorKind, result.attempts], ['failed', 'timeout', 2])
    const letter = await db.deadLetters().get(result.deadLetterId)
    assert.deepEqual(letter.payload, { deal: 'Acme' })
    assert.equal(letter.errors.length, 2)
    await db.close()
  })

  test(`${backend}: an AbortSignal cancels the run`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const controller = new AbortController()
    const pending = db.runAgent(config('slow'), async () => {
      setTimeout(() => controller.abort(), 20)
      await new Promise((resolve) => setTimeout(resolve, 5_000))
    }, { signal: controller.signal })
    await assert.rejects(pending, (err) => err.name === 'AbortError')
    const runs = db.runs()
    let row
    for (let i = 0; i < 50; i++) {
      await runs.flush()
      ;[row] = await runs.list({ agentName: 'slow' })
      if (row?.status === 'failed') break
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    assert.deepEqual([row.status, row.errorMessage], ['failed', 'cancelled'])
    assert.equal((await db.deadLetters().list()).length, 0)
    await db.close()
  })

  test(`${backend}: bad configs are named by field`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const ok = async () => 1
    await assert.rejects(db.runAgent(config('a', { attemptTimeoutMs: -1 }), ok), (err) => err.code === 'invalid_input' && err.field === 'config.attemptTimeoutMs')
    await assert.rejects(db.runAgent({ agentName: '' }, ok), (err) => err.field === 'config.agentName')
    const odd = await db.runAgent(config('odd'), async () => { throw Object.assign(new Error('strange'), { kind: 'cosmic_ray' }) })
    assert.deepEqual([odd.errorKind, odd.attempts], ['unknown', 2])
    await assert.rejects(db.runAgent(config('nofn'), null), (err) => err.code === 'invalid_input' && err.field === 'executor')
    // A non-Error thrown: a recorded failure, never a crash.
    const thrown = await db.runAgent(config('throws', { maxRetries: 0 }), async () => { throw 42 })
    assert.deepEqual([thrown.status, thrown.error], ['failed', '42'])
    await db.close()
  })
}
