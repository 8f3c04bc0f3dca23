// Routing: sync the library, then route web and Slack messages for an org: a skill, a
// greeting, something out of scope, and the first question again from the cache, awaited and
// without waiting. The same scenario runs in examples/rust/routing.rs and
// examples/python/routing.py.
//
//     node examples/node/routing.mjs
//     KEEL_DATABASE_URL=postgres://… node examples/node/routing.mjs
import { randomUUID } from 'node:crypto'
import { connect } from 'keelcore'

const messages = [
  ['web', "What's the status of the Globex deal?"],
  ['slack', 'how do we win against Rivalsoft?'],
  ['web', 'thanks!'],
  ['web', "what's the weather in Paris?"],
  ['web', "what's the STATUS of the globex deal?"],
]
const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
const org = randomUUID()
// --8<-- [start:routing]
const db = await connect(url)
const skills = await db.skillRegistry()
await skills.sync('skills')
const router = skills.messageRouter()
for (const [channel, message] of messages) {
  const d = await router.route(message, channel, org, 'rep-7')
  const how = d.cached ? 'cache' : d.outOfScope ? 'out of scope' : d.stage
  const quoted = message.includes("'") ? `"${message}"` : `'${message}'` // as Python's repr
  console.log(`${channel.padEnd(5)} ${quoted.padEnd(42)} -> ${d.route} (${d.confidence.toFixed(2)}, ${how})`)
}
// On a hot path, tryRoute answers without awaiting when nothing needs waiting for.
const hit = router.tryRoute("What's the status of the Globex deal?", 'web', org)
if (hit !== null) console.log(`without waiting: ${hit.route} (cached: ${hit.cached})`)
await router.flush() // decisions are logged off the response path
const rows = await router.log(org)
console.log(`routing_logs: ${rows.length} decisions, ${rows.filter((r) => r.cached).length} from the cache`)
await db.close()
// --8<-- [end:routing]
