// Token counting from Node: `countTokens` against gpt-tokenizer and js-tiktoken on the same
// text. Usage: `node bench/tokens_node.mjs CORPUS`. Prints MB/s on the corpus and milliseconds
// on 'a'.repeat(1_000_000) as one JSON line. gpt-tokenizer is quadratic on one long piece (4.9 s
// on 100,000 'a' here), so it is timed on 20,000; js-tiktoken (about 10 minutes on 100,000) is
// not timed on it.
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

import { countTokens as gptCount } from 'gpt-tokenizer/encoding/o200k_base'
import { Tiktoken } from 'js-tiktoken/lite'
import o200k from 'js-tiktoken/ranks/o200k_base'

const keel = createRequire(import.meta.url)('../bindings-node/index.js')

const corpus = readFileSync(process.argv[2], 'utf8')
const jsTiktoken = new Tiktoken(o200k)
const jsCount = (text) => jsTiktoken.encode(text).length

function bestSeconds(fn, rounds) {
  let best = Infinity
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    fn()
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e9)
  }
  return best
}

const expected = keel.countTokens(corpus)
for (const [name, count] of [['gpt-tokenizer', gptCount], ['js-tiktoken', jsCount]]) {
  if (count(corpus) !== expected) throw new Error(`${name} disagrees on the corpus`)
}
const mb = Buffer.byteLength(corpus) / 1e6
const longRun = 'a'.repeat(1_000_000)
const shortRun = 'a'.repeat(20_000)
const out = {
  keel_mb_s: mb / bestSeconds(() => keel.countTokens(corpus), 7),
  gpt_tokenizer_mb_s: mb / bestSeconds(() => gptCount(corpus), 5),
  js_tiktoken_mb_s: mb / bestSeconds(() => jsCount(corpus), 3),
  keel_a_1m_ms: bestSeconds(() => keel.countTokens(longRun), 5) * 1e3,
  keel_a_20k_ms: bestSeconds(() => keel.countTokens(shortRun), 5) * 1e3,
  gpt_tokenizer_a_20k_ms: bestSeconds(() => gptCount(shortRun), 1) * 1e3,
}
console.log(JSON.stringify(out))
