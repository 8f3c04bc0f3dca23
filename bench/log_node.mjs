// Per-call cost of logging from Node: Keel's createLogger against pino, both writing JSON to a
// discarding destination (/dev/null). Run by bench/run.py with stdout sent to /dev/null; the
// figures go to stderr as one JSON object (ns per call, best of rounds).
import { createRequire } from 'node:module'
import { openSync } from 'node:fs'
import pino from 'pino'

const require = createRequire(import.meta.url)
const keel = require('../bindings-node/index.js')

const CALLS = 100_000
const ROUNDS = 7
const META = { 'gen_ai.request.model': 'claude-sonnet-4-6', 'gen_ai.usage.input_tokens': 1240 }

// Between rounds the writer catches up, so Keel's queue never fills and drops (which would be
// cheaper than enqueues and flatter it).
async function best(fn) {
  let bestNs = Infinity
  for (let r = 0; r < ROUNDS; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < CALLS; i++) fn(i)
    bestNs = Math.min(bestNs, Number(process.hrtime.bigint() - start) / CALLS)
    await log.flush()
  }
  return bestNs
}

// Keel's default sink writes JSON lines to stdout, which run.py points at /dev/null.
const log = keel.createLogger('bench', { orgId: '0a0a0a0a-0000-4000-8000-00000000000a' })
const p = pino({ base: { service: 'bench' } }, pino.destination({ fd: openSync('/dev/null', 'w'), sync: true }))
const pAsync = pino({ base: { service: 'bench' } }, pino.destination({ fd: openSync('/dev/null', 'w'), sync: false, minLength: 4096 }))

const results = {
  keel_info: await best(() => log.info('model_router.tier_resolved', META)),
  pino_info: await best(() => p.info(META, 'model_router.tier_resolved')),
  pino_async_info: await best(() => pAsync.info(META, 'model_router.tier_resolved')),
  keel_info_no_meta: await best(() => log.info('model_router.tier_resolved')),
  pino_info_no_meta: await best(() => p.info('model_router.tier_resolved')),
}
const stats = await log.flush()
results.keel_dropped = stats.dropped
process.stderr.write(JSON.stringify(results) + '\n')
