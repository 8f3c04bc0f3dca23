// The operator console from code: the reads `keel serve` answers (the queue's backlog per lane
// over the last hour, the dead letters), an action refused on a read-only console, then run on
// one that allows actions and found in the log with its actor. The same scenario runs in
// examples/rust/console.rs and examples/python/console.py.
//
//     node examples/node/console.mjs
//     KEEL_DATABASE_URL=postgres://… node examples/node/console.mjs
import keel from 'keelcore'

const ORG = '00000000-0000-4000-8000-0000000000a1'

const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
// --8<-- [start:console]
const db = await keel.connect(url)
const items = Array.from({ length: 6 }, (_, i) => ({ orgId: ORG, sourceAgent: 'deal-risk', itemType: 'deal_risk', title: `item ${i}`, queuePriority: i % 3 }))
await db.queue().enqueue(items)
const letters = db.deadLetters()
const letter = await letters.enqueue({ agentName: 'crm-sync', orgId: ORG, errors: [{ message: 'HTTP 401' }] })
await letters.abandon(letter.id, { reason: 'the token was revoked' })
console.log(`${keel.consoleReads().length} reads, ${keel.consoleActions().length} actions`)

let ops = await db.console()
const history = await ops.call('queue_history', { hours: 1, points: 5 })
console.log(`backlog per lane now: [${history.lanes.map((lane) => lane.backlog[4]).join(', ')}]`)
const abandoned = await ops.call('letters', { status: ['abandoned'] })
console.log(`abandoned letters: ${abandoned.length}`)
try {
  await ops.call('redrive_letter', { id: letter.id, actor: 'ann' })
} catch (err) {
  console.log(`read-only: ${err.code} on ${err.field}`)
}

ops = await db.console({ allowActions: true })
const redriven = await ops.call('redrive_letter', { id: letter.id, actor: 'ann' })
console.log(`redriven: ${redriven.status}`)
const logged = await ops.call('logs', { text: 'console.action' })
const action = logged.events[0].metadata
console.log(`logged: ${action.operation} by ${action.actor}`)
await db.close()
// --8<-- [end:console]
