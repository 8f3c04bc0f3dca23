// Token counts from JavaScript: exact counts, typed errors, and an asynchronous count that
// leaves the event loop free.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import keel from '../index.js'

test('counts and errors', () => {
  assert.equal(keel.countTokens('hello world'), 2)
  assert.equal(keel.countTokens('hello world', 'cl100k_base'), 2)
  assert.equal(keel.countTokens('a'.repeat(1_000_000)), 125_000)
  assert.throws(() => keel.countTokens('hello', 'p50k_base'), { code: 'invalid_input', field: 'encoding' })
  assert.throws(() => keel.countTokens(42), { code: 'invalid_input' })
  assert.deepEqual(keel.countMessageTokens('gpt-4o', [{ role: 'user', content: 'hello world' }]), {
    tokens: 9, exact: true, encoding: 'o200k_base', model: 'gpt-4o', factor: 1,
  })
  assert.throws(() => keel.countMessageTokens('gpt-4o', [{ role: 'robot', content: 'hi' }]), {
    code: 'invalid_input', field: 'messages[0].role',
  })
})

test('countTokensAsync leaves the event loop free', async () => {
  const text = 'The quick brown fox jumps over the lazy dog. '.repeat(400_000)
  const expected = keel.countTokens(text)
  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  const started = performance.now()
  const total = await keel.countTokensAsync(text)
  const elapsed = performance.now() - started
  clearInterval(timer)
  assert.equal(total, expected)
  // The timer fired while the count ran: the loop was not blocked for the count's length.
  assert.ok(ticks >= Math.min(3, Math.floor(elapsed / 4)), `${ticks} ticks in ${elapsed.toFixed(1)} ms`)
  assert.ok(ticks > 0)
  await assert.rejects(keel.countTokensAsync('x', 'gpt2'), { code: 'invalid_input', field: 'encoding' })
})
