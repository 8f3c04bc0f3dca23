// Slack: a thread read page by page and ingested into messages (the bot's as the
// assistant's); Events API payloads with an edit, a deletion and an event that is not a message;
// a reply posted into the thread; a user looked up; a bad timestamp refused before any request.
// The same scenario runs in examples/rust/slack.rs and examples/python/slack.py.
//
//     KEEL_LLM_BASE_URL=http://127.0.0.1:PORT node examples/node/slack.mjs   # `keel loopback`
//     SLACK_BOT_TOKEN=xoxb-… SLACK_CHANNEL=C… SLACK_THREAD_TS=… node examples/node/slack.mjs
import keel from 'keelcore'

const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
// A local server (`keel loopback`) when set; else Slack itself, with your bot's token.
const base = process.env.KEEL_LLM_BASE_URL
const channel = process.env.SLACK_CHANNEL ?? 'C0123'
const threadTs = process.env.SLACK_THREAD_TS ?? '1712345678.000100'
/** An Events API payload carrying one message event. */
const event = (fields) => ({ type: 'event_callback', event: { type: 'message', channel: 'C0123', ...fields } })
// --8<-- [start:slack]
const db = await keel.connect(url)
const slack = db.slack({
  token: process.env.SLACK_BOT_TOKEN ?? 'xoxb-example',
  workspace: 'T0123',
  ...(base ? { baseUrl: `${base}/api` } : {}),
})

const thread = await slack.replies(channel, threadTs) // every page, following the cursor
const got = keel.slackIngest(thread, { botUserId: 'UBOT' })
console.log(`thread: ${thread.length} read, ${got.messages.length} messages, ${got.skipped.length} skipped`)
for (const m of got.messages.slice(0, 2)) console.log(`  ${m.role}: ${m.text}`)

const events = keel.slackIngest([
  event({ user: 'U1', text: 'Acme wants five more seats', ts: '1712346000.000100' }),
  event({ user: 'U2', text: '', ts: '1712346001.000100', files: [{ name: 'dpa.pdf' }] }),
  event({ subtype: 'message_changed', message: { user: 'U1', text: 'Acme wants six more seats', ts: '1712346000.000100' } }),
  event({ subtype: 'message_deleted', deleted_ts: '1712346001.000100' }),
  { type: 'event_callback', event: { type: 'reaction_added', reaction: 'eyes' } },
])
const texts = events.messages.map((m) => m.text).join('; ')
console.log(`events: ${texts} (${events.edits} edit, ${events.deleted.length} deleted)`)
for (const skipped of events.skipped) console.log(`  skipped #${skipped.index}: ${skipped.reason}`)

const posted = await slack.postMessage(channel, 'Acme: legal review by Friday.', { threadTs })
console.log(`posted into the thread in ${posted.channel}`)
const user = await slack.user('U1')
console.log(`U1 is ${user.displayName}`)
try {
  await slack.update(channel, 'yesterday', 'edited')
} catch (err) {
  console.log(`refused before any request: ${err.code} (${err.field})`)
}
// --8<-- [end:slack]
await db.close()
