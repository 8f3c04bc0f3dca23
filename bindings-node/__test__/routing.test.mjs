// Message routing from Node: the decision's shape in camelCase, the fast path, the log,
// evaluation and bad input (core: keel::routing, tested in depth in core/tests/routing.rs).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { connect, RouteDecision } from '../index.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const org = '0a0a0a0a-0000-4000-8000-00000000000a'
const other = '0b0b0b0b-0000-4000-8000-00000000000b'

async function router() {
  const db = await connect('sqlite::memory:')
  const skills = await db.skillRegistry()
  await skills.sync(`${root}skills`)
  return { db, router: skills.messageRouter() }
}

test('route returns the original shape in camelCase, and more', async () => {
  const { db, router: r } = await router()
  const d = await r.route("How's the Acme deal looking?", 'slack', org, 'user-1')
  assert.equal(d.route, 'slack-deal-query')
  assert.equal(d.skillKey, 'slack-deal-query')
  assert.equal(d.matchedBy, 'skill_trigger')
  assert.equal(d.stage, 'index')
  assert.equal(d.entities.deal, 'Acme')
  assert.ok(d.confidence >= 0.5 && !d.outOfScope && !d.cached && d.modelOverride === null)
  assert.equal(d.candidates[0].skillKey, 'slack-deal-query')
  const again = await r.route("how's the ACME deal   looking?", 'slack', org)
  assert.equal(again.cached, true)
  assert.equal(again.stage, 'index')
  const hello = await r.route('hello there', 'web', org)
  assert.deepEqual([hello.route, hello.generalIntent, hello.outOfScope], ['general', 'greeting', false])
  const weather = await r.route("what's the weather in Paris", 'web', org, null, { skipCache: true })
  assert.equal(weather.outOfScope, true)
  await db.close()
})

test('tryRoute answers without waiting, or returns null when it would have to wait', async () => {
  const db = await connect('sqlite::memory:')
  const skills = await db.skillRegistry()
  await skills.sync(`${root}skills`)
  const r = skills.messageRouter({ log: false })
  // Nothing cached yet: the org's view must be read first, so there is no answer now.
  assert.equal(r.tryRoute('show me my forecast', 'web', org), null)
  const first = await r.route('show me my forecast', 'web', org)
  const d = r.tryRoute('Show me my   forecast', 'web', org)
  assert.equal(d.cached, true)
  assert.equal(d.route, first.route)
  assert.equal(d.route, 'pipeline-summary')
  const fresh = r.tryRoute('who is Dana Scully', 'web', org, null, { skipCache: true })
  assert.deepEqual([fresh.route, fresh.cached], ['contact-lookup', false])
  // A decision is a RouteDecision whose getters read its own core value; only Keel makes one.
  assert.ok(d instanceof RouteDecision && fresh instanceof RouteDecision)
  assert.deepEqual(JSON.parse(JSON.stringify(fresh)), fresh.toJSON())
  assert.equal(fresh.toJSON().route, 'contact-lookup')
  assert.notEqual(d.traceId, fresh.traceId)
  assert.throws(() => new RouteDecision())
  const route = Object.getOwnPropertyDescriptor(RouteDecision.prototype, 'route').get
  assert.equal(route.call(d), 'pipeline-summary')
  assert.throws(() => route.call({})) // a getter on anything else throws, never crashes
  // Cache hits of one decision share its RouteDecision and carry their own trace, time and flag.
  const hit = r.tryRoute('show me my forecast', 'web', org)
  assert.equal(Object.getPrototypeOf(hit), Object.getPrototypeOf(d))
  assert.notEqual(hit.traceId, d.traceId)
  assert.deepEqual([hit.cached, hit.route, hit.toJSON().traceId], [true, 'pipeline-summary', hit.traceId])
  assert.deepEqual(Object.keys(hit.toJSON()), Object.keys(fresh.toJSON()))
  assert.deepEqual(JSON.parse(JSON.stringify(hit)), { ...first.toJSON(), traceId: hit.traceId, durationMs: hit.durationMs, cached: true })
  // route answers a hit the same way, at once; with a signal it goes the native way.
  const awaited = await r.route('show me my forecast', 'web', org)
  assert.equal(Object.getPrototypeOf(awaited), Object.getPrototypeOf(d))
  const aborted = new AbortController()
  aborted.abort()
  await assert.rejects(r.route('show me my forecast', 'web', org, null, { signal: aborted.signal }), (e) => e.code === 'aborted')
  assert.throws(() => r.tryRoute('', 'web', org), (e) => e.code === 'invalid_input' && e.field === 'message')
  assert.throws(() => r.tryRoute('hi', 'email', org), (e) => e.code === 'invalid_input' && e.field === 'channel')
  assert.throws(() => r.tryRoute(42, 'web', org), TypeError)
  await db.close()
})

test('every decision is in the log and each org reads its own', async () => {
  const { db, router: r } = await router()
  for (const [message, who] of [['summarise my pipeline', org], ['summarise my pipeline', org], ['hi', other]]) {
    await r.route(message, 'web', who)
  }
  await r.flush()
  const rows = await r.log(org, { since: 600 })
  assert.deepEqual(rows.map((row) => row.cached), [true, false])
  assert.equal(rows[0].route, 'pipeline-summary')
  assert.equal((await r.log(other)).length, 1)
  assert.equal(r.stats().routes, 3)
  assert.equal(r.stats().cacheHits, 1)
  await db.close()
})

test('evaluate scores a labelled set', async () => {
  const { db, router: r } = await router()
  const labelled = readFileSync(`${root}testdata/routing/calibration.jsonl`, 'utf8')
  const e = await r.evaluate(labelled, org)
  assert.equal(e.total, 94)
  assert.ok(e.accuracy >= 0.8 && e.fitted !== null && e.p99Us >= e.p50Us)
  await db.close()
})

test('bad input rejects with invalid_input naming the field', async () => {
  const { db, router: r } = await router()
  const cases = [
    [['', 'web', org], 'message'],
    [['x'.repeat(1 << 20), 'web', org], 'message'],
    [['hi', 'email', org], 'channel'],
    [['hi', 'web', 'not-a-uuid'], 'orgId'],
    [['hi', 'web', org, null, { allowLm: true }], 'options.allowLm'],
  ]
  for (const [args, field] of cases) {
    await assert.rejects(r.route(...args), (err) => err.code === 'invalid_input' && err.field === field)
  }
  // A lone surrogate is not valid UTF-16: it reaches core replaced, and routes.
  const lone = await r.route('\ud800 deal status', 'web', org)
  assert.equal(typeof lone.route, 'string')
  const skills = await db.skillRegistry()
  assert.throws(() => skills.messageRouter({ thresholds: { skill: 2 } }), (err) => err.code === 'invalid_input' && err.field === 'options.thresholds.skill')
  await assert.rejects(r.evaluate('{"message": "hi"}', org), (err) => err.code === 'invalid_input')
  await db.close()
})
