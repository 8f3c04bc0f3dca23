// Dead letters: a run that exhausted its retries is enqueued with its error chain, a worker
// replays it through a handler that fails once and then succeeds, and failures are classified
// on their structure. The same scenario runs in examples/rust/dead_letters.rs and
// examples/python/dead_letters.py.
//
//     node examples/node/dead_letters.mjs
//     KEEL_DATABASE_URL=postgres://… node examples/node/dead_letters.mjs
import keel from 'keelcore'

const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
// --8<-- [start:dead_letters]
const db = await keel.connect(url)
const letters = db.deadLetters()
const letter = await letters.enqueue({
  agentName: 'deal-risk-batch',
  triggerType: 'cron',
  payload: { deals: 42 },
  orgId: 'system',
  errors: [{ kind: 'transient', message: 'HTTP 503', status: 503 }],
  idempotencyKey: 'deal-risk-batch:2026-12-03',
  delayMs: 0,
})
console.log(`enqueued for ${letter.agentName} (org ${letter.orgId}): ${letter.status}, ${letter.errors.length} failure(s)`)

// The handler replays the run: the first retry meets a 503, the second succeeds.
const handler = async (replay) => {
  if (replay.retry === 1) throw Object.assign(new Error('upstream unavailable'), { status: 503 })
}
for (const pass of [1, 2]) {
  const r = await letters.workOnce(handler, { backoff: { baseMs: 0, capMs: 0 } })
  console.log(`pass ${pass}: claimed ${r.claimed}, resolved ${r.resolved}, retrying ${r.retrying}`)
}
const after = await letters.get(letter.id)
console.log(`${after.status} after ${after.retryCount} retries; history: ${after.errors.map((e) => e.kind).join(', ')}`)
for (const c of [keel.classifyFailure({ message: 'request took 1400ms' }), keel.classifyFailure({ status: 429, retryAfter: '2' })]) {
  console.log(`classified ${c.kind} by ${c.by}, retry_after_ms=${c.retryAfterMs === null ? 'None' : `Some(${c.retryAfterMs})`}`)
}
console.log(`dead-letter backoff ceilings: ${keel.retryDelays({ retries: 4, seed: 7 }).ceilings.join(', ')}`)
await db.close()
// --8<-- [end:dead_letters]
