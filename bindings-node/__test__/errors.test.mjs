// Bad input from JavaScript: typed errors with err.code, never a crash.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import keel from '../index.js'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

test('async errors carry code, field and cause', async () => {
  await assert.rejects(keel.connect('postgres://keel:hunter2@127.0.0.1:9/keel', { connectTimeoutMs: 2000 }), (err) => {
    assert.equal(err.code, 'connection')
    assert.ok(err.message.includes('postgres://keel:***@127.0.0.1:9/keel'), err.message)
    assert.ok(!err.message.includes('hunter2'))
    assert.ok(err.cause instanceof Error, 'cause chain kept')
    return true
  })
  await assert.rejects(keel.connect('sqlite::memory:', { maxConnections: 0 }), {
    code: 'invalid_input',
    field: 'options.maxConnections',
  })
  await assert.rejects(keel.connect('sqlite::memory:', { connectTimeoutMs: Number.NaN }), {
    code: 'invalid_input',
    field: 'options.connectTimeoutMs',
  })
})

test('sync errors carry code and field', () => {
  assert.throws(() => keel.parseDatabaseUrl('ftp://u:secret@h'), (err) => {
    assert.equal(err.code, 'invalid_url')
    assert.equal(err.field, 'url')
    assert.ok(!err.message.includes('secret'))
    return true
  })
})

for (const bad of [42, {}, ['sqlite::memory:'], Symbol('x')]) {
  test(`wrong url type ${String(typeof bad)} is a TypeError`, async () => {
    await assert.rejects(async () => keel.connect(bad), (err) => {
      assert.ok(err instanceof TypeError, `${err?.constructor?.name}: ${err?.message}`)
      assert.equal(err.code, 'invalid_input')
      return true
    })
    assert.throws(() => keel.maskUrl(bad), TypeError)
    assert.throws(() => keel.parseDatabaseUrl(bad), TypeError)
  })
}

test('wrong option types are TypeErrors', async () => {
  await assert.rejects(async () => keel.connect('sqlite::memory:', { maxConnections: 'ten' }), TypeError)
  await assert.rejects(async () => keel.connect('sqlite::memory:', 'not options'), TypeError)
})

test('a sync panic in the core is an internal error, not a crash', () => {
  assert.throws(() => keel._panicSync('sync boom'), (err) => {
    assert.equal(err.code, 'internal')
    assert.match(err.message, /sync boom/)
    return true
  })
})

test('an async panic in the core is an internal rejection, not a crash', async () => {
  await assert.rejects(keel._panicAsync('async boom'), { code: 'internal' })
  const db = await keel.connect('sqlite::memory:')
  await db.ping()
  await db.close()
})

test('roundtrip converts the struct both ways', () => {
  assert.deepEqual(keel._roundtrip({ id: 1, name: 'n', score: 0.5, tags: ['a'] }), {
    id: 2,
    name: 'n',
    score: 1,
    tags: ['a'],
  })
  assert.throws(() => keel._roundtrip({ id: 1 }))
})

test('KeelError recognises every Keel error and nothing else', async () => {
  const rejected = await keel.connect('ftp://u:p@h/db').catch((err) => err)
  assert.ok(rejected instanceof keel.KeelError && keel.isKeelError(rejected))
  assert.equal(rejected.code, 'invalid_url')
  let thrown
  try {
    keel.maskUrl(42)
  } catch (err) {
    thrown = err
  }
  assert.ok(thrown instanceof TypeError && thrown instanceof keel.KeelError, 'invalid_input stays a TypeError')
  for (const other of [new Error('x'), Object.assign(new Error('x'), { code: 'ENOENT' }), { code: 'internal' }, null, 'internal']) {
    assert.ok(!(other instanceof keel.KeelError) && !keel.isKeelError(other), String(other))
  }
  assert.deepEqual([...keel.KeelError.codes], keel.errorCodes())
})

test('the KeelErrorCode union in types.d.ts is errorCodes()', () => {
  const text = readFileSync(new URL('../types.d.ts', import.meta.url), 'utf8')
  const union = text.slice(text.indexOf('export type KeelErrorCode'), text.indexOf('/**', text.indexOf('export type KeelErrorCode')))
  assert.deepEqual([...union.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]), keel.errorCodes())
})

test('a rejected call carries the stack of the caller', async () => {
  async function callerWithAName() {
    const db = await keel.connect()
    try {
      await db.skillRegistry().then((r) => r.history('Not A Key'))
    } finally {
      await db.close()
    }
  }
  const err = await callerWithAName().catch((e) => e)
  assert.equal(err.code, 'invalid_input')
  assert.match(err.stack, /at async history \(keelcore\)/)
  assert.match(err.stack, /errors\.test\.mjs/)
})

test('handles close with Symbol.asyncDispose', async () => {
  const dispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')
  const db = await keel.connect()
  const log = db.createLogger('dispose-test')
  log.info('before dispose')
  await log[dispose]()
  assert.ok(log.stats().written >= 1, 'disposing a logger flushes it')
  await db[dispose]()
  assert.ok(db.closed)
})

test('an AbortSignal rejects a call with code aborted, and an aborted one starts nothing', async () => {
  const db = await keel.connect()
  const router = await db.modelRouter()
  const org = '6f1d2c3b-0a9e-4c1b-8d7e-112233445566'
  const done = AbortSignal.abort(new Error('gave up'))
  const err = await router.grantCredits(org, 5, null, null, { signal: done }).catch((e) => e)
  assert.ok(err instanceof keel.KeelError && err.name === 'AbortError', String(err))
  assert.equal(err.code, 'aborted')
  assert.equal(err.cause.message, 'gave up')
  assert.equal((await router.checkBudget(org)).remaining, 0, 'an aborted call never started')
  // A signal inside an options object is taken out of it; the other fields still apply.
  await assert.rejects(keel.connect('sqlite::memory:', { migrate: false, signal: done }), { code: 'aborted' })
  const other = await keel.connect('sqlite::memory:', { migrate: false, signal: new AbortController().signal })
  assert.equal((await other.appliedMigrations()).length, 0)
  await other.close()
  // Aborting while a call runs rejects it at once.
  const silent = createServer(() => {}) // accepts, never answers: a connect that waits
  await new Promise((r) => silent.listen(0, '127.0.0.1', r))
  const controller = new AbortController()
  const url = `postgres://u:p@127.0.0.1:${silent.address().port}/db`
  const slow = keel.connect(url, { connectTimeout: 5, signal: controller.signal })
  setTimeout(() => controller.abort(), 20)
  const started = Date.now()
  await assert.rejects(slow, { code: 'aborted' })
  assert.ok(Date.now() - started < 2000)
  silent.close()
  // A call that finishes first is not affected, and the listener is gone.
  const balance = await router.checkBudget(org, { signal: new AbortController().signal })
  assert.equal(balance.remaining, 0)
  await db.close()
})
