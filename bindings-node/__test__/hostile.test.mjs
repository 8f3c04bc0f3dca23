// Every exported function and method, called with hostile values: a failure is always an
// Error with one of Keel's stable codes (never napi's own status, never the caller's own
// exception escaping from a getter or a proxy), and nothing crashes or hangs. The exports are
// enumerated, so a function added later is covered from its first day.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import keel from '../index.js'

const cyclic = {}
cyclic.self = cyclic
const throwing = {
  get status() {
    throw new Error('getter')
  },
}
const proxy = new Proxy({}, {
  get() {
    throw new Error('proxy get')
  },
  ownKeys() {
    throw new Error('proxy keys')
  },
})
class Sub extends Array {}
const deep = JSON.parse('['.repeat(200) + ']'.repeat(200))
const HOSTILE = [
  undefined, null, NaN, Infinity, -Infinity, -1, 0, 2 ** 53, 1e308, -0,
  '', '\ud800', 'x\0y', 'a'.repeat(10_000), true, {}, [], cyclic, throwing, proxy,
  10n, Symbol('s'), Buffer.from('a'), () => 1, new Sub(), deep, new Date(NaN),
]
/** Functions whose job is to take anything and never throw (the logger's shape). */
const NEVER_THROWS = new Set(['debug', 'info', 'warn', 'error', 'createSpan', 'stop', 'fail', 'child'])
/** Calls that end the handle they are called on. */
const SKIP = new Set(['close', 'constructor'])

function methods(owner, obj) {
  const names = owner === 'module'
    ? Object.keys(obj).filter((n) => typeof obj[n] === 'function' && /^[a-z]/.test(n))
    : Object.getOwnPropertyNames(Object.getPrototypeOf(obj)).filter((n) => typeof obj[n] === 'function')
  return names.filter((n) => !n.startsWith('_') && !SKIP.has(n))
}

test('every export keeps the error contract under hostile arguments', async () => {
  const codes = new Set(keel.errorCodes())
  const db = await keel.connect('sqlite::memory:')
  const router = await db.modelRouter()
  const skills = await db.skillRegistry()
  const logger = db.createLogger('hostile')
  const span = logger.createSpan('hostile')
  const targets = [['module', keel], ['db', db], ['router', router], ['skills', skills], ['logger', logger], ['span', span]]
  const broken = []
  let calls = 0
  const started = Date.now()
  for (const [owner, obj] of targets) {
    for (const name of methods(owner, obj)) {
      if (owner === 'module' && name === 'connect') continue // a fresh connection per value: covered in errors.test.mjs
      for (const first of HOSTILE) {
        for (const second of [undefined, first, 'copilot']) {
          calls += 1
          try {
            const out = obj[name](first, second, first)
            if (out && typeof out.then === 'function') await out
          } catch (err) {
            if (NEVER_THROWS.has(name) || !(err instanceof Error) || !codes.has(err.code)) {
              broken.push(`${owner}.${name}(${String(typeof first)}): ${err?.code} ${String(err?.message).slice(0, 80)}`)
            }
          }
        }
      }
    }
  }
  await logger.flush()
  await db.close()
  assert.ok(calls > 2000, `${calls} calls`)
  assert.ok(Date.now() - started < 60_000, 'bounded in time')
  assert.deepEqual(broken.slice(0, 20), [], `${broken.length} calls broke the contract`)
})
