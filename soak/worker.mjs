// One soak worker in Node: the platform loop of soak/README.md until SIGTERM, the same loop as
// soak/worker.py and soak/worker.rs, journaled one JSON line per operation.
//
//     node soak/worker.mjs '{"id": "no-1", "incarnation": 0, "url": "postgres://…", …}'
import { appendFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { performance } from 'node:perf_hooks'

const keel = createRequire(import.meta.url)('../bindings-node/index.js')
const cfg = JSON.parse(process.argv[2])
const name = `${cfg.id}.${cfg.incarnation}`

// A seeded generator (mulberry32): each incarnation draws its own sequence.
let state = [...`${cfg.seed}-${cfg.id}-${cfg.incarnation}`].reduce((h, c) => Math.imul(h ^ c.charCodeAt(0), 16777619), 2166136261)
const random = () => {
  state = (state + 0x6d2b79f5) | 0
  let t = Math.imul(state ^ (state >>> 15), 1 | state)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}
const choice = (list) => list[Math.floor(random() * list.length)]

/** One JSON line per operation, written at once, so a killed worker's record ends where it died. */
const journal = (op, started, ok, code = null, extra = {}) => {
  const ms = Math.round((performance.now() - started) * 1000) / 1000
  appendFileSync(cfg.out, JSON.stringify({ op, ms, ok, code, ...extra }) + '\n')
}

let stopping = false
process.on('SIGTERM', () => { stopping = true })

const db = await keel.connect(cfg.url, { maxConnections: 4 })
db.installLogSink()
const log = db.createLogger(`soak-${name}`)
const paths = { anthropic: '', google: '', openai: '/v1' }
const router = await db.modelRouter({ cooldown: cfg.cooldown_ms / 1000, probeTimeout: cfg.probe_timeout_ms / 1000 })
const providers = Object.fromEntries(Object.entries(paths).map(([p, path]) => [p, { baseUrl: cfg.base_url + path }]))
const llm = router.llm({ providers, attemptTimeout: 1.5, deadline: 6 })
const routes = (await db.skillRegistry({ staleness: 1 })).messageRouter()
const store = db.conversations()
const dedup = db.dedup()
const queue = db.queue({ leaseMs: cfg.lease_ms, retryDelayMs: 200 })
const fleet = db.fleet({ webhookUrl: `${cfg.base_url}/services/T0/B0/soak` })
const runs = db.runs()
const letters = db.deadLetters()
// Half the letters replay cleanly; the others fail until they are abandoned.
const replay = async (letter) => {
  if (parseInt(letter.id.slice(-1), 16) % 2) throw Object.assign(new Error('still down'), { status: 503 })
  return null
}

async function op (kind, call, extra = {}) {
  const started = performance.now()
  try {
    const value = await call()
    journal(kind, started, true, null, extra)
    return value
  } catch (err) {
    journal(kind, started, false, err.code ?? err.constructor.name, extra)
    return null
  }
}

const limiter = db.sharedLimiter()
const limits = [{ provider: 'crm', limit: cfg.rate_limit, periodMs: 1000, burst: cfg.rate_burst }]

async function handleQueue () {
  const claimed = await op('claim', () => queue.claim(name, { n: 4 }))
  for (const item of claimed ?? []) {
    // The CRM's quota is shared by every worker: over it, the item waits its turn.
    const org = item.orgId
    const decision = await op('acquire', () => limiter.acquire({ orgId: org, providers: ['crm'], limits }))
    if (decision === null) continue // the lease runs out and a sweep puts the item back
    if (!decision.allowed) {
      await op('defer', () => queue.defer(item.id, item.leaseToken, decision.retryAfterMs))
      continue
    }
    journal('allowed', performance.now(), true, null, { org, at: Date.now() })
    await new Promise((resolve) => setTimeout(resolve, random() * 20)) // the enrichment itself
    const acked = await op('complete', () => queue.complete(item.id, item.leaseToken), { item: item.id })
    if (acked !== null) journal('ack', performance.now(), acked, null, { item: item.id, token: item.leaseToken })
  }
}

let n = 0
let lastHealth = 0
while (!stopping) {
  n += 1
  const org = choice(cfg.orgs)
  const conv = choice(cfg.conversations[org])
  const channel = choice(['web', 'slack'])
  const message = choice(cfg.messages)
  const decided = await op('route', () => routes.route(message, channel, org, 'rep-1'))
  const key = `${name}-${n}`
  const done = await op('llm', () => llm.complete({ feature: 'copilot', orgId: org, idempotencyKey: key, messages: [{ role: 'user', content: message }] }), { key, org })
  const reply = done ? done.text : '(no answer)'
  const appended = await op('append', () => store.append(org, conv, [{ role: 'user', content: message }, { role: 'assistant', content: reply }]))
  if (appended && appended.totalTokens > cfg.compact_above && random() < 0.1) {
    await op('compact', () => store.compact(org, conv, llm, { threshold: cfg.compact_above }))
  }
  if (n % 3 === 0) {
    const fate = random()
    const config = {
      agentName: cfg.agent,
      orgId: org,
      maxRetries: 1,
      policy: { kinds: { transient: { maxAttempts: 2, backoff: { baseMs: 10, capMs: 20 } } } },
      idempotencyKey: key,
    }
    await op('agent', () => db.runAgent(config, async (ctx) => {
      if (fate < 0.3 && ctx.attempt === 1) throw Object.assign(new Error('CRM unavailable'), { status: 503 })
      if (fate > 0.93) throw Object.assign(new Error('CRM down for good'), { status: 503 })
      return { scored: 1 }
    }))
  }
  const title = Array.from({ length: 5 }, () => choice(cfg.words)).join(' ')
  const dealId = org.slice(0, 24) + Math.floor(random() * 5000).toString(16).padStart(12, '0') // one of the org's 5,000 deals: a dedup key each
  const checked = await op('enqueue', () => dedup.enqueue([{ orgId: org, sourceAgent: cfg.agent, itemType: 'deal_risk', title, dealId }]))
  if (checked) journal('enqueued', performance.now(), true, null, { item: checked[0].id, verdict: checked[0].verdict })
  await handleQueue()
  log.info('soak.iteration', { n, route: decided ? decided.route : null })
  if (performance.now() - lastHealth > cfg.health_every * 1000) {
    lastHealth = performance.now()
    await op('sweep', () => queue.sweep())
    await op('health', () => fleet.checkFleetHealth())
    await op('letters', () => letters.workOnce(replay, { backoff: { baseMs: 200, capMs: 1000 } }))
  }
  // Let the event loop see SIGTERM between iterations.
  await new Promise((resolve) => setImmediate(resolve))
}

// A clean stop: what this incarnation emitted, wrote and dropped.
await log.flush()
await runs.flush()
await routes.flush()
const { accepted, written, dropped } = log.stats()
journal('stopped', performance.now(), true, null, { emitted: n, accepted, written, dropped })
await db.close()
