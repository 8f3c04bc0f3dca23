// Per-decision cost of a cached resolution from Node (router.resolve, every circuit closed).
// Prints one JSON object of ns per call (best of rounds). Run by bench/run.py (`make bench`).
import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'

import { perCallNs } from './timing.mjs'

const require = createRequire(import.meta.url)
const keel = require('../bindings-node/index.js')

const db = await keel.connect('sqlite::memory:')
const router = await db.modelRouter()
const org = randomUUID()
const trace = randomUUID()
console.log(JSON.stringify({
  keel_resolve: perCallNs(() => router.resolve('copilot', 'medium')),
  keel_resolve_org_trace: perCallNs(() => router.resolve('copilot', 'medium', org, trace)),
}))
await db.close()
