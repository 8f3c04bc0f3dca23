// Fleet health from Node on both backends: the seeded registry, an agent registered and
// judged from its real runs, alerts posted once to a Slack webhook on loopback (node:http)
// with the original's Block Kit layout, the camelCase result and the original snake_case
// response, an `onAlert` callback instead, the HTML report escaping markup, and bad input.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'

import keel from '../index.js'
import { BACKENDS, freshUrl } from './helpers.mjs'

/** A Slack incoming webhook on loopback: the JSON bodies it received. */
const webhook = async () => {
  const bodies = []
  const server = createServer((req, res) => {
    let text = ''
    req.on('data', (chunk) => (text += chunk))
    req.on('end', () => {
      bodies.push(JSON.parse(text))
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok')
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${server.address().port}/services/T0/B0/x`, bodies, close: () => server.close() }
}

const failingRun = async (db, agentName) => {
  const result = await db.runAgent({ agentName, maxRetries: 0 }, async () => {
    throw Object.assign(new Error('the CRM said no'), { status: 503 })
  })
  assert.equal(result.status, 'failed')
  await db.runs().flush()
}

const fast = { limit: 100, periodMs: 1000, burst: 100 }

for (const backend of BACKENDS) {
  test(`${backend}: a health run posts each alert once to the webhook`, async () => {
    const hook = await webhook()
    const db = await keel.connect(freshUrl(backend))
    try {
      const fleet = db.fleet({ webhookUrl: hook.url, webhookLimit: fast })
      const agents = await fleet.agents()
      assert.equal(agents.length, 6)
      assert.equal(agents.find((a) => a.agentName === 'pipeline-snapshot').cadenceMs, 7 * 86_400_000)
      const added = await fleet.setAgent({ agentName: 'js-agent', schedule: '*/5 * * * *' })
      assert.equal(added.cadenceMs, 300_000)
      await failingRun(db, 'js-agent')

      const health = await fleet.check()
      const mine = health.agents.find((a) => a.name === 'js-agent')
      assert.equal(mine.status, 'critical')
      assert.equal(mine.failureRate24h, 100)
      assert.deepEqual(health.summary, { healthy: 0, warning: 0, critical: 1, stale: 6 })
      assert.equal(health.totalAlertsFired, 7)
      assert.equal(health.delivery.delivered, 7)
      assert.equal(hook.bodies.length, 7)
      const body = hook.bodies.find((b) => b.text.includes('js-agent'))
      assert.deepEqual(body.blocks.map((b) => b.type), ['header', 'section', 'section', 'section', 'context'])
      assert.equal(body.blocks[0].text.text, 'Fleet Health CRITICAL: js-agent')

      const original = await fleet.checkFleetHealth()
      assert.equal(original.total_alerts_fired, 0)
      assert.ok('checked_at' in original && 'failure_rate_24h' in original.agents[0])
      assert.equal(hook.bodies.length, 7)
      const report = await fleet.report({ periodMs: 3_600_000 })
      assert.equal(report.series['js-agent'].length, 2)
      assert.equal(await fleet.prune({ keepMs: 86_400_000 }), 0)
    } finally {
      await db.close()
      hook.close()
    }
  })

  test(`${backend}: onAlert receives alerts instead, and the page escapes markup`, async () => {
    const db = await keel.connect(freshUrl(backend))
    try {
      const received = []
      const fleet = db.fleet({ onAlert: async (alert) => received.push(alert) })
      await fleet.setAgent({ agentName: '<img src=x onerror=alert(1)>', cadenceMs: 60_000 })
      const health = await fleet.check()
      assert.equal(received.length, health.totalAlertsFired)
      assert.ok(received.every((a) => a.delivery === 'sending' && typeof a.message.text === 'string'))
      const page = await fleet.reportHtml()
      assert.ok(page.startsWith('<!doctype html>'))
      assert.ok(!page.includes('<img src=x'))
      assert.ok(page.includes('&lt;img src=x onerror=alert(1)&gt;'))
    } finally {
      await db.close()
    }
  })

  test(`${backend}: bad input names the field`, async () => {
    const db = await keel.connect(freshUrl(backend))
    try {
      assert.throws(() => db.fleet({ webhookUrl: 'http://hooks.example.com/x' }), {
        code: 'invalid_input',
        field: 'options.webhookUrl',
      })
      assert.throws(() => db.fleet({ onAlert: 'not a function' }), { code: 'invalid_input', field: 'options.onAlert' })
      const fleet = db.fleet()
      await assert.rejects(fleet.setAgent({ agentName: 'x', cadenceMs: 0 }), { code: 'invalid_input', field: 'cadenceMs' })
      await assert.rejects(fleet.removeAgent('nobody'), { code: 'invalid_input', field: 'agentName' })
    } finally {
      await db.close()
    }
  })
}
