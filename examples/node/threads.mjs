// Slack threads: a copilot thread found or created for its first message, a
// `conversations.replies` page ingested (a redelivery stored once), a turn recorded, the
// thread's context extracted at its watermark by the router's enrichment model with the deal
// resolved by your lookup, the Slack conclusion read from the web, forgotten, and the thread's
// history. The same scenario runs in examples/rust/threads.rs and examples/python/threads.py.
//
//     KEEL_LLM_BASE_URL=http://127.0.0.1:PORT node examples/node/threads.mjs   # `keel loopback`
//     ANTHROPIC_API_KEY=… node examples/node/threads.mjs
import keel from 'keelcore'

const ORG = '00000000-0000-4000-8000-0000000000a7'
const REP = '00000000-0000-4000-8000-0000000000b7'
const DEAL = '00000000-0000-4000-8000-00000000de07'
const THREAD_TS = '1733220000.000100'
const LINES = [
  'Where is the Acme Renewal?',
  'Legal has the redlines; Dana owns them.',
  'What did they push back on?',
  'The liability cap and a 12% discount.',
  'Can we hold the discount at 8%?',
  'Finance approved 8% on a two-year term.',
  'Draft the reply to Dana.',
  'Drafted: 8% on two years, cap unchanged.',
  'Sent. Dana says legal signs Friday.',
  'Noted: signature expected Friday.',
]

/** A `conversations.replies` page: the rep (U0REP) and the copilot's bot (U0BOT) in turn. */
const repliesPage = () => ({
  ok: true,
  messages: LINES.map((text, i) => ({
    type: 'message',
    user: i % 2 ? 'U0BOT' : 'U0REP',
    text,
    ts: `17332200${String(i).padStart(2, '0')}.000100`,
  })),
})

const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
// A local server (`keel loopback`) when set; else Anthropic itself, with your key.
const base = process.env.KEEL_LLM_BASE_URL
// --8<-- [start:threads]
const db = await keel.connect(url)
const threads = db.slackThreads()
const thread = await threads.getOrCreate({
  orgId: ORG,
  userId: REP,
  slackTeamId: 'T0ACME',
  slackChannelId: 'C0DEALS',
  slackThreadTs: THREAD_TS,
})
const page = repliesPage()
const done = await threads.ingest(ORG, thread.id, page, { botUserId: 'U0BOT' })
const [first, last] = done.seqs
console.log(`ingested ${done.added} messages as seqs ${first}..${last}; extraction due: ${done.extractionDue}`)
const again = await threads.ingest(ORG, thread.id, page, { botUserId: 'U0BOT' })
console.log(`redelivered: ${again.added} added, ${again.duplicates} duplicates`)
const turn = await threads.recordTurn(ORG, thread.id, { intent: 'deal_query', credits: 0.5 })
console.log(`turns ${turn.turns.length}, intents ${turn.intentsUsed.join(', ')}, credits ${turn.creditsConsumed}`)

const router = await db.modelRouter()
const llm = router.llm({ providers: base ? { anthropic: { baseUrl: base } } : {} })
const sweep = await threads.sweep(llm, { link: (kind, name) => (name === 'Acme Renewal' ? DEAL : null) })
const extraction = sweep.threads[0]
console.log(`sweep: ${sweep.claimed} claimed, ${sweep.extracted} extracted through ${extraction.extractedThrough}`)
console.log(`  summary: ${extraction.summary}`)
for (const e of extraction.entities) {
  console.log(`  ${e.entityType} ${e.name}: ${e.entityId ? 'resolved' : 'kept as text'}`)
}

const memory = db.conversations()
const web = await memory.contextForUser(ORG, REP, { message: 'Where does the Acme Renewal stand?', channel: 'web' })
for (const chosen of web.entries) {
  const entry = chosen.entry
  console.log(`web sees (${chosen.score}): ${entry.channel} ${entry.entityType} ${entry.entityName}`)
}
const forgotten = await memory.forgetContext(ORG, REP, 'deal', DEAL)
console.log(`forgot the deal: ${forgotten.removed} row(s)`)
for (const item of await threads.history(ORG, thread.id, { limit: 2 })) {
  console.log(`  [${item.seq}] ${item.role}: ${item.content}`)
}
try {
  await threads.history(ORG, thread.id, { limit: 0 })
} catch (err) {
  console.log(`refused: ${err.code} (${err.field})`)
}
// --8<-- [end:threads]
await db.close()
