// Dead-letter throughput on PostgreSQL from Node: N jobs drained by 4 workers in batches of
// 20, each job claimed, handed to a no-op JavaScript handler and completed. Keel's
// `DeadLetters.workOnce` (claim with FOR UPDATE SKIP LOCKED, fenced completion) side by side
// with pg-boss 10.4 (`fetch` + `complete`, the same batch) and graphile-worker 0.17 (`run`,
// concurrency 4: it takes one job at a time). Each system drains its own fresh database on
// the same server (KEEL_BENCH_PG_URL). Prints one JSON object: jobs per second for each.
import { createRequire } from 'node:module'

import { freshDatabase, graphileRate, noop, pgBossRate, seconds } from './peers.mjs'

const require = createRequire(import.meta.url)
const keel = require('../bindings-node/index.js')

const JOBS = Number(process.env.KEEL_BENCH_JOBS ?? 10_000)
const WORKERS = 4
const BATCH = 20

async function keelRate() {
  const db = await keel.connect(freshDatabase())
  const letters = db.deadLetters()
  for (let i = 0; i < JOBS; i += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, JOBS - i) }, (_, j) =>
        letters.enqueue({ agentName: 'bench', payload: { n: i + j }, errors: [{ message: 'HTTP 503', status: 503 }], delayMs: 0 }),
      ),
    )
  }
  const start = process.hrtime.bigint()
  let done = 0
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      for (;;) {
        const report = await letters.workOnce(noop, { batch: BATCH, workerId: `bench-${w}` })
        done += report.resolved
        if (report.claimed === 0) return
      }
    }),
  )
  const rate = JOBS / seconds(start)
  if (done !== JOBS) throw new Error(`keel resolved ${done} of ${JOBS}`)
  await db.close()
  return rate
}

const result = { jobs: JOBS, workers: WORKERS, batch: BATCH }
result.keel_per_s = await keelRate()
result.pgboss_per_s = (await pgBossRate({ jobs: JOBS, workers: WORKERS, batch: BATCH })).perS
result.graphile_per_s = (await graphileRate({ jobs: JOBS, concurrency: WORKERS })).perS
console.log(JSON.stringify(result))
