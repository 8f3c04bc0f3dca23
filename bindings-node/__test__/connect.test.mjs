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
  for (const db of [await keel.connect(), await keel.connect(null), await keel.connect(undefined, { migrate: true })]) {
    assert.equal(db.url, 'sqlite::memory:')
    assert.ok((await db.appliedMigrations()).length > 0)
    await db.close()
  }
})

test('create: false leaves a missing file missing', async () => {
  const path = join(mkdtempSync(join(tmpdir(), 'keel-node-')), 'typo', 'keel.db')
  await assert.rejects(keel.connect(`sqlite://${path}`, { create: false }), { code: 'connection' })
  assert.ok(!existsSync(join(path, '..')))
})

test('a misspelt in-memory URL is invalid_url', async () => {
  for (const url of ['sqlite:memory', 'sqlite::memory', 'sqlite://memory']) {
    await assert.rejects(keel.connect(url), { code: 'invalid_url' })
  }
})
