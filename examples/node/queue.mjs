// Backpressure: a burst of Command Centre items in four lanes, a worker with bounded
// concurrency, a provider whose shared quota defers what it cannot take (without spending an
// attempt), and the queue's health. The same scenario runs in examples/rust/queue.rs and
// examples/python/queue.py.
//
//     node examples/node/queue.mjs
//     KEEL_DATABASE_URL=postgres://… node examples/node/queue.mjs
import keel from 'keelcore'

const ORG = '00000000-0000-4000-8000-0000000000a1'
const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
// --8<-- [start:queue]
const db = await keel.connect(url)
const queue = db.queue()
const limiter = db.sharedLimiter()
const items = Array.from({ length: 12 }, (_, i) => ({
  orgId: ORG,
  sourceAgent: 'deal-risk',
  itemType: i % 3 === 0 ? 'outreach' : 'deal_risk',
  title: `item ${i}`,
  queuePriority: i % 4,
}))
await queue.enqueue(items)
let health = await queue.health()
console.log(`enqueued 12: due per lane [${health.lanes.map((l) => l.depth).join(', ')}], mode ${health.mode}`)

const hubspot = [{ provider: 'hubspot', limit: 2, periodMs: 3_600_000, burst: 2 }]
let handled = 0
const stop = new AbortController()
const enrich = async (item) => {
  handled += 1
  if (handled === items.length) stop.abort()
  if (item.itemType === 'outreach') {
    const decision = await limiter.acquire({ orgId: item.orgId, providers: ['hubspot'], limits: hubspot })
    if (!decision.allowed) return { deferMs: decision.retryAfterMs }
  }
  return { enriched: true }
}
const report = await queue.work(enrich, { concurrency: 3, signal: stop.signal })
console.log(`worker: ${report.claimed} claimed, ${report.completed} completed, ${report.deferred} deferred, ${report.failed} failed`)
health = await queue.health()
const delayed = health.lanes.reduce((n, l) => n + l.delayed, 0)
console.log(`health: mode ${health.mode}, ${health.depth} due, ${delayed} delayed, ${health.inFlight} in flight`)
await db.close()
// --8<-- [end:queue]
