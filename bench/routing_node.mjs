// Message routing from Node: a route awaited for an org whose web channel sees 500 skills, on
// the library bench/routing_python.py writes to target/bench-routing-library (run it first;
// bench/run.py does), uncached (`skipCache`) and as a cache hit. Prints one JSON object of ns
// per route (best of rounds); a cache hit through the synchronous `tryRoute` too.
import { createRequire } from 'node:module'
import { randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { perAwaitNs, perCallNs } from './timing.mjs'

const require = createRequire(import.meta.url)
const keel = require('../bindings-node/index.js')
const library = join(dirname(fileURLToPath(import.meta.url)), '..', 'target', 'bench-routing-library')

const db = await keel.connect(`sqlite://${join(mkdtempSync(join(tmpdir(), 'keel-bench-')), 'bench.db')}`)
const skills = await db.skillRegistry()
await skills.sync(library)
const router = skills.messageRouter({ log: false })
const org = randomUUID()
const message = "What's the status of the Globex deal and when does it close?"
await router.route(message, 'web', org)
const result = {
  keel_route_uncached: await perAwaitNs(() => router.route(message, 'web', org, null, { skipCache: true }), { calls: 3_000 }),
  keel_route_cached: await perAwaitNs(() => router.route(message, 'web', org), { calls: 20_000 }),
  keel_try_route_cached: perCallNs(() => router.tryRoute(message, 'web', org), { rounds: 5, calls: 50_000 }),
}
await db.close()
console.log(JSON.stringify(result))
