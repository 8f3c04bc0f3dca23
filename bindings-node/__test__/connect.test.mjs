// Connecting, migrating and closing, on SQLite and PostgreSQL.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import keel from '../index.js'
import { BACKENDS, freshUrl } from './helpers.mjs'

for (const backend of BACKENDS) {
  test(`${backend}: migrations are applied on connect`, async () => {
    const db = await keel.connect(freshUrl(backend))
    assert.equal(db.backend, backend)
    const applied = await db.appliedMigrations()
    assert.deepEqual(applied[0], { version: 1, description: 'foundation' })
    assert.equal(await db.migrate(), 0)
    await db.ping()
    await db.close()
  })

  test(`${backend}: connect without migrations`, async () => {
    const db = await keel.connect(freshUrl(backend), { migrate: false })
    assert.deepEqual(await db.appliedMigrations(), [])
    assert.ok((await db.migrate()) >= 1)
    await db.close()
  })

  test(`${backend}: close is idempotent; later calls reject with code closed`, async () => {
    const db = await keel.connect(freshUrl(backend))
    await db.close()
    await db.close()
    assert.equal(db.closed, true)
    await assert.rejects(db.ping(), { code: 'closed' })
  })

  test(`${backend}: concurrent calls share one handle`, async () => {
    const db = await keel.connect(freshUrl(backend))
    await Promise.all(Array.from({ length: 50 }, () => db.ping()))
    await db.close()
  })
}

test('sqlite file and folder are created', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'keel-node-')), 'nested', 'keel.db')
  const db = await keel.connect(`sqlite://${path}`)
  assert.ok(existsSync(path))
  assert.equal(db.url, `sqlite://${path}`)
  await db.close()
})

test('default in-memory database', async () => {
  const db = await keel.connect('sqlite::memory:')
  assert.equal(db.url, 'sqlite::memory:')
  await db.close()
})
