// What the Node queue benches share: a fresh database per system on the bench server
// (KEEL_BENCH_PG_URL) and the peers' drains, pg-boss 10.4 (`fetch` a batch, then `complete`
// it) and graphile-worker 0.17 (`run` until every job ran). Each drain returns its jobs per
// second and, when the server runs on this machine, PostgreSQL's CPU time per job.
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync } from 'node:fs'

import PgBoss from 'pg-boss'
import { Logger, makeWorkerUtils, run } from 'graphile-worker'

const admin = process.env.KEEL_BENCH_PG_URL ?? process.env.KEEL_TEST_PG_URL
if (!admin) throw new Error('KEEL_BENCH_PG_URL is not set')

/** The URL of a new, empty database on the bench server. */
export function freshDatabase() {
  const name = `keel_bench_${randomBytes(6).toString('hex')}`
  execFileSync('psql', [admin, '-qc', `CREATE DATABASE ${name}`])
  return `${admin.slice(0, admin.lastIndexOf('/'))}/${name}`
}

/** Seconds since `start` (a `process.hrtime.bigint()`). */
export const seconds = (start) => Number(process.hrtime.bigint() - start) / 1e9

const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }))

/**
 * CPU seconds spent so far by this machine's `postgres` processes: each one's user and system
 * time, plus its waited-for children's (the postmaster's hold every backend that has exited),
 * or `null` when no such process is visible (a server elsewhere).
 */
function serverCpu() {
  let ticks = 0
  let found = false
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    let stat
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    } catch {
      continue // exited while listed
    }
    if (!stat.includes('(postgres)')) continue
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    ticks += fields.slice(11, 15).reduce((sum, field) => sum + Number(field), 0) // utime stime cutime cstime
    found = true
  }
  return found ? ticks / TICKS_PER_S : null
}

/**
 * Starts timing a drain of `jobs` jobs; `finish()` returns `{ perS, serverUsPerJob }` (the
 * latter `null` when the server is not on this machine).
 */
export function drainTimer(jobs) {
  const start = process.hrtime.bigint()
  const cpu = serverCpu()
  return {
    finish() {
      const perS = jobs / seconds(start)
      const after = serverCpu()
      return { perS, serverUsPerJob: cpu === null || after === null ? null : ((after - cpu) * 1e6) / jobs }
    },
  }
}

/** The handler every bench runs: nothing, asynchronously. */
export const noop = async () => undefined

/** pg-boss: `jobs` jobs drained by `workers` loops of `fetch` (`batch` at a time) and `complete`. */
export async function pgBossRate({ jobs, workers, batch }) {
  const boss = new PgBoss({ connectionString: freshDatabase(), max: workers + 1, supervise: false, schedule: false })
  boss.on('error', () => {})
  await boss.start()
  await boss.createQueue('bench')
  for (let i = 0; i < jobs; i += 500) {
    await boss.insert(Array.from({ length: Math.min(500, jobs - i) }, (_, j) => ({ name: 'bench', data: { n: i + j } })))
  }
  const timer = drainTimer(jobs)
  let done = 0
  await Promise.all(
    Array.from({ length: workers }, async () => {
      for (;;) {
        const fetched = await boss.fetch('bench', { batchSize: batch })
        if (fetched.length === 0) return
        for (const job of fetched) await noop(job)
        const result = await boss.complete('bench', fetched.map((j) => j.id))
        done += result.affected
      }
    }),
  )
  const rate = timer.finish()
  if (done !== jobs) throw new Error(`pg-boss completed ${done} of ${jobs}`)
  await boss.stop({ graceful: false, wait: true })
  return rate
}

/** graphile-worker: `jobs` jobs run by one runner of `options` (concurrency, preset, pool). */
export async function graphileRate({ jobs, ...options }) {
  const connectionString = freshDatabase()
  const utils = await makeWorkerUtils({ connectionString, logger: new Logger(() => () => {}) })
  await utils.migrate()
  for (let i = 0; i < jobs; i += 500) {
    await utils.addJobs(Array.from({ length: Math.min(500, jobs - i) }, (_, j) => ({ identifier: 'bench', payload: { n: i + j } })))
  }
  await utils.release()
  let done = 0
  let finish
  const finished = new Promise((resolve) => (finish = resolve))
  const timer = drainTimer(jobs)
  const runner = await run({
    connectionString,
    noHandleSignals: true,
    pollInterval: 100,
    logger: new Logger(() => () => {}),
    ...options,
    taskList: {
      bench: async () => {
        done += 1
        if (done === jobs) finish()
      },
    },
  })
  await finished
  const rate = timer.finish()
  await runner.stop()
  return rate
}
