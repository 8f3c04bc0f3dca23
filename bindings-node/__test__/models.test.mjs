// The model router from JavaScript: the original module functions (router in place of the
// Supabase client), the router's own methods, and typed errors.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import keel from '../index.js'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'

import { BACKENDS, freshUrl, ledgerSum } from './helpers.mjs'

for (const backend of BACKENDS) {
  test(`${backend}: resolveModel, breaker reports and fallbacks in the original shapes`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const router = await db.modelRouter()
    const orgId = randomUUID()
    const resolution = await keel.resolveModel(router, { feature: 'copilot', intelligenceTier: 'medium', userId: 'system', orgId })
    assert.deepEqual(
      { provider: resolution.provider, modelId: resolution.modelId, creditCost: resolution.creditCost, wasFallback: resolution.wasFallback },
      { provider: 'anthropic', modelId: 'claude-sonnet-4-6', creditCost: 1.5, wasFallback: false },
    )
    assert.match(resolution.traceId, /^[0-9a-f-]{36}$/)
    // The sync hot path gives the same answer.
    assert.equal(router.resolve('copilot', 'medium', orgId).modelId, 'claude-sonnet-4-6')

    // Caller errors do not count; provider faults do, and never reject.
    assert.equal(await router.recordFailure('claude-sonnet-4-6', 400), 'unchanged')
    assert.equal(await router.recordFailure('claude-sonnet-4-6', { status: 413 }), 'unchanged')
    await keel.recordFailure(router, 'claude-sonnet-4-6', new Error('socket hang up'))
    await keel.recordFailure(router, 'claude-sonnet-4-6', { statusCode: 529 })
    assert.equal(await router.recordFailure('claude-sonnet-4-6', 'server_error'), 'opened')
    const fallback = router.resolve('copilot', 'medium')
    assert.deepEqual([fallback.modelId, fallback.wasFallback], ['gemini-2.5-flash', true])
    await keel.recordSuccess(router, 'claude-sonnet-4-6')
    await keel.recordSuccess(router, 'no-such-model')

    // Nothing usable: the code says so, from the Promise and from the sync call alike.
    await assert.rejects(keel.resolveModel(router, { feature: 'enrichment', intelligenceTier: 'medium', userId: '', orgId: '' }), { code: 'no_model_available' })
    await db.close()
  })

  test(`${backend}: credits in the original shapes`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const router = await db.modelRouter()
    const orgId = randomUUID()
    await router.grantCredits(orgId, 10)
    assert.deepEqual(await keel.checkBudget(router, null, orgId), { remaining: 10, can_proceed: true })
    const resolution = router.resolve('copilot', 'low')
    // A total token count charges per request, as the original did.
    assert.equal(await keel.deductCredits(router, randomUUID(), orgId, resolution, 1500, 'meeting-prep'), 9.75)
    // Input/output counts are metered: haiku is 1 and 5 credits per million tokens.
    const metered = await keel.deductCredits(router, null, orgId, resolution, { inputTokens: 1_000_000, outputTokens: 100_000 })
    assert.equal(metered, 8.25)
    const first = await router.deductCredits({ orgId, amount: 2, idempotencyKey: 'job-7' })
    const again = await router.deductCredits({ orgId, amount: 2, idempotencyKey: 'job-7' })
    assert.deepEqual([first.balanceAfter, again.balanceAfter, again.duplicate], [6.25, 6.25, true])
    const held = await router.reserveCredits(orgId, 3, 'call-1')
    assert.equal(held.balanceAfter, 3.25)
    assert.equal((await router.commitCredits(held.id, 1)).balanceAfter, 5.25)
    await assert.rejects(router.deductCredits({ orgId, amount: 100 }), { code: 'budget_exceeded' })
    await assert.rejects(keel.deductCredits(router, null, orgId, resolution, -3), { code: 'invalid_input', field: 'actualTokens' })
    await assert.rejects(router.checkBudget('system'), { code: 'invalid_input', field: 'orgId' })
    await db.close()
  })

  test(`${backend}: matrix writes are validated`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const router = await db.modelRouter()
    const orgId = randomUUID()
    await router.setModel({ feature: 'copilot', tier: 'high', provider: 'openai', modelId: 'gpt-5', orgId, creditCost: 2 })
    assert.equal(router.resolve('copilot', 'high', orgId).modelId, 'gpt-5')
    await assert.rejects(router.setModel({ feature: 'copilot', tier: 'high', provider: 'openai', modelId: 'gpt-5-mini', orgId }), { code: 'invalid_input', field: 'primary' })
    await assert.rejects(router.setModel({ feature: 'copilot', tier: 'high', provider: 'acme', modelId: 'x', fallbackOrder: 2 }), { code: 'invalid_input', field: 'provider' })
    await assert.rejects(router.setModel({ feature: 'copilot', tier: 'low', provider: 'openai', modelId: 'x', creditCost: Infinity }), { code: 'invalid_input', field: 'creditCost' })
    await router.setOrgTier(orgId, 'copilot', 'high')
    assert.equal(router.resolve('copilot', null, orgId).tier, 'high')
    await db.close()
  })
}

test('bad input is typed', async () => {
  const db = await keel.connect('sqlite::memory:')
  const router = await db.modelRouter()
  assert.throws(() => router.resolve('chat'), { code: 'invalid_input', field: 'feature' })
  assert.throws(() => router.resolve('copilot', 'ultra'), { code: 'invalid_input', field: 'tier' })
  assert.throws(() => router.resolve('copilot', 'low', 'system'), { code: 'invalid_input', field: 'org_id' })
  assert.throws(() => router.resolve(42), TypeError)
  await assert.rejects(router.recordFailure('x', 'meteor'), { code: 'invalid_input', field: 'kind' })
  await assert.rejects(db.modelRouter({ cooldown: -1 }), { code: 'invalid_input', field: 'options.cooldown' })
  await db.close()
})

test('checkAgentBudget and the budgets table', () => {
  assert.deepEqual(keel.checkAgentBudget('eod-summary', 8), { exceeded: true, limit: 8, used: 8 })
  assert.deepEqual(keel.checkAgentBudget('pipeline-snapshot', 3), { exceeded: false, limit: 10, used: 3 })
  assert.equal(keel.fleetAgentBudgets()['coaching-prep'], 5)
  assert.equal(keel.fleetAgentBudgets().default, 10)
})

test('the hot paths (own functions of each handle) keep the methods\' answers and errors', async () => {
  const db = await keel.connect('sqlite::memory:')
  const router = await db.modelRouter()
  const skills = await db.skillRegistry()
  const orgId = randomUUID()
  const fast = router.resolve('copilot', 'medium', orgId)
  const slow = await keel.resolveModel(router, { feature: 'copilot', intelligenceTier: 'medium', userId: 'system', orgId })
  assert.deepEqual({ ...fast, traceId: '' }, { ...slow, traceId: '' })
  assert.equal(Object.keys(fast).length, 8)
  assert.ok(!Object.keys(router).includes('resolve') && !Object.keys(skills).includes('cached'), 'not enumerable')
  assert.equal(router.resolve('copilot', 'medium', null, fast.traceId).traceId, fast.traceId)
  for (const call of [() => router.resolve(), () => router.resolve(42), () => router.resolve('copilot', 7)]) {
    assert.throws(call, (err) => err instanceof TypeError && err.code === 'invalid_input')
  }
  assert.throws(() => router.resolve('meteor'), { code: 'invalid_input', field: 'feature' })
  // A string of 60 bytes or more is read whole, even when napi's 63-byte read stops short of a
  // character (here at 62 bytes).
  assert.throws(() => router.resolve('é'.repeat(32)), (err) => err.code === 'invalid_input' && err.message.includes('é'.repeat(32)))
  assert.equal(skills.cached(orgId, 'web'), null)
  assert.throws(() => skills.cached('not-a-uuid', 'web'), { code: 'invalid_input', field: 'orgId' })
  assert.throws(() => skills.cached(orgId, 'fax'), { code: 'invalid_input', field: 'channel' })
  assert.throws(() => skills.cached(orgId), (err) => err instanceof TypeError && err.code === 'invalid_input')
  await db.close()
})

for (const backend of BACKENDS) {
  test(`${backend}: 64 deductions from four processes stop at the grace threshold`, async () => {
    const url = freshUrl(backend)
    const db = await keel.connect(url)
    const router = await db.modelRouter()
    const orgId = randomUUID()
    await router.grantCredits(orgId, 50, 'purchase', 'seed')
    const startAt = Date.now() + 2000
    const worker = new URL('./deduct-worker.mjs', import.meta.url).pathname
    const runs = await Promise.all([0, 1, 2, 3].map((i) =>
      promisify(execFile)(process.execPath, [worker, url, orgId, String(i), String(startAt)])))
    const counts = runs.map(({ stdout }) => JSON.parse(stdout.trim().split('\n').pop()))
    const total = (key) => counts.reduce((sum, c) => sum + c[key], 0)
    assert.deepEqual([total('ok'), total('exceeded')], [60, 4], JSON.stringify(counts))
    assert.equal((await router.checkBudget(orgId)).remaining, -10)
    assert.equal(ledgerSum(url, orgId), -10, 'the ledger sums to the balance')
    await db.close()
  })
}
