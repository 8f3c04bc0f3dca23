// FFI floor from Node: a no-op and a small-struct round trip through napi.
// Prints one JSON object of nanoseconds per call. Run by bench/run.py (`make bench`).
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const keel = require('../bindings-node/index.js')

const PROBE = { id: 1, name: 'deal-risk-scan', score: 0.5, tags: ['copilot', 'slack'] }

function perCallNs(fn, { rounds = 7, calls = 500_000 } = {}) {
  let best = Infinity
  let sink = 0
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < calls; i++) sink ^= fn() ? 1 : 0
    best = Math.min(best, Number(process.hrtime.bigint() - start) / calls)
  }
  if (sink === 42) console.error('')
  return best
}

const jsNoop = () => undefined
const jsRoundtrip = (p) => ({ ...p, id: p.id + 1, score: p.score * 2 })

console.log(
  JSON.stringify({
    noop: perCallNs(() => keel._noop()),
    roundtrip: perCallNs(() => keel._roundtrip(PROBE)),
    pure_noop: perCallNs(jsNoop),
    pure_roundtrip: perCallNs(() => jsRoundtrip(PROBE)),
  }),
)
