// Dead-letter throughput on PostgreSQL from Node: N jobs drained by 4 workers in batches of
// 20, each job claimed, handed to a no-op JavaScript handler and completed. Keel's
// `DeadLetters.workOnce` (claim with FOR UPDATE SKIP LOCKED, fenced completion) side by side
// with pg-boss 10.4 (`fetch` + `complete`, the same batch) and graphile-worker 0.17 (`run`,
// concurrency 4: it takes one job at a time). Each system drains its own fresh database on
// the same server (KEEL_BENCH_PG_URL). Prints one JSON object: jobs per second for each.
import { createRequire } from 'node:module'
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'

import PgBoss from 'pg-boss'
import { Logger, makeWorkerUtils, run } from 'graphile-worker'

const require = createRequire(import.meta.url)
const keel = require('../bindings-node/index.js')

const JOBS = Number(process.env.KEEL_BENCH_JOBS ?? 10_000)
const WORKERS = 4
const BATCH = 20
const admin = process.env.KEEL_BENCH_PG_URL ?? process.env.KEEL_TEST_PG_URL
if (!admin) throw new Error('KEEL_BENCH_PG_URL is not set')

function freshDatabase() {
  const name = `keel_bench_${randomBytes(6).toString('hex')}`
  execFileSync('psql', [admin, '-qc', `CREATE DATABASE ${name}`])
  return `${admin.slice(0, admin.lastIndexOf('/'))}/${name}`
}

const seconds = (start) => Number(process.hrtime.bigint() - start) / 1e9
const noop = async () => undefined

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

async function pgBossRate() {
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
        const jobs = await boss.fetch('bench', { batchSize: BATCH })
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
    concurrency: WORKERS,
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

const result = { jobs: JOBS, workers: WORKERS, batch: BATCH }
result.keel_per_s = await keelRate()
result.pgboss_per_s = await pgBossRate()
result.graphile_per_s = await graphileRate()
console.log(JSON.stringify(result))
