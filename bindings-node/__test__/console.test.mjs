// The operator console from Node on both backends: the reads `keel serve` answers, by name (a
// letter, the queue's backlog over time, a log search) in camelCase with log metadata as
// stored, an action refused on a read-only console and logged with its actor on one that
// allows it, the names core lists, and bad input named by field.
import { test } from 'node:test'
import assert from 'node:assert/strict'

import keel from '../index.js'
import { BACKENDS, freshUrl } from './helpers.mjs'

const ORG = '00000000-0000-4000-8000-0000000000c1'

for (const backend of BACKENDS) {
  test(`${backend}: reads and a logged action`, async () => {
    const db = await keel.connect(freshUrl(backend))
    try {
      const letters = db.deadLetters()
      const stored = await letters.enqueue({ agentName: 'console-js', orgId: ORG, errors: [{ kind: 'transient', message: 'HTTP 503' }] })
      await letters.abandon(stored.id, { reason: 'for the console test' })
      await db.queue().enqueue([{ orgId: ORG, sourceAgent: 'a', itemType: 'deal', title: 't', queuePriority: 3 }])

      const log = db.createLogger('console-js', { orgId: ORG })
      log.info('deal.checked', { deal_id: 'd-1' })
      await log.flush()

      const readOnly = await db.console()
      const found = await readOnly.call('logs', { text: 'deal.checked', orgId: ORG })
      assert.equal(found.events[0].orgId, ORG, 'the document in camelCase')
      assert.deepEqual(found.events[0].metadata, { deal_id: 'd-1' }, 'user data as stored')
      assert.equal(readOnly.allowsActions, false)
      const about = await readOnly.call('about')
      assert.equal(about.allowActions, false)
      assert.equal((await readOnly.call('letter', { id: stored.id })).status, 'abandoned')
      const history = await readOnly.call('queue_history', { hours: 2, points: 9 })
      assert.equal(history.stepMs, 900_000)
      assert.deepEqual(history.lanes.map((l) => l.backlog.at(-1)), [0, 0, 0, 1])
      await assert.rejects(readOnly.call('redrive_letter', { id: stored.id, actor: 'ann' }), { code: 'invalid_input', field: 'op' })

      const console = await db.console({ allowActions: true })
      assert.equal((await console.call('redrive_letter', { id: stored.id, actor: 'ann' })).status, 'pending')
      const logged = await console.call('logs', { text: 'console.action' })
      const action = logged.events[0].metadata
      assert.deepEqual([action.operation, action.actor, action.target], ['redrive_letter', 'ann', stored.id])
    } finally {
      await db.close()
    }
  })

  test(`${backend}: the names are core's and bad input names the field`, async () => {
    const db = await keel.connect(freshUrl(backend))
    try {
      assert.ok(keel.consoleReads().includes('queue_history'))
      assert.deepEqual(keel.consoleActions(), ['redrive_letter', 'abandon_letter', 'deprecate_skill', 'restore_skill', 'reset_breaker'])
      const console = await db.console()
      for (const [op, args, field] of [
        ['drop_tables', {}, 'op'],
        ['letter', { id: 'nope' }, 'id'],
        ['queue_history', { hours: 0 }, 'hours'],
        ['logs', { limit: 0 }, 'limit'],
        ['routing', { orgId: 'nope' }, 'orgId'],
      ]) {
        await assert.rejects(console.call(op, args), { code: 'invalid_input', field }, op)
      }
      await assert.rejects(db.console({ allowEverything: true }), { code: 'invalid_input', field: 'options.allowEverything' })
    } finally {
      await db.close()
    }
  })
}
