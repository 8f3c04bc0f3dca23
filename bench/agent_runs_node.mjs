// Runner overhead from Node: `db.runAgent` of an async executor that does nothing, on SQLite
// (the row and spans only enqueued). Goal ≤ 30 µs per run. Prints one JSON object of µs per
// run (best of rounds) on stdout. Run by bench/run.py (`make bench`).
import { mkdtempSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { perAwaitNs } from './timing.mjs'

const keel = createRequire(import.meta.url)('../bindings-node/index.js')

const db = await keel.connect(`sqlite://${join(mkdtempSync(join(tmpdir(), 'keel-runs-')), 'runs.db')}`)
const config = { agentName: 'bench-agent' }
const noop = async () => 1
const ns = await perAwaitNs(() => db.runAgent(config, noop), { rounds: 5, calls: 2_000 })
await db.close()
console.log(JSON.stringify({ run_noop_us: ns / 1e3 }))
