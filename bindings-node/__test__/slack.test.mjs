// Slack from JavaScript against the loopback's Slack Web API: a thread read page by page and
// ingested, a post into a thread, Slack's errors typed (the token never shown), a 429 waited
// out, and the ingest of Events API payloads with what it skipped.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'

import keel from '../index.js'
import { freshUrl, startLoopback } from './helpers.mjs'

const TOKEN = 'xoxb-node-secret'
const THREAD = '1712345678.000100'

let loopback
let db
before(async () => {
  loopback = await startLoopback()
  db = await keel.connect(freshUrl('sqlite'))
})
after(async () => {
  await db.close()
  loopback.stop()
})

const slack = (options = {}) =>
  db.slack({ token: TOKEN, baseUrl: `${loopback.baseUrl}/api`, workspace: 'T-node', ...options })

test('a thread is read page by page and ingested in order', async () => {
  await loopback.reset()
  const client = slack()
  const page = await client.repliesPage('C1', THREAD)
  assert.equal(page.messages.length, 200)
  assert.ok(page.nextCursor)
  const messages = await client.replies('C1', THREAD)
  assert.equal(messages.length, 450)
  assert.equal(messages[0].thread_ts, THREAD, "Slack's own objects keep Slack's keys")
  const got = keel.slackIngest(messages, { botUserId: 'UBOT' })
  assert.deepEqual(got.messages.slice(0, 2).map((m) => m.role), ['user', 'assistant'])
  assert.equal(got.messages.at(-1).text, 'message 449')
  assert.equal(got.messages[0].threadTs, THREAD)
  const posted = await client.postMessage('C1', 'Acme is in legal review', { threadTs: THREAD })
  assert.equal(posted.channel, 'C1')
  const sent = (await loopback.received()).filter((r) => r.model === 'chat.postMessage')
  assert.equal(sent.at(-1).body.thread_ts, THREAD)
})

test("Slack's errors are typed and a 429 is waited out", async () => {
  await loopback.reset()
  const client = slack({ maxRetries: 1 })
  await assert.rejects(client.repliesPage('C404', THREAD), (err) => {
    assert.equal(err.code, 'provider')
    assert.match(err.message, /channel_not_found/)
    assert.ok(!err.message.includes(TOKEN))
    return true
  })
  await loopback.script('users.info', { error: 429, message: 'ratelimited', retry_after: '1' })
  const started = Date.now()
  const user = await client.user('U1')
  assert.ok(Date.now() - started >= 900)
  assert.equal(user.displayName, 'Dana Scully')
  await loopback.script(
    'chat.update',
    { error: 429, message: 'ratelimited', retry_after: '1' },
    { error: 429, message: 'ratelimited', retry_after: '2' },
  )
  await assert.rejects(client.update('C1', THREAD, 'edited'), (err) => err.code === 'rate_limited' && err.retryAfterMs === 2000)
})

test('bad arguments name their field', async () => {
  const field = (fn) => {
    try {
      fn()
    } catch (err) {
      assert.equal(err.code, 'invalid_input')
      return err.field
    }
    assert.fail('no error')
  }
  assert.equal(field(() => db.slack({ token: '' })), 'options.token')
  assert.equal(field(() => db.slack({ token: TOKEN, baseUrl: 'http://slack.example/api' })), 'options.baseUrl')
  assert.equal(field(() => keel.slackIngest('not a payload')), 'payload')
  await assert.rejects(slack().update('C1', 'yesterday', 'x'), (err) => err.field === 'ts')
})

test('events are ingested, edits applied and the rest counted', () => {
  const event = (fields) => ({ type: 'event_callback', event: { type: 'message', channel: 'C1', ...fields } })
  const got = keel.slackIngest([
    event({ user: 'U1', text: 'first', ts: '1712345678.000100' }),
    event({ subtype: 'message_changed', message: { user: 'U1', text: 'first, fixed', ts: '1712345678.000100' } }),
    { type: 'event_callback', event: { type: 'reaction_added' } },
  ])
  assert.deepEqual(got.messages.map((m) => m.text), ['first, fixed'])
  assert.equal(got.edits, 1)
  assert.deepEqual(got.skipped.map((s) => s.index), [2])
})
