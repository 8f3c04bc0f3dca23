// Queue throughput on PostgreSQL from Node: N jobs drained by 4 workers, each job claimed,
// handed to a no-op handler and completed, with batches of 10 and of 100. Keel (`queue.claim`
// of a batch, then `completeAll` of it in one statement) side by side with pg-boss 10.4
// (`fetch` of a batch + `complete`) and graphile-worker 0.17, whose batch is its `localQueue`:
// in the same shape (4 workers, a local queue of the batch's size, completions batched with no
// delay) and in its fastest configuration (its performance page: `localQueue` of 500,
// concurrency 24; run once, and Keel at a batch of 500 beside it). Each system drains its own
// fresh database on the same server (KEEL_BENCH_PG_URL). Prints one JSON object: jobs per
// second for each and, when the server runs on this machine, PostgreSQL's CPU time per job
// (`*_server_us`, all of its processes over the drain).
import { createRequire } from 'node:module'

import { drainTimer, freshDatabase, graphileRate, noop, pgBossRate } from './peers.mjs'

const require = createRequire(import.meta.url)
const keel = require('../bindings-node/index.js')

const JOBS = Number(process.env.KEEL_BENCH_JOBS ?? 20_000)
const WORKERS = 4
const ORG = '00000000-0000-4000-8000-0000000000a1'

// A fresh database's queue holding JOBS items spread over the four lanes.
async function filledQueue() {
  const db = await keel.connect(freshDatabase(), { maxConnections: WORKERS + 2 })
  // Filled far past the shedding thresholds on purpose: take every enqueue.
  const queue = db.queue({ shedding: { throttleDepth: 1e15, shedDepth: 1e15 } })
  for (let i = 0; i < JOBS; i += 1000) {
    const n = Math.min(1000, JOBS - i)
    await queue.enqueue(Array.from({ length: n }, (_, j) => ({ orgId: ORG, sourceAgent: 'bench', itemType: 'bench', title: `job ${i + j}`, queuePriority: (i + j) % 4 })))
  }
  return { db, queue }
}

// The drain: each worker claims a batch, runs the no-op handler on each item and completes
// the batch, either with `completeAll` or folded into its next claim (`claimAfter`).
async function keelRate(batch, folded) {
  const { db, queue } = await filledQueue()
  const timer = drainTimer(JOBS)
  let done = 0
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      let leases = []
      for (;;) {
        let items
        if (folded) {
          const next = await queue.claimAfter(leases, `bench-${w}`, { n: batch })
          done += next.completed.length
          items = next.items
        } else {
          items = await queue.claim(`bench-${w}`, { n: batch })
        }
        if (items.length === 0) return
        for (const item of items) await noop(item)
        leases = items.map((i) => ({ id: i.id, leaseToken: i.leaseToken }))
        if (!folded) {
          // Awaited first: `done += await …` would read `done` before the await and lose counts.
          const completed = await queue.completeAll(leases)
          done += completed.length
        }
      }
    }),
  )
  const rate = timer.finish()
  if (done !== JOBS) throw new Error(`keel${folded ? ' (folded)' : ''} completed ${done} of ${JOBS}`)
  await db.close()
  return rate
}

const result = { jobs: JOBS, workers: WORKERS }
// Records a drain's rate as `<name>_per_s` and its server cost as `<name>_server_us`.
const record = (name, { perS, serverUsPerJob }) => {
  result[`${name}_per_s`] = perS
  result[`${name}_server_us`] = serverUsPerJob
}
const graphile = (concurrency, size) =>
  graphileRate({
    jobs: JOBS,
    concurrency,
    maxPoolSize: concurrency + 1,
    preset: { worker: { localQueue: { size }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
  })
for (const batch of [10, 100]) {
  record(`keel_batch_${batch}`, await keelRate(batch, false))
  record(`keel_folded_batch_${batch}`, await keelRate(batch, true))
  record(`pgboss_batch_${batch}`, await pgBossRate({ jobs: JOBS, workers: WORKERS, batch }))
  record(`graphile_batch_${batch}`, await graphile(WORKERS, batch))
}
record('keel_batch_500', await keelRate(500, false))
record('graphile', await graphile(24, 500))
console.log(JSON.stringify(result))
