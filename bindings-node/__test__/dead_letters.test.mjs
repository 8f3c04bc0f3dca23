// Dead letters from Node, on SQLite and PostgreSQL: enqueued once per key, replayed by a
// JavaScript async handler that fails, accepts and succeeds; a thrown SDK-style error's
// status, body, Retry-After and kind classified in core; operator changes; bad input named by
// field (camelCase).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import keel from '../index.js'
import { BACKENDS, freshUrl } from './helpers.mjs'

const letter = (agentName, more = {}) => ({
  agentName,
  payload: { deal_id: 'd-1', nested: { snake_key: 1 } },
  orgId: 'system',
  userId: randomUUID(),
  errors: [{ kind: 'transient', message: 'HTTP 503', status: 503 }],
  delayMs: 0,
  ...more,
})

/** An SDK-style error: a status, a body and headers. */
const upstream = (status, body, headers = {}, kind) => Object.assign(new Error(`HTTP ${status}`), { status, error: body, headers, kind })

for (const backend of BACKENDS) {
  test(`${backend}: a JavaScript handler fails, accepts and succeeds`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const letters = db.deadLetters()
    const flaky = await letters.enqueue(letter('flaky', { idempotencyKey: 'run-7' }))
    assert.equal((await letters.enqueue(letter('flaky', { idempotencyKey: 'run-7' }))).id, flaky.id)
    assert.deepEqual(flaky.payload, { deal_id: 'd-1', nested: { snake_key: 1 } })
    const slow = await letters.enqueue(letter('orchestrator'))
    const broken = await letters.enqueue(letter('broken'))
    const seen = []
    const handler = async (replay) => {
      seen.push(replay)
      if (replay.agentName === 'broken') throw upstream(422, { error: { type: 'invalid_request_error' } })
      if (replay.agentName === 'orchestrator') return 'accepted'
      if (replay.retry === 1) throw upstream(429, { error: { type: 'rate_limit_error' } }, { 'retry-after': '0' })
      return undefined
    }
    const options = { seed: 1, backoff: { baseMs: 0, capMs: 0 } }
    const first = await letters.workOnce(handler, options)
    assert.deepEqual([first.claimed, first.retrying, first.accepted, first.abandoned], [3, 1, 1, 1])
    assert.deepEqual(new Set(seen.map((r) => r.idempotencyKey)), new Set([flaky, slow, broken].map((x) => `dlq:${x.id}`)))
    assert.deepEqual(seen[0].payload, { deal_id: 'd-1', nested: { snake_key: 1 } })
    const retried = await letters.get(flaky.id)
    assert.equal(retried.errorKind, 'rate_limited')
    assert.equal(retried.errors.at(-1).status, 429)
    const gone = await letters.get(broken.id)
    assert.equal(gone.abandonedReason, 'a validation failure is not retried')
    assert.equal((await letters.workOnce(handler, options)).resolved, 1)
    assert.equal((await letters.get(slow.id)).status, 'accepted')
    assert.equal((await letters.resolve(slow.id)).status, 'resolved')
    assert.equal((await letters.redrive(broken.id)).retryCount, 0)
    assert.equal((await letters.abandon(broken.id, { reason: 'operator: duplicate' })).abandonedReason, 'operator: duplicate')
    const resolved = await letters.list({ status: ['resolved'] })
    assert.deepEqual(resolved.map((x) => x.id).sort(), [flaky.id, slow.id].sort())
    assert.equal(await letters.purge(), 0) // resolved just now: kept for 30 days
    // An explicit kind on the thrown error wins over its status.
    const kinds = await letters.enqueue(letter('kinds'))
    await letters.workOnce(async () => { throw upstream(400, {}, {}, 'transient') }, { ...options, agents: ['kinds'] })
    assert.equal((await letters.get(kinds.id)).errorKind, 'transient')
    // A handler that throws a non-Error is a recorded failure.
    await letters.retry(kinds.id)
    const report = await letters.workOnce(async () => { throw 'just a string' }, { ...options, agents: ['kinds'] })
    assert.equal(report.retrying, 1)
    assert.match((await letters.get(kinds.id)).failureReason, /just a string/)
    await db.close()
  })

  test(`${backend}: bad input names the field`, async () => {
    const db = await keel.connect(freshUrl(backend))
    const letters = db.deadLetters()
    const cases = [
      [() => letters.enqueue(letter('x', { errors: [] })), 'letter.errors'],
      [() => letters.enqueue(letter('', {})), 'letter.agentName'],
      [() => letters.enqueue(letter('x', { traceId: 'nope' })), 'letter.traceId'],
      [() => letters.get('not-a-uuid'), 'id'],
      [() => letters.list({ limit: 0 }), 'query.limit'],
      [() => letters.purge({ days: 0 }), 'options.days'],
      [() => letters.workOnce(null, {}), 'options.handler'],
      [() => letters.workOnce(null, { url: 'http://127.0.0.1:9/', heartbeatMs: 20000 }), 'options.heartbeatMs'],
      [() => letters.workOnce(null, { url: 'http://127.0.0.1:9/', leaseMs: -1 }), 'options.leaseMs'],
      [() => letters.abandon(randomUUID(), { reason: 'x' }), 'id'],
    ]
    for (const [call, field] of cases) {
      await assert.rejects(call, (err) => err.code === 'invalid_input' && err.field === field, field)
    }
    await db.close()
  })
}

test('classifyFailure and retryDelays are core\'s', () => {
  assert.deepEqual(keel.classifyFailure({ message: 'took 1400ms' }), { kind: 'unknown', retryAfterMs: null, by: 'none' })
  assert.equal(keel.classifyFailure({ status: 429, retryAfter: '2' }).retryAfterMs, 2000)
  assert.deepEqual(keel.retryDelays({ kind: 'transient', retries: 2, seed: 42 }).ceilings, [1000, 4000])
  assert.throws(() => keel.classifyFailure({ kind: 'flaky' }), { code: 'invalid_input', field: 'kind' })
})
