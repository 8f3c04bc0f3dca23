// Per-decision cost of a cached resolution from Node (router.resolve, every circuit closed).
// Prints one JSON object of ns per call (best of rounds). Run by bench/run.py (`make bench`).
import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'

const require = createRequire(import.meta.url)
const keel = require('../bindings-node/index.js')

function perCallNs(fn, { rounds = 7, calls = 200_000 } = {}) {
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) fn()
    best = Math.min(best, Number(process.hrtime.bigint() - start) / calls)
  }
  return best
}

const db = await keel.connect('sqlite::memory:')
const router = await db.modelRouter()
const org = randomUUID()
const trace = randomUUID()
console.log(JSON.stringify({
  keel_resolve: perCallNs(() => router.resolve('copilot', 'medium')),
  keel_resolve_org_trace: perCallNs(() => router.resolve('copilot', 'medium', org, trace)),
}))
await db.close()
