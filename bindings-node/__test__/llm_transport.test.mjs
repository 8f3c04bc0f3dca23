// A JavaScript async function as a provider's transport (a platform's own vendor SDK client):
// Keel hands it the provider's request body and reads its reply or its SDK-style error, so
// fallback, typed errors and streams work the same around it.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'

import keel from '../index.js'
import { freshUrl, startLoopback } from './helpers.mjs'

const [PRIMARY, SECOND] = ['claude-a', 'gemini-b']
const HELLO = [{ role: 'user', content: 'hello' }]

// An Anthropic Messages reply body.
const message = (text) => ({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: PRIMARY,
  content: [{ type: 'text', text }],
  stop_reason: 'end_turn',
  usage: { input_tokens: 3, output_tokens: 2 },
})

// Shaped like the Anthropic and OpenAI SDKs' errors: `status`, `error` (the body), `headers`.
class APIError extends Error {
  constructor(status, text, headers = new Headers()) {
    super(text)
    Object.assign(this, { status, headers, error: { type: 'error', error: { type: 'api_error', message: text } } })
  }
}

// Answers from a script, recording what it was sent.
const fakeSdk = (...replies) => {
  const sent = []
  const send = async (request) => {
    sent.push(request)
    const reply = replies.shift()
    if (reply instanceof Error) throw reply
    return reply
  }
  return { send, sent }
}

let loopback
let db
let router
before(async () => {
  loopback = await startLoopback()
  db = await keel.connect(freshUrl('sqlite'))
  router = await db.modelRouter({ seedDefaults: false })
  await router.setModel({ feature: 'copilot', tier: 'low', provider: 'anthropic', modelId: PRIMARY })
  await router.setModel({ feature: 'copilot', tier: 'low', provider: 'google', modelId: SECOND, fallbackOrder: 1 })
})
after(async () => {
  await db.close()
  loopback.stop()
})

test('the transport gets the provider body and its reply is read', async () => {
  await loopback.reset()
  const sdk = fakeSdk(message('from the SDK'))
  const llm = router.llm({ providers: loopback.providers(), transports: { anthropic: sdk.send } })
  const done = await llm.complete({ feature: 'copilot', tier: 'low', system: 'be brief', messages: HELLO })
  assert.deepEqual([done.model, done.text], [PRIMARY, 'from the SDK'])
  assert.deepEqual(done.usage, { inputTokens: 3, outputTokens: 2 })
  const [sent] = sdk.sent
  assert.deepEqual([sent.provider, sent.model, sent.operation], ['anthropic', PRIMARY, 'chat'])
  assert.equal(sent.body.system, 'be brief')
  assert.equal(sent.body.max_tokens > 0, true, 'the body keeps the wire spelling')
  assert.deepEqual(await loopback.received(), [], 'nothing went over HTTP')
})

test('SDK errors are classified and fall back', async () => {
  await loopback.reset()
  const sdk = fakeSdk(new APIError(529, 'Overloaded'), new APIError(429, 'slow down', new Headers({ 'retry-after': '7' })))
  const llm = router.llm({ providers: loopback.providers(), transports: { anthropic: sdk.send } })
  const done = await llm.complete({ feature: 'copilot', tier: 'low', messages: HELLO })
  assert.deepEqual(done.attempts.map((a) => a.outcome), ['overloaded', 'ok'])
  assert.equal(done.model, SECOND)
  const err = await llm.complete({ provider: 'anthropic', model: PRIMARY, messages: HELLO }).then(
    () => assert.fail('answered'),
    (e) => e,
  )
  assert.equal(err.code, 'rate_limited')
  assert.equal(err.retryAfterMs, 7000)
  assert.match(err.message, /slow down/)
})

test('a stream through a transport delivers the whole reply', async () => {
  const llm = router.llm({ providers: loopback.providers(), transports: { anthropic: fakeSdk(message('all at once')).send } })
  const events = []
  for await (const event of await llm.stream({ feature: 'copilot', tier: 'low', messages: HELLO })) events.push(event)
  assert.deepEqual(events[0], { event: 'delta', type: 'text', text: 'all at once' })
  assert.equal(events.at(-1).text, 'all at once')
})

test('a transport that is not a function is refused', () => {
  assert.throws(
    () => router.llm({ transports: { anthropic: 'nope' } }),
    (e) => e.code === 'invalid_input' && e.field === 'transports.anthropic',
  )
  assert.throws(
    () => router.llm({ transports: { gemini: async () => ({}) } }),
    (e) => e.code === 'invalid_input' && e.field === 'transports',
  )
})

test('a call through a transport is driven on this event loop', async () => {
  // The transport is called before `complete` returns: no thread hop stands before it.
  let called = false
  const send = async () => {
    called = true
    return message('driven')
  }
  const llm = router.llm({ providers: loopback.providers(), transports: { anthropic: send } })
  const pending = llm.complete({ provider: 'anthropic', model: PRIMARY, messages: HELLO })
  assert.equal(called, true)
  assert.equal((await pending).text, 'driven')
})

test('an answer is read whole whatever JSON.stringify makes of it', async () => {
  // A lone surrogate (JSON.stringify writes an escape serde refuses) becomes U+FFFD; a reply
  // with a BigInt (JSON.stringify throws) is read value by value; a toJSON is honoured.
  const odd = message('bad \ud800 end')
  const big = { ...message('big'), extra: 10n }
  const dated = { ...message('dated'), toJSON() { return message('from toJSON') } }
  const sdk = fakeSdk(odd, big, dated)
  const llm = router.llm({ providers: loopback.providers(), transports: { anthropic: sdk.send } })
  const ask = () => llm.complete({ provider: 'anthropic', model: PRIMARY, messages: HELLO })
  assert.equal((await ask()).text, 'bad \ufffd end')
  assert.equal((await ask()).text, 'big')
  assert.equal((await ask()).text, 'from toJSON')
})

test('an attempt past its time falls back over Keel\'s own client', async () => {
  await loopback.reset()
  const never = () => new Promise(() => {})
  const llm = router.llm({ providers: loopback.providers(), transports: { anthropic: never } })
  const done = await llm.complete({ feature: 'copilot', tier: 'low', messages: HELLO, attemptTimeout: 0.2 })
  assert.deepEqual(done.attempts.map((a) => a.outcome), ['timeout', 'ok'])
  assert.deepEqual([done.model, done.wasFallback], [SECOND, true])
  assert.deepEqual((await loopback.received()).map((r) => r.model), [SECOND])
})

test('a driven call that fails for good rejects with every attempt, or as aborted', async () => {
  // A router of its own: the earlier tests' failures count on the shared one's breakers.
  const own = await keel.connect(freshUrl('sqlite'))
  const fresh = await own.modelRouter({ seedDefaults: false })
  await fresh.setModel({ feature: 'copilot', tier: 'low', provider: 'anthropic', modelId: PRIMARY })
  await fresh.setModel({ feature: 'copilot', tier: 'low', provider: 'google', modelId: SECOND, fallbackOrder: 1 })
  const sdk = fakeSdk(new APIError(500, 'down'), new APIError(503, 'still down'))
  const llm = fresh.llm({ providers: loopback.providers(), transports: { anthropic: sdk.send, google: sdk.send } })
  const err = await llm.complete({ feature: 'copilot', tier: 'low', messages: HELLO }).then(
    () => assert.fail('answered'),
    (e) => e,
  )
  assert.equal(err.code, 'provider')
  assert.deepEqual(err.attempts.map((a) => a.outcome), ['server_error', 'server_error'])
  assert.deepEqual(sdk.sent.map((s) => s.provider), ['anthropic', 'google'])
  const stalled = router.llm({ transports: { anthropic: () => new Promise(() => {}) } })
  const controller = new AbortController()
  const call = stalled.complete({ provider: 'anthropic', model: PRIMARY, messages: HELLO }, { signal: controller.signal })
  controller.abort()
  await assert.rejects(call, (e) => e.code === 'aborted')
  await own.close()
})
