// MinHash from Node (issue 19): `minhash(text)` per item of the labelled set
// (bench/data/near_duplicates.json, 60-100 words each), 128 permutations, best of 15 rounds; and
// an LSH query over the set. Prints one JSON line.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

const keel = createRequire(import.meta.url)('../bindings-node/index.js')
const docs = JSON.parse(readFileSync(new URL('./data/near_duplicates.json', import.meta.url), 'utf8')).docs
const texts = docs.map((d) => d.text)

function perItemUs(fn, rounds) {
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    for (const t of texts) fn(t)
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e3 / texts.length)
  }
  return best
}

const lsh = new keel.MinHashLsh({ threshold: 0.8 })
const sigs = texts.map((t) => keel.minhash(t))
sigs.forEach((s, i) => lsh.insert(String(i), s))
console.log(
  JSON.stringify({
    keel_us: perItemUs((t) => keel.minhash(t), 15),
    keel_query_us: perItemUs((t, i) => lsh.query(sigs[0]), 5),
  }),
)
