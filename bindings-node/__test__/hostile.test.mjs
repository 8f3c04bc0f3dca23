// Every exported function and method, called with hostile values: a failure is always an
// Error with one of Keel's stable codes (never napi's own status, never the caller's own
// exception escaping from a getter or a proxy), nothing crashes or hangs, and calls that fail
// leave the stored data as it was. The exports are enumerated, so a function added later is
// covered from its first day.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

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
/** Valid values, mixed into random combinations so that calls reach the checks behind the
 * first argument. */
const PLAUSIBLE = [
  randomUUID(), 'copilot', 'web', 'medium', 'claude-sonnet-4-6', 'deal-status', 1.5, { a: 'b' },
  'w '.repeat(5_000_001), keel.minhash('Acme renewal at risk'), '1712345678.000100', 'cc-enrich',
  { agentName: 'x', kind: 'raised', status: 'critical', windowMs: 1, runs: 0, deadLetters: 0, at: '2026-12-04T12:00:00Z' },
  // The console's calls by name: every read, and an action whose arguments are then hostile.
  ...keel.consoleReads(), 'deprecate_skill', 'reset_breaker',
]
const SKILLS = new URL('../../skills/', import.meta.url).pathname

/** Every row of every table but the log, read with Python's sqlite3 (Node 20 has none). */
function snapshot(path) {
  const dump = [
    'import json, sqlite3, sys',
    'c = sqlite3.connect(sys.argv[1])',
    "names = [r[0] for r in c.execute(\"SELECT name FROM sqlite_master WHERE type = 'table'\")]",
    "print(json.dumps({n: sorted(map(repr, c.execute(f'SELECT * FROM \"{n}\"'))) for n in names if n != 'system_logs'}))",
  ].join('\n')
  return JSON.parse(execFileSync('python3', ['-c', dump, path], { encoding: 'utf8', maxBuffer: 1 << 28 }))
}

/** A deterministic generator (mulberry32), so a failure can be replayed. */
function random(seed) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Functions whose job is to take anything and never throw (the logger's shape). */
const NEVER_THROWS = new Set(['debug', 'info', 'warn', 'error', 'createSpan', 'stop', 'fail', 'child'])
/** Calls that end the handle they are called on. */
// `work` runs until its signal aborts (an empty queue waits for items): queue.test.mjs drives it.
const SKIP = new Set(['close', 'constructor', 'work'])
/** A health run takes no argument and writes its snapshots by design: fleet.test.mjs. */
const SKIP_OF = { fleet: new Set(['check', 'checkFleetHealth']) }

function methods(owner, obj) {
  const names = owner === 'module'
    ? Object.keys(obj).filter((n) => typeof obj[n] === 'function' && /^[a-z]/.test(n))
    : [...Object.getOwnPropertyNames(Object.getPrototypeOf(obj)), ...Object.getOwnPropertyNames(obj)]
        .filter((n) => typeof obj[n] === 'function')
  return [...new Set(names)].filter((n) => !n.startsWith('_') && !SKIP.has(n) && !SKIP_OF[owner]?.has(n))
}

async function check(owner, name, fn, args, codes, broken) {
  try {
    const out = fn(...args)
    if (out && typeof out.then === 'function') await out
  } catch (err) {
    const typed = err?.code !== 'invalid_input' || err instanceof TypeError
    // The logger's and the span's calls never throw; the queue's `fail` records a failure.
    const neverThrows = (owner === 'logger' || owner === 'span') && NEVER_THROWS.has(name)
    if (neverThrows || !(err instanceof Error) || !codes.has(err.code) || !typed) {
      broken.push(`${owner}.${name}(${args.map((a) => typeof a).join(', ')}): ${err?.code} ${String(err?.message).slice(0, 80)}`)
    }
  }
}

test('every export keeps the error contract under hostile arguments', async (t) => {
  const codes = new Set(keel.errorCodes())
  const path = join(mkdtempSync(join(tmpdir(), 'keel-hostile-')), 'keel.db')
  // Calls that write files (`exportSkills`) write beside the database, whatever relative path
  // a hostile value names.
  const cwd = process.cwd()
  process.chdir(dirname(path))
  t.after(() => process.chdir(cwd))
  const db = await keel.connect(`sqlite://${path}`)
  const router = await db.modelRouter()
  const skills = await db.skillRegistry()
  await skills.sync(SKILLS)
  await router.grantCredits(randomUUID(), 100)
  const logger = db.createLogger('hostile')
  const span = logger.createSpan('hostile')
  const llm = router.llm({ attemptTimeout: 1 })
  const targets = [
    ['module', keel], ['db', db], ['router', router], ['skills', skills], ['llm', llm], ['logger', logger], ['span', span],
    ['messages', skills.messageRouter()], ['conversations', db.conversations()],
    ['deadLetters', db.deadLetters()], ['runs', db.runs()],
    ['queue', db.queue()], ['limiter', new keel.LocalLimiter()], ['sharedLimiter', db.sharedLimiter()],
    ['dedup', db.dedup()], ['lsh', new keel.MinHashLsh()], ['minhasher', new keel.MinHasher()],
    ['signature', keel.minhash('Acme renewal at risk')],
    // A closed port, no retries and no waiting: each call fails at once, as it must.
    ['slack', db.slack({ token: 'xoxb-hostile', baseUrl: 'http://127.0.0.1:9/api', maxRetries: 0, maxWaitMs: 1, timeoutMs: 200 })],
    ['slackThreads', db.slackThreads()],
    ['fleet', db.fleet()],
    ['console', await db.console({ allowActions: true })],
  ]
  const broken = []
  let calls = 0
  const started = Date.now()
  const before = snapshot(path)
  assert.ok(before.platform_skills.length >= 32 && before.org_credit_balance.length === 1, 'the snapshot reads the rows')
  for (const [owner, obj] of targets) {
    for (const name of methods(owner, obj)) {
      if (owner === 'module' && name === 'connect') continue // a fresh connection per value: covered in errors.test.mjs
      for (const first of HOSTILE) {
        for (const second of [undefined, first]) {
          calls += 1
          await check(owner, name, obj[name].bind(obj), [first, second, first], codes, broken)
        }
      }
    }
  }
  assert.deepEqual(snapshot(path), before, 'failed calls changed stored data')
  // Random combinations of hostile and valid values reach the checks behind the first argument.
  const next = random(20261202)
  const pool = [...HOSTILE, ...PLAUSIBLE, ...PLAUSIBLE]
  for (const [owner, obj] of targets) {
    for (const name of methods(owner, obj)) {
      if (owner === 'module' && name === 'connect') continue
      for (let i = 0; i < 30; i += 1) {
        const args = [0, 1, 2, 3].map(() => pool[Math.floor(next() * pool.length)])
        calls += 1
        await check(owner, name, obj[name].bind(obj), args, codes, broken)
      }
    }
  }
  // Transports: whatever stands in for the functions, a typed error or a client.
  for (const value of HOSTILE) {
    for (const transports of [value, { anthropic: value }]) {
      calls += 1
      await check('router', 'llm', (o) => router.llm(o), [{ transports }], codes, broken)
    }
  }
  await logger.flush()
  await db.close()
  assert.ok(calls > 3000, `${calls} calls`)
  assert.ok(Date.now() - started < 90_000, 'bounded in time')
  assert.deepEqual(broken.slice(0, 20), [], `${broken.length} calls broke the contract`)
})
