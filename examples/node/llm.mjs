// Model calls: one `complete` that resolves, reserves credits, calls, falls back, reports and
// charges; a streamed reply; a summary and embeddings; bad input refused before any request.
// The same scenario runs in examples/rust/llm.rs and examples/python/llm.py.
//
//     KEEL_LLM_BASE_URL=http://127.0.0.1:PORT node examples/node/llm.mjs   # `keel loopback`
//     ANTHROPIC_API_KEY=… GEMINI_API_KEY=… node examples/node/llm.mjs      # the real APIs
import { randomUUID } from 'node:crypto'
import keel from 'keelcore'

const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
// A local server (`keel loopback`) when set; else each provider's public API and its key.
const base = process.env.KEEL_LLM_BASE_URL
const orgId = randomUUID()
// --8<-- [start:llm]
const db = await keel.connect(url)
const router = await db.modelRouter()
const paths = { anthropic: '', google: '', openai: '/v1' }
const providers = base ? Object.fromEntries(Object.entries(paths).map(([p, path]) => [p, { baseUrl: base + path }])) : {}
const llm = router.llm({ providers })
await router.grantCredits(orgId, 10)

const done = await llm.complete({
  feature: 'copilot',
  tier: 'low',
  orgId,
  system: 'Answer in one line.',
  messages: [{ role: 'user', content: 'How do I prep for my Acme meeting?' }],
})
console.log(`${done.provider}/${done.model}: ${done.text}`)
const { inputTokens, outputTokens } = done.usage
console.log(`${done.attempts.length} attempt(s), ${inputTokens} in / ${outputTokens} out tokens, ${done.creditsCharged.toFixed(6)} credits`)

let text = ''
for await (const event of await llm.stream({ feature: 'copilot', messages: [{ role: 'user', content: 'Summarise the deal.' }] })) {
  if (event.event === 'delta' && event.type === 'text') text += event.text
}
console.log(`streamed: ${text}`)

const thread = 'Acme asked for five more seats; legal wants the DPA before Friday.'
const summary = await llm.summarize({ feature: 'copilot', text: thread })
console.log(`summary: ${summary.text}`)
const embedded = await llm.embed({ provider: 'google', texts: ['Acme renewal', 'DPA review'], dimensions: 4 })
console.log(`embedded ${embedded.vectors.length} texts into ${embedded.dimensions} dimensions with ${embedded.model}`)

try {
  await llm.complete({ feature: 'copilot', maxTokens: 0, messages: [{ role: 'user', content: 'hi' }] })
} catch (err) {
  console.log(`refused before any request: ${err.code}`) // err.field: maxTokens
}
await db.close()
// --8<-- [end:llm]
