// Queue throughput on PostgreSQL from Node: N jobs drained by 4 workers, each job claimed,
// handed to a no-op handler and completed, with batches of 10 and of 100. Keel (`queue.claim`
// of a batch, then `completeAll` of it in one statement) side by side with pg-boss 10.4
// (`fetch` of a batch + `complete`) and graphile-worker 0.17 in its fastest configuration (its
// performance page: `localQueue` of 500, completions batched with no delay, concurrency 24 —
// it has no batch size; it is run once). Each system drains its own fresh database on the
// same server (KEEL_BENCH_PG_URL). Prints one JSON object: jobs per second for each.
import { createRequire } from 'node:module'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'

import PgBoss from 'pg-boss'
import { Logger, makeWorkerUtils, run } from 'graphile-worker'

const require = createRequire(import.meta.url)
const keel = require('../bindings-node/index.js')

const JOBS = Number(process.env.KEEL_BENCH_JOBS ?? 20_000)
const WORKERS = 4
const ORG = '00000000-0000-4000-8000-0000000000a1'
const admin = process.env.KEEL_BENCH_PG_URL ?? process.env.KEEL_TEST_PG_URL
if (!admin) throw new Error('KEEL_BENCH_PG_URL is not set')

function freshDatabase() {
  const name = `keel_bench_${randomBytes(6).toString('hex')}`
  execFileSync('psql', [admin, '-qc', `CREATE DATABASE ${name}`])
  return `${admin.slice(0, admin.lastIndexOf('/'))}/${name}`
}

const seconds = (start) => Number(process.hrtime.bigint() - start) / 1e9
const noop = async () => undefined

async function keelRate(batch) {
  const db = await keel.connect(freshDatabase(), { maxConnections: WORKERS + 2 })
  // Filled far past the shedding thresholds on purpose: take every enqueue.
  const queue = db.queue({ shedding: { throttleDepth: 1e15, shedDepth: 1e15 } })
  for (let i = 0; i < JOBS; i += 1000) {
    const n = Math.min(1000, JOBS - i)
    await queue.enqueue(Array.from({ length: n }, (_, j) => ({ orgId: ORG, sourceAgent: 'bench', itemType: 'bench', title: `job ${i + j}`, queuePriority: (i + j) % 4 })))
  }
  const start = process.hrtime.bigint()
  let done = 0
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      for (;;) {
        const items = await queue.claim(`bench-${w}`, { n: batch })
        if (items.length === 0) return
        for (const item of items) await noop(item)
        // Awaited first: `done += await …` would read `done` before the await and lose counts.
        const completed = await queue.completeAll(items.map((i) => ({ id: i.id, leaseToken: i.leaseToken })))
        done += completed.length
      }
    }),
  )
  const rate = JOBS / seconds(start)
  if (done !== JOBS) throw new Error(`keel completed ${done} of ${JOBS}`)
  await db.close()
  return rate
}

// The same drain with each batch's completions folded into the next claim (`claimAfter`).
async function keelFoldedRate(batch) {
  const db = await keel.connect(freshDatabase(), { maxConnections: WORKERS + 2 })
  const queue = db.queue({ shedding: { throttleDepth: 1e15, shedDepth: 1e15 } })
  for (let i = 0; i < JOBS; i += 1000) {
    const n = Math.min(1000, JOBS - i)
    await queue.enqueue(Array.from({ length: n }, (_, j) => ({ orgId: ORG, sourceAgent: 'bench', itemType: 'bench', title: `job ${i + j}`, queuePriority: (i + j) % 4 })))
  }
  const start = process.hrtime.bigint()
  let done = 0
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      let leases = []
      for (;;) {
        const next = await queue.claimAfter(leases, `bench-${w}`, { n: batch })
        done += next.completed.length
        if (next.items.length === 0) return
        for (const item of next.items) await noop(item)
        leases = next.items.map((i) => ({ id: i.id, leaseToken: i.leaseToken }))
      }
    }),
  )
  const rate = JOBS / seconds(start)
  if (done !== JOBS) throw new Error(`keel (folded) completed ${done} of ${JOBS}`)
  await db.close()
  return rate
}

async function pgBossRate(batch) {
  const boss = new PgBoss({ connectionString: freshDatabase(), max: WORKERS + 1, supervise: false, schedule: false })
  boss.on('error', () => {})
  await boss.start()
  await boss.createQueue('bench')
  for (let i = 0; i < JOBS; i += 500) {
    await boss.insert(Array.from({ length: Math.min(500, JOBS - i) }, (_, j) => ({ name: 'bench', data: { n: i + j } })))
  }
  const start = process.hrtime.bigint()
  let done = 0
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      for (;;) {
        const jobs = await boss.fetch('bench', { batchSize: batch })
        if (jobs.length === 0) return
        for (const job of jobs) await noop(job)
        const result = await boss.complete('bench', jobs.map((j) => j.id))
        done += result.affected
      }
    }),
  )
  const rate = JOBS / seconds(start)
  if (done !== JOBS) throw new Error(`pg-boss completed ${done} of ${JOBS}`)
  await boss.stop({ graceful: false, wait: true })
  return rate
}

async function graphileRate() {
  const connectionString = freshDatabase()
  const utils = await makeWorkerUtils({ connectionString, logger: new Logger(() => () => {}) })
  await utils.migrate()
  for (let i = 0; i < JOBS; i += 500) {
    await utils.addJobs(Array.from({ length: Math.min(500, JOBS - i) }, (_, j) => ({ identifier: 'bench', payload: { n: i + j } })))
  }
  await utils.release()
  let done = 0
  let finish
  const finished = new Promise((resolve) => (finish = resolve))
  const start = process.hrtime.bigint()
  const runner = await run({
    connectionString,
    concurrency: 24,
    maxPoolSize: 25,
    preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
    noHandleSignals: true,
    pollInterval: 100,
    logger: new Logger(() => () => {}),
    taskList: {
      bench: async () => {
        done += 1
        if (done === JOBS) finish()
      },
    },
  })
  await finished
  const rate = JOBS / seconds(start)
  await runner.stop()
  return rate
}

const result = { jobs: JOBS, workers: WORKERS }
for (const batch of [10, 100]) {
  result[`keel_batch_${batch}_per_s`] = await keelRate(batch)
  result[`keel_folded_batch_${batch}_per_s`] = await keelFoldedRate(batch)
  result[`pgboss_batch_${batch}_per_s`] = await pgBossRate(batch)
}
result.graphile_per_s = await graphileRate()
console.log(JSON.stringify(result))
