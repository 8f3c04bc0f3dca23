// Model calls from JavaScript against the loopback provider: camelCase requests and results,
// fallback and credits on both backends, typed errors with their attempts, streaming with
// `for await`, and an AbortSignal that stops the call in core and releases its credits.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'

import keel from '../index.js'
import { BACKENDS, freshUrl, startLoopback } from './helpers.mjs'

const [PRIMARY, SECOND, THIRD] = ['claude-a', 'gemini-b', 'gpt-c']
// 10 input tokens cost 1 credit, 5 output tokens 1 credit: the loopback's usage costs 2.
const PRICES = { creditCost: 1, inputCostPerMtok: 100_000, outputCostPerMtok: 200_000, maxTokens: 100 }
const HELLO = [{ role: 'user', content: 'hello' }]

let loopback
before(async () => {
  loopback = await startLoopback()
})
after(() => loopback.stop())

async function setup(backend, options = {}) {
  await loopback.reset()
  const db = await keel.connect(freshUrl(backend))
  const router = await db.modelRouter({ seedDefaults: false })
  await router.setModel({ feature: 'copilot', tier: 'low', provider: 'anthropic', modelId: PRIMARY, ...PRICES })
  await router.setModel({ feature: 'copilot', tier: 'low', provider: 'google', modelId: SECOND, fallbackOrder: 1, ...PRICES })
  await router.setModel({ feature: 'copilot', tier: 'low', provider: 'openai', modelId: THIRD, fallbackOrder: 2, ...PRICES })
  const orgId = randomUUID()
  await router.grantCredits(orgId, 100)
  return { db, router, orgId, llm: router.llm({ providers: loopback.providers(), ...options }) }
}

for (const backend of BACKENDS) {
  test(`${backend}: a call falls back and charges the model that answered`, async () => {
    const { db, router, orgId, llm } = await setup(backend)
    await loopback.script(PRIMARY, { error: 500, message: 'boom' })
    await loopback.script(SECOND, { error: 503, message: 'The model is overloaded.' })
    const done = await llm.complete({ feature: 'copilot', tier: 'low', orgId, maxTokens: 50, messages: HELLO })
    assert.deepEqual(done.attempts.map((a) => a.outcome), ['server_error', 'overloaded', 'ok'])
    assert.deepEqual([done.provider, done.model, done.text], ['openai', THIRD, `ok from ${THIRD}`])
    assert.deepEqual(done.usage, { inputTokens: 10, outputTokens: 5 })
    assert.equal(done.creditsCharged, 2)
    assert.equal((await router.checkBudget(orgId)).remaining, 98)
    const sent = await loopback.received()
    assert.deepEqual(sent.map((r) => r.model), [PRIMARY, SECOND, THIRD])
    assert.equal(sent[2].body.max_tokens, 50)
    await db.close()
  })

  test(`${backend}: an aborted call stops in core and releases its credits`, async () => {
    const { db, router, orgId, llm } = await setup(backend)
    await loopback.script(PRIMARY, { stall_ms: 30_000 })
    const controller = new AbortController()
    const call = llm.complete({ feature: 'copilot', tier: 'low', orgId, messages: HELLO }, { signal: controller.signal })
    const deadline = Date.now() + 10_000
    while ((await loopback.received()).length === 0) {
      assert.ok(Date.now() < deadline, 'the call never reached the provider')
      await new Promise((r) => setTimeout(r, 10))
    }
    assert.ok((await router.checkBudget(orgId)).remaining < 100, 'credits are held during the call')
    controller.abort()
    await assert.rejects(call, { code: 'aborted' })
    while ((await router.checkBudget(orgId)).remaining !== 100) {
      assert.ok(Date.now() < deadline, 'the credits were never released')
      await new Promise((r) => setTimeout(r, 10))
    }
    await db.close()
  })
}

test('errors are typed and carry their attempts; bad input names its field', async () => {
  const { db, llm } = await setup('sqlite')
  await loopback.script(PRIMARY, { error: 429, message: 'slow down', retry_after: '7' })
  await assert.rejects(llm.complete({ provider: 'anthropic', model: PRIMARY, messages: HELLO }), (err) => {
    assert.equal(err.code, 'rate_limited')
    assert.ok(err instanceof keel.KeelError)
    assert.equal(err.retryAfterMs, 7000)
    assert.deepEqual(err.attempts.map((a) => [a.model, a.outcome, a.retryAfterMs]), [[PRIMARY, 'rate_limited', 7000]])
    return true
  })
  for (const [request, field] of [
    [{ messages: HELLO }, 'feature'],
    [{ feature: 'copilot', messages: HELLO, maxTokens: -1 }, 'maxTokens'],
    [{ feature: 'copilot', messages: [{ role: 'tool', content: [{ type: 'tool_result', callId: 'c', content: 'x' }] }], tools: [{ name: '' }] }, 'tools[0].name'],
  ]) {
    await assert.rejects(llm.complete(request), { code: 'invalid_input', field })
  }
  await db.close()
})

test('a stream yields deltas with for await, then the completion', async () => {
  const { db, orgId, llm } = await setup('sqlite')
  await loopback.script(PRIMARY, { stream: [], end: 'error' })
  const events = []
  for await (const event of await llm.stream({ feature: 'copilot', tier: 'low', orgId, messages: HELLO })) events.push(event)
  const text = events.filter((e) => e.event === 'delta').map((e) => e.text).join('')
  assert.equal(text, `ok from ${SECOND}`, 'the primary failed after its preamble: the call fell back')
  const done = events.at(-1)
  assert.equal(done.event, 'done')
  assert.deepEqual(done.attempts.map((a) => a.outcome), ['overloaded', 'ok'])
  assert.equal(done.creditsCharged, 2)

  await loopback.script(PRIMARY, { stream: ['Hel'], end: 'reset' })
  const seen = []
  await assert.rejects(async () => {
    for await (const event of await llm.stream({ feature: 'copilot', tier: 'low', messages: HELLO })) seen.push(event)
  }, { code: 'provider' })
  assert.deepEqual(seen, [{ event: 'delta', type: 'text', text: 'Hel' }])
  await db.close()
})

test('a burst of buffered events is handed over across turns of the event loop', async () => {
  const { db, llm } = await setup('sqlite')
  const chunks = Array.from({ length: 50 }, (_, i) => `w${i} `)
  await loopback.script(PRIMARY, { stream: chunks, end: 'complete' })
  const stream = await llm.stream({ feature: 'copilot', tier: 'low', messages: HELLO })
  // Every event is buffered in core by now, so the first crossing brings them in one burst.
  await new Promise((resolve) => setTimeout(resolve, 300))
  let seen = 0
  let turnAt
  for await (const event of stream) {
    if (seen === 0) setImmediate(() => (turnAt = seen))
    seen += event.event === 'delta' ? 1 : 0
    const until = performance.now() + 1 // a consumer that spends 1 ms on each event
    while (performance.now() < until);
  }
  assert.equal(seen, 50)
  // Handed over in microtasks, the loop's next turn would come after the whole burst.
  assert.ok(turnAt !== undefined && turnAt < 10, `the event loop had its turn after ${turnAt} of 50 events`)
  await db.close()
})

test('reported usage calibrates a model estimate', async () => {
  const { db, router, orgId, llm } = await setup('sqlite')
  await router.grantCredits(orgId, 10_000)
  const messages = [{ role: 'user', content: 'word '.repeat(200) }]
  const before = llm.countTokens(PRIMARY, messages)
  assert.deepEqual([before.exact, before.factor], [false, 1.2])
  const raw = Math.round(before.tokens / 1.2)
  // Anthropic bills twice what o200k_base counts: each call moves the factor 30 % of the way.
  const body = {
    id: 'msg_1', type: 'message', role: 'assistant', model: PRIMARY,
    content: [{ type: 'text', text: 'ok' }], stop_reason: 'end_turn', stop_sequence: null,
    usage: { input_tokens: raw * 2, output_tokens: 1 },
  }
  for (let i = 0; i < 3; i++) {
    await loopback.script(PRIMARY, { status: 200, body })
    await llm.complete({ feature: 'copilot', tier: 'low', orgId, messages })
  }
  const after = llm.countTokens(PRIMARY, messages)
  assert.ok(Math.abs(after.factor - (1.2 + 0.8 * (1 - 0.7 ** 3))) < 1e-9, String(after.factor))
  assert.ok(after.tokens > before.tokens * 1.4)
  // The module's counter is not this client's: it starts from the default.
  assert.equal(keel.countMessageTokens(PRIMARY, messages).factor, 1.2)
  await db.close()
})
