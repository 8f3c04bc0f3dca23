// Logger, spans and the sink from JavaScript: the original createLogger calling shape.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'

import keel from '../index.js'
import { BACKENDS, freshUrl } from './helpers.mjs'

/** system_logs rows of `service` on PostgreSQL, read with psql. */
function pgRows(url, service) {
  const sql = `SET search_path = keel; SELECT json_agg(t ORDER BY "timestamp", action) FROM (
    SELECT action, level, trace_id, span_id, parent_span_id, user_id, error_message, metadata, "timestamp"
    FROM system_logs WHERE service = '${service}') t`
  const out = execFileSync('psql', [url, '-qAt', '-c', sql], { encoding: 'utf8' }).trim()
  return JSON.parse(out || '[]') ?? []
}

for (const backend of BACKENDS) {
  test(`${backend}: createLogger shape, spans and flush`, async () => {
    const url = freshUrl(backend)
    const db = await keel.connect(url)
    const log = db.createLogger('node-svc', { userId: 'system', orgId: '', agentName: 'eod-summary' })
    assert.equal(log.trace_id, log.traceId)
    const run = log.createSpan('run', { items: 3 })
    log.info('model_router.tier_resolved', { 'gen_ai.request.model': 'claude-sonnet-4-6' })
    const child = run.child('enrich')
    assert.equal(child.fail(new Error('provider timeout')), true)
    assert.equal(child.stop(), false, 'stop after fail writes nothing')
    assert.equal(run.stop({ items: 4 }), true)
    await run.stop() // callers await stop(); it stays harmless
    log.error('cc.prioritise_failed', { message: 'relation does not exist', code: '42P01' })
    const stats = await log.flush()
    assert.deepEqual(stats, { accepted: 4, written: 4, dropped: 0, failedWrites: 0 })
    await db.close()

    if (backend === 'postgres') {
      const rows = pgRows(url, 'node-svc')
      const by = Object.fromEntries(rows.map((r) => [r.action, r]))
      assert.equal(by.enrich.parent_span_id, run.spanId)
      assert.equal(by.enrich.metadata.status, 'error')
      assert.equal(by.enrich.error_message, 'provider timeout')
      assert.equal(by['model_router.tier_resolved'].parent_span_id, run.spanId)
      assert.equal(by.run.metadata.items, 4)
      assert.equal(by['cc.prioritise_failed'].error_message, 'relation does not exist')
      assert.equal(by.run.metadata._invalid.user_id, 'system')
      assert.ok(rows.every((r) => r.trace_id === log.traceId && r.user_id === null))
    }
  })
}

test('bad input is coerced, never thrown', async () => {
  const db = await keel.connect(freshUrl('sqlite'))
  const log = db.createLogger('')
  const cyclic = { name: 'loop' }
  cyclic.self = cyclic
  const throwing = {
    get boom() {
      throw new Error('getter')
    },
    ok: 1,
  }
  assert.doesNotThrow(() => {
    log.info('', { cyclic, throwing, fn: () => 1, sym: Symbol('s'), big: 10n, date: new Date(0) })
    log.warn('big', { blob: 'x'.repeat(200_000) })
    log.error('err', 'a string error', ['not', 'an', 'object'])
    log.error('secret', undefined, { authorization: 'Bearer abc.def.ghi', note: 'sk-ant-api03-abcdefghijklmnop' })
    log.info(undefined, undefined)
    log.info(42, 'metadata as a string')
    log.createSpan(null).stop(7)
  })
  const stats = await log.flush()
  assert.equal(stats.written, 7)
  assert.equal(stats.dropped, 0)
  await db.close()
})

test('createLogger without a database writes JSON lines to stdout', async () => {
  const script = `
    const keel = require(${JSON.stringify(new URL('../index.js', import.meta.url).pathname)})
    const log = keel.createLogger('stdout-svc', { traceId: '4bf92f3577b34da6a3ce929d0e0e4736' })
    log.info('hello', { n: 1, token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl' })
    log.flush().then(() => process.exit(0))`
  const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })
  const line = JSON.parse(out.trim().split('\n').at(-1))
  assert.equal(line.action, 'hello')
  assert.equal(line.trace_id, '4bf92f35-77b3-4da6-a3ce-929d0e0e4736')
  assert.equal(line.metadata.token, '[REDACTED]')
})

test('traceparent round trip', () => {
  const log = keel.createLogger('tp', { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' })
  assert.equal(log.traceId, '4bf92f35-77b3-4da6-a3ce-929d0e0e4736')
  const span = log.createSpan('outgoing')
  const parsed = keel.parseTraceparent(span.traceparent())
  assert.deepEqual(parsed, { traceId: log.traceId, parentSpanId: span.spanId, sampled: true })
  assert.equal(keel.parseTraceparent('garbage'), null)
  span.stop()
})

test('retention cleanup', async () => {
  const db = await keel.connect(freshUrl('sqlite'))
  assert.deepEqual(await db.cleanupLogs({ dryRun: true }), { debug: 0, info: 0, warn: 0, error: 0 })
  await assert.rejects(db.cleanupLogs({ batchSize: 0 }), { code: 'invalid_input', field: 'batch_size' })
  await db.close()
})

test('level threshold and sampling options', () => {
  const quiet = keel.createLogger('filtered', { minLevel: 'warn' })
  const before = quiet.stats().accepted
  quiet.info('skipped')
  quiet.debug('skipped')
  quiet.warn('kept')
  assert.equal(quiet.stats().accepted - before, 1)
  const noDebug = keel.createLogger('sampled', { debugSampleRate: 0 })
  const b2 = noDebug.stats().accepted
  noDebug.debug('skipped')
  assert.equal(noDebug.stats().accepted, b2)
  assert.throws(() => keel.createLogger('bad', { minLevel: 'loud' }), { code: 'invalid_input', field: 'min_level' })
  assert.throws(() => keel.createLogger('bad', { debugSampleRate: 2 }), { code: 'invalid_input', field: 'debug_sample_rate' })
})

for (const exit of ['natural', 'process.exit']) {
  test(`exit (${exit}) writes queued events without a flush`, () => {
    const url = freshUrl('sqlite')
    const script = `
      const keel = require(${JSON.stringify(new URL('../index.js', import.meta.url).pathname)})
      keel.connect(${JSON.stringify(url)}).then((db) => {
        const log = db.createLogger('exit-svc')
        for (let i = 0; i < 2000; i++) log.info('queued', { i })
        ${exit === 'process.exit' ? 'process.exit(0)' : ''}
      })`
    execFileSync(process.execPath, ['-e', script], { stdio: 'inherit', timeout: 60_000 })
    const count = execFileSync('python3', ['-c',
      `import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute("SELECT count(*) FROM system_logs WHERE service = 'exit-svc'").fetchone()[0])`,
      url.slice('sqlite://'.length)], { encoding: 'utf8' }).trim()
    assert.equal(count, '2000')
  })
}
