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
import { SMALL, freshUrl, rounds } from './helpers.mjs'

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

/** Hostile leaves: what a valid argument can hold deep inside. */
const LEAVES = [
  'x\0y', '\0', '\\u0000', '', '\ud800', '\u202eevil', 'a'.repeat(1_000_000), NaN, Infinity, 2 ** 64,
  deep, cyclic, throwing, proxy, { '\0': 'k' }, 10n, Symbol('s'),
]

/** Calls whose arguments are valid but for one leaf `h` somewhere inside. */
function nestedCalls(db, router, skills, org, user, cid, thread) {
  const conv = db.conversations()
  const queue = db.queue()
  const letters = db.deadLetters()
  const threads = db.slackThreads()
  const fleet = db.fleet()
  const messages = skills.messageRouter()
  const item = { orgId: org, sourceAgent: 'hostile', itemType: 'deal_risk', title: 't' }
  const failure = { message: 'boom', kind: 'transient' }
  const fact = { category: 'deal', subject: 'Acme', content: 'renewal in May' }
  return [
    ['start title', (h) => conv.start({ orgId: org, userId: user, channel: 'web', title: h })],
    ['start channelRef', (h) => conv.start({ orgId: org, userId: user, channel: 'slack', channelRef: h })],
    ['start userId', (h) => conv.start({ orgId: org, userId: h, channel: 'web' })],
    ['append content', (h) => conv.append(org, cid, [{ role: 'user', content: h }])],
    ['append tool arguments', (h) => conv.append(org, cid, [{ role: 'assistant', content: [
      { type: 'tool_call', id: 'c1', name: 'lookup', arguments: { q: h, list: [h] } }] }])],
    ['upsertContext summary', (h) => conv.upsertContext({ orgId: org, userId: user, channel: 'web', entityType: 'deal', entityId: 'd1', summary: h })],
    ['addFacts content', (h) => conv.addFacts(org, user, [{ ...fact, content: h }])],
    ['addFacts dealId', (h) => conv.addFacts(org, user, [{ ...fact, dealId: h }])],
    ['facts userId', (h) => conv.facts(org, h)],
    ['enqueue title', (h) => queue.enqueue([{ ...item, title: h }])],
    ['enqueue context', (h) => queue.enqueue([{ ...item, context: { k: h, list: [1, h] } }])],
    ['complete context', async (h) => {
      await queue.enqueue([{ ...item, queuePriority: 0 }])
      const [claimed] = await queue.claim('hostile-worker', { n: 1 })
      return queue.complete(claimed.id, claimed.leaseToken, { context: { k: h } })
    }],
    ['deprecate reason', (h) => skills.deprecate('deal-status', h)],
    ['replace skillMd', (h) => skills.replace(org, 'deal-status', typeof h === 'string'
      ? `---\nname: deal-status\ndescription: The deal's status ${h}\n---\nSay where ${h} stands.\n`
      : h)],
    ['letter payload', (h) => letters.enqueue({ agentName: 'hostile', payload: { k: [h] }, errors: [failure] })],
    ['letter orgId', (h) => letters.enqueue({ agentName: 'hostile', orgId: h, errors: [failure] })],
    ['letter idempotencyKey', (h) => letters.enqueue({ agentName: 'hostile', idempotencyKey: h, errors: [failure] })],
    ['letters agentName', (h) => letters.list({ agentName: h })],
    ['dedup title', (h) => db.dedup().enqueue([{ ...item, title: h }])],
    ['slack title', (h) => threads.getOrCreate({ orgId: org, userId: user, slackTeamId: 'T1', slackChannelId: 'C2', slackThreadTs: '1712345678.000100', title: h })],
    ['slack channel', (h) => threads.getOrCreate({ orgId: org, userId: user, slackTeamId: 'T1', slackChannelId: h, slackThreadTs: '1712345678.000100' })],
    ['slack text', (h) => threads.addMessages(org, thread, [{ slackTs: '1712345678.000200', role: 'user', text: h }])],
    ['slack metadata', (h) => threads.addMessages(org, thread, [{ slackTs: '1712345678.000300', role: 'user', text: 't', metadata: { k: h } }])],
    ['slack action', (h) => threads.recordTurn(org, thread, { intent: 'help', action: { k: h } })],
    ['fleet description', (h) => fleet.setAgent({ agentName: 'hostile-agent', cadenceMs: 60_000, description: h })],
    ['fleet models', (h) => fleet.setAgent({ agentName: 'hostile-agent', models: [h] })],
    ['fleet alerts', (h) => fleet.alerts({ agentName: h })],
    ['setOrgContext', (h) => skills.setOrgContext(org, { company: h })],
    ['route', (h) => messages.route(h, 'web', org, user)],
    ['deduct idempotencyKey', (h) => router.deductCredits({ orgId: org, amount: 1, idempotencyKey: h })],
    ['deduct feature', (h) => router.deductCredits({ orgId: org, amount: 1, feature: h })],
    ['reserve idempotencyKey', (h) => router.reserveCredits(org, 1, h)],
    ['setModel modelId', (h) => router.setModel({ feature: 'copilot', tier: 'medium', provider: 'anthropic', modelId: h, orgId: org })],
  ]
}

test('whatever a transport answers or throws on a driven call: a typed error with its attempt, and the client still works', async () => {
  const db = await keel.connect(freshUrl('sqlite'))
  try {
    const router = await db.modelRouter({ seedDefaults: false })
    const reply = { choices: [{ message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }], usage: { prompt_tokens: 1, completion_tokens: 1 } }
    const request = { provider: 'openai', model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }
    for (const value of HOSTILE) {
      let hostile = true
      let calls = 0
      const transports = {
        answers: async () => (hostile ? value : reply),
        throws: async () => {
          if (hostile) throw value
          return reply
        },
        // An SDK-shaped error whose every field core reads is the hostile value.
        throwsShaped: async () => {
          if (hostile) throw Object.assign(new Error('sdk'), { status: value, error: value, headers: value, kind: value })
          return reply
        },
        notAsync: () => (hostile ? value : reply),
      }
      for (const [name, send] of Object.entries(transports)) {
        const counted = (r) => {
          calls += 1
          return send(r)
        }
        const llm = router.llm({ transports: { openai: counted } })
        hostile = true
        const before = calls
        const pending = llm.complete(request)
        // Driven: the transport ran before `complete` returned.
        assert.equal(calls, before + 1, `${name} ${typeof value}`)
        const err = await pending.then(() => null, (e) => e)
        assert.ok(err instanceof Error && keel.errorCodes().includes(err.code), `${name} ${typeof value}: ${err?.code} ${err?.message}`)
        assert.deepEqual(err.attempts?.map((a) => a.provider), ['openai'], `${name} ${typeof value}`)
        hostile = false
        assert.equal((await llm.complete(request)).text, 'ok')
      }
    }
  } finally {
    await db.close()
  }
})

test('whatever stands in for a host model, or whatever one answers: a typed error, else the route falls through and the compaction trims unless given text', async () => {
  const db = await keel.connect(freshUrl('sqlite'))
  try {
    const registry = await db.skillRegistry()
    await registry.sync(SKILLS)
    const orgId = randomUUID()
    const options = { thresholds: { sequence: 1, skill: 1 }, log: false, llmTimeout: 1 }
    const typed = (err) => assert.ok(keel.errorCodes().includes(err.code), `${err.code}: ${err.message}`)
    for (const value of HOSTILE) {
      for (const model of [value, async () => value]) {
        for (const stage of ['classifier', 'embedder']) {
          let router
          try {
            router = stage === 'classifier' ? registry.messageRouter(options, model) : registry.messageRouter(options, null, model)
          } catch (err) {
            typed(err)
            continue
          }
          const d = await router.route('how is the Globex deal going', 'web', orgId, null, { allowLlm: true })
          assert.equal(d.stage, 'fallback', `${stage} ${String(model)}`)
        }
        const store = db.conversations()
        const c = await store.start({ orgId, userId: 'U1', channel: 'web' })
        await store.append(orgId, c.id, rounds(100))
        const done = await store.compact(orgId, c.id, null, { ...SMALL, summarizer: model }).catch((err) => {
          typed(err)
          return null
        })
        // Text that is not blank is a summary (a lone surrogate arrives as U+FFFD); nothing else is.
        const text = model !== value && typeof value === 'string' && value.trim() !== ''
        if (done) assert.equal(done.compaction.method, text ? 'summary' : 'trim', String(model))
      }
    }
  } finally {
    await db.close()
  }
})

for (const backend of ['sqlite', 'postgres']) {
  test(`one hostile leaf inside valid arguments reaches storage on ${backend}`, async () => {
    const codes = new Set(keel.errorCodes())
    codes.delete('internal')
    codes.delete('storage')
    const db = await keel.connect(freshUrl(backend))
    try {
      const skills = await db.skillRegistry()
      await skills.sync(SKILLS)
      const router = await db.modelRouter()
      const [org, user, bystander] = [randomUUID(), randomUUID(), randomUUID()]
      await router.grantCredits(org, 100)
      const conv = db.conversations()
      const cid = (await conv.start({ orgId: org, userId: user, channel: 'web' })).id
      const keptCid = (await conv.start({ orgId: bystander, userId: user, channel: 'web' })).id
      await conv.append(bystander, keptCid, [{ role: 'user', content: 'keep me' }])
      const [kept] = await db.queue().enqueue([{ orgId: bystander, sourceAgent: 'a', itemType: 't', title: 'keep me' }])
      const thread = (await db.slackThreads().getOrCreate({ orgId: org, userId: user, slackTeamId: 'T1', slackChannelId: 'C1', slackThreadTs: '1712345678.000100' })).id
      const broken = []
      for (const [label, make] of nestedCalls(db, router, skills, org, user, cid, thread)) {
        for (const leaf of LEAVES) {
          try {
            await make(leaf)
          } catch (err) {
            if (!(err instanceof Error) || !codes.has(err.code)) {
              broken.push(`${label} with ${typeof leaf} ${String(typeof leaf === 'symbol' ? 'symbol' : leaf).slice(0, 12)}: ${err?.code} ${String(err?.message).slice(0, 100)}`)
            }
          }
        }
      }
      assert.deepEqual(broken, [])
      // What was written reads back, and the bystander's rows are as they were.
      const written = await conv.messages(org, cid)
      assert.ok(written.length > 5 && written.every((m) => Array.isArray(m.content)))
      assert.deepEqual((await conv.messages(bystander, keptCid)).map((m) => m.content), [[{ type: 'text', text: 'keep me' }]])
      assert.equal((await db.queue().get(kept)).title, 'keep me')
      await db.slackThreads().get(org, thread)
      await conv.facts(org, user)
    } finally {
      await db.close()
    }
  })
}
