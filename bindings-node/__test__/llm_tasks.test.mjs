// Model tasks from JavaScript against the loopback provider: the vectors of
// testdata/llm_tasks.json (classify answers, embeddings, the prompts sent; the bad requests
// run in vectors.test.mjs) with camelCase results. The tasks store nothing but spans, so they
// run on SQLite only.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'

import keel from '../index.js'
import { freshUrl, loadVectors, startLoopback } from './helpers.mjs'

const VECTORS = loadVectors('llm_tasks.json')
const MODEL = 'task-model'
const ROUTED = { provider: 'openai', model: MODEL }

let loopback
let db
let llm
before(async () => {
  loopback = await startLoopback()
  db = await keel.connect(freshUrl('sqlite'))
  llm = (await db.modelRouter({ seedDefaults: false })).llm({ providers: loopback.providers() })
})
after(async () => {
  await db.close()
  loopback.stop()
})

for (const c of VECTORS.classify) {
  test(`classify reads ${c.name}`, async () => {
    await loopback.reset()
    await loopback.script(MODEL, { text: c.answer })
    const call = llm.classify({ text: 'Can I add five seats?', labels: VECTORS.labels, ...ROUTED })
    if (c.code) {
      const err = await call.then(() => assert.fail('classified'), (e) => e)
      assert.equal(err.code, c.code)
      assert.equal(err.attempts.length, 1)
      return
    }
    const done = await call
    assert.deepEqual([done.label, done.confidence], [c.label, c.confidence])
    assert.equal(done.completion.model, MODEL)
    assert.equal(done.completion.usage.inputTokens, 10)
  })
}

test('each task sends its prompt', async () => {
  await loopback.reset()
  await loopback.script(MODEL, { text: '{"label": "billing"}' }, { text: ' Acme wants five seats. ' })
  const done = await llm.classify({
    text: 'Refund please',
    labels: VECTORS.labels,
    instructions: 'Route support email.',
    ...ROUTED,
  })
  assert.equal(done.label, 'billing')
  const summary = await llm.summarize({ text: 'A long thread about seats', maxTokens: 50, ...ROUTED })
  assert.equal(summary.text, 'Acme wants five seats.')
  const [classify, summarize] = (await loopback.received()).map((r) => r.body)
  assert.deepEqual(classify.messages[0], { role: 'system', content: VECTORS.system.classify })
  assert.deepEqual([classify.temperature, classify.max_tokens], [0, 100])
  assert.equal(summarize.messages[0].content, VECTORS.system.summarize)
  assert.equal(summarize.max_tokens, 50)
})

for (const [provider, path] of [
  ['openai', '/v1/embeddings'],
  ['google', '/v1beta/models/gemini-embedding-001:batchEmbedContents'],
]) {
  test(`${provider}: embeddings come back in order`, async () => {
    await loopback.reset()
    const done = await llm.embed({ provider, ...VECTORS.embed })
    const { vectors } = done
    assert.equal(vectors.length, 3)
    assert.ok(vectors.every((v) => v.length === 4) && done.dimensions === 4)
    assert.deepEqual(vectors[0], vectors[2])
    assert.notDeepEqual(vectors[0], vectors[1])
    assert.equal((await loopback.received()).at(-1).path, path)
    assert.equal(done.inputTokens, provider === 'openai' ? 10 : null)
  })
}

test('embedding failures are typed, and a signal stops an embedding', async () => {
  await loopback.reset()
  await loopback.script('text-embedding-3-small', { error: 429, message: 'slow down', retry_after: '3' })
  const err = await llm.embed({ texts: ['a'] }).then(() => assert.fail('embedded'), (e) => e)
  assert.equal(err.code, 'rate_limited')
  assert.equal(err.retryAfterMs, 3000)
  assert.deepEqual(err.attempts.map((a) => a.outcome), ['rate_limited'])
  await loopback.script('text-embedding-3-small', { stall_ms: 30_000 })
  const controller = new AbortController()
  const call = llm.embed({ texts: ['a'] }, { signal: controller.signal })
  setTimeout(() => controller.abort(), 50)
  await assert.rejects(call, (e) => e.name === 'AbortError' || e.code === 'aborted')
})
