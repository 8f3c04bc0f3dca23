// Fleet health: the seeded agent registry, an agent registered by its cron schedule, its runs
// judged by one health run (every seeded agent that never ran is stale), alerts posted once to
// a Slack webhook, a second run that sends nothing, and a schedule that is not cron refused.
// The same scenario runs in examples/rust/fleet.rs and examples/python/fleet.py.
//
//     KEEL_LLM_BASE_URL=http://127.0.0.1:PORT node examples/node/fleet.mjs   # `keel loopback`
//     SLACK_WEBHOOK_URL=https://hooks.slack.com/services/… node examples/node/fleet.mjs
import { connect } from 'keelcore'

const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
// A local Slack (`keel loopback`) when set; else SLACK_WEBHOOK_URL and friends.
const base = process.env.KEEL_LLM_BASE_URL
const options = base ? { webhookUrl: `${base}/services/T0/B0/example` } : {}
// --8<-- [start:fleet]
const db = await connect(url)
const fleet = db.fleet(options)
const agents = await fleet.agents()
const weekly = agents.find((a) => a.agentName === 'pipeline-snapshot')
console.log(`${agents.length} agents registered; pipeline-snapshot every ${weekly.cadenceMs / 86_400_000} d (${weekly.schedule})`)
const crm = await fleet.setAgent({ agentName: 'crm-sync', schedule: '*/30 * * * *' })
console.log(`crm-sync every ${crm.cadenceMs / 60_000} min`)

for (const ok of [true, false, true, false]) {
  await db.runAgent({ agentName: 'crm-sync', maxRetries: 0, deadLetter: false }, async () => {
    if (!ok) throw Object.assign(new Error('CRM unavailable'), { status: 503 })
    return { synced: 12 }
  })
}
await db.runs().flush()

const health = await fleet.check()
for (const agent of health.agents) {
  console.log(`  ${agent.name.padEnd(20)} ${agent.status.padEnd(8)} ${agent.reasons[0] ?? ''}`)
}
console.log(`${health.totalAlertsFired} alerts queued, ${health.delivery.delivered} delivered`)
const again = await fleet.check()
console.log(`a second run: ${again.totalAlertsFired} new alerts`)

try {
  await fleet.setAgent({ agentName: 'x', schedule: 'every day' })
} catch (err) {
  console.log(`refused: ${err.code} (${err.field})`)
}
// --8<-- [end:fleet]
await db.close()
