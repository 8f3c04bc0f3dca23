// Time partitions from Node: maintenance moves stray runs into partitions of their own and
// drops the expired week on PostgreSQL, the listing's camelCase shape, and SQLite's plain tables.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'

import keel from '../index.js'
import { BACKENDS, freshUrl } from './helpers.mjs'

const TABLES = ['agent_executions', 'system_logs_debug', 'system_logs_error', 'system_logs_info', 'system_logs_warn']

for (const backend of BACKENDS) {
  test(`${backend}: maintenance partitions strays and drops the expired`, async () => {
    const url = freshUrl(backend)
    const db = await keel.connect(url)
    try {
      if (backend === 'sqlite') {
        assert.deepEqual(await db.maintainPartitions(), [])
        assert.deepEqual(await db.partitions(), [])
        return
      }
      // Two runs without a partition: 10 days old, and 120 days old (runs are kept 90).
      execFileSync('psql', [url, '-qc',
        "INSERT INTO keel.agent_executions (agent_name, execution_type, started_at, status) VALUES " +
        "('js', 'manual', now() - interval '10 days', 'completed'), " +
        "('js', 'manual', now() - interval '120 days', 'completed')"])
      const runs = (await db.maintainPartitions()).filter((c) => c.table === 'agent_executions')
      assert.equal(runs.filter((c) => c.action === 'created').reduce((n, c) => n + c.rows, 0), 2)
      assert.deepEqual(runs.filter((c) => c.action === 'dropped').map((c) => c.rows), [1])
      const listed = await db.partitions()
      assert.deepEqual([...new Set(listed.map((p) => p.table))].sort(), TABLES)
      for (const p of listed) assert.deepEqual(Object.keys(p).sort(), ['bounds', 'bytes', 'estimatedRows', 'partition', 'table'])
      const left = execFileSync('psql', [url, '-tAc', 'SELECT count(*) FROM keel.agent_executions']).toString().trim()
      assert.equal(left, '1')
    } finally {
      await db.close()
    }
  })
}
