// Model calls from Node against `keel loopback`. First, what one call adds over a raw HTTP
// round trip (node:http to the same OpenAI-compatible endpoint), p50 and p99, calls one at a
// time, each variant in a block of its own. Then 1,000 streaming calls in flight from one
// process (each reply streamed in 40 events; calls started 50 per event-loop turn): the event
// loop's lag (p99, from perf_hooks) while they run, against the same process idle. Prints one
// JSON object on stdout. Run by bench/run.py (`make bench`).
import { execFileSync, spawn } from 'node:child_process'
import http from 'node:http'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

import keel from '../bindings-node/index.js'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const CALLS = 1_000
const CHUNKS = 40

execFileSync('cargo', ['build', '-q', '--release', '-p', 'keel-cli'], { cwd: ROOT, stdio: 'inherit' })
const proc = spawn(join(ROOT, 'target/release/keel'), ['loopback'], { stdio: ['ignore', 'pipe', 'inherit'] })
const base = await new Promise((resolve) => {
  proc.stdout.on('data', (chunk) => {
    const match = /http:\/\/\S+/.exec(String(chunk))
    if (match) resolve(match[0])
  })
})
const post = (path, body) => fetch(base + path, { method: 'POST', body: JSON.stringify(body) })
await post('/_loopback/quiet', {})
const chunks = Array.from({ length: CHUNKS }, (_, i) => `word${i} `)
await post('/_loopback/always', { model: 'gpt-bench', reply: { stream: chunks, end: 'complete' } })

const db = await keel.connect('sqlite::memory:')
const router = await db.modelRouter({ seedDefaults: false })
await router.setModel({ feature: 'copilot', tier: 'low', provider: 'openai', modelId: 'gpt-bench' })
const llm = router.llm({ providers: { openai: { apiKey: 'x', baseUrl: `${base}/v1` } } })

const ROUNDS = 1_500
const WARM_UP = 100
const percentiles = (samples) => {
  const s = [...samples].sort((a, b) => a - b)
  return [s[Math.floor(s.length / 2)], s[Math.round((s.length - 1) * 0.99)]]
}
const hello = [{ role: 'user', content: 'hello' }]
await post('/_loopback/always', { model: 'gpt-once', reply: { text: 'ok' } })
await router.setModel({ feature: 'enrichment', tier: 'low', provider: 'openai', modelId: 'gpt-once', maxTokens: 256 })
// Encoded on every call, as any client does (and as a transport does with Keel's body).
const requestBody = { model: 'gpt-once', max_tokens: 256, messages: hello }
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
// node:http with a keep-alive agent (the built-in `fetch` measured 2x slower here): the raw
// round trip, and the caller's own client as the provider's transport (the call is then driven
// on this event loop).
const postReply = (text) =>
  new Promise((resolve, reject) => {
    const request = http.request(
      `${base}/v1/chat/completions`,
      { method: 'POST', agent, headers: { 'content-type': 'application/json', authorization: 'Bearer x' } },
      (response) => {
        let reply = ''
        response.setEncoding('utf8')
        response.on('data', (chunk) => (reply += chunk))
        response.on('end', () => resolve(JSON.parse(reply)))
      },
    )
    request.on('error', reject)
    request.end(text)
  })
const own = router.llm({ transports: { openai: (request) => postReply(JSON.stringify(request.body)) } })
// Keel's own work per driven call, without I/O: a transport that answers at once with the
// server's reply.
const canned = await postReply(JSON.stringify(requestBody))
const work = router.llm({ transports: { openai: async () => canned } })
const once = {
  raw: async () => {
    if (!(await postReply(JSON.stringify(requestBody))).choices[0].message.content) throw new Error('no reply')
  },
  keel_explicit: () => llm.complete({ provider: 'openai', model: 'gpt-once', maxTokens: 256, messages: hello }),
  keel_routed: () => llm.complete({ feature: 'enrichment', tier: 'low', messages: hello }),
  keel_own_explicit: () => own.complete({ provider: 'openai', model: 'gpt-once', maxTokens: 256, messages: hello }),
  keel_own_routed: () => own.complete({ feature: 'enrichment', tier: 'low', messages: hello }),
  keel_own_work: () => work.complete({ feature: 'enrichment', tier: 'low', messages: hello }),
}
const single = {}
for (const [name, run] of Object.entries(once)) {
  const samples = []
  for (let i = 0; i < WARM_UP + ROUNDS; i++) {
    const start = performance.now()
    await run()
    if (i >= WARM_UP) samples.push((performance.now() - start) * 1e3)
  }
  const [p50, p99] = percentiles(samples)
  Object.assign(single, { [`${name}_p50_us`]: p50, [`${name}_p99_us`]: p99 })
}

async function lag(run) {
  const histogram = monitorEventLoopDelay({ resolution: 1 })
  histogram.enable()
  await run()
  histogram.disable()
  return { p50: histogram.percentile(50) / 1e6, p99: histogram.percentile(99) / 1e6 }
}

const idle = await lag(() => new Promise((resolve) => setTimeout(resolve, 2_000)))
let events = 0
const started = performance.now()
const call = async () => {
  for await (const event of await llm.stream({ feature: 'copilot', tier: 'low', messages: [{ role: 'user', content: 'hi' }] })) {
    events += event.event === 'delta' ? 1 : 0
  }
}
const busy = await lag(async () => {
  // Calls arrive as a server's requests do, 50 per turn of the event loop, until 1,000 are in
  // flight together.
  const calls = []
  for (let i = 0; i < CALLS; i += 50) {
    for (let j = 0; j < 50; j++) calls.push(call())
    await new Promise((resolve) => setImmediate(resolve))
  }
  await Promise.all(calls)
})
const seconds = (performance.now() - started) / 1e3
await db.close()
proc.kill()
if (events !== CALLS * CHUNKS) throw new Error(`expected ${CALLS * CHUNKS} deltas, got ${events}`)
console.log(
  JSON.stringify({ ...single, calls: CALLS, seconds, idle_lag_p99_ms: idle.p99, busy_lag_p50_ms: busy.p50, busy_lag_p99_ms: busy.p99 }),
)
