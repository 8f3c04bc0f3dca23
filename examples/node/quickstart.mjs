// Quickstart: connect, look at the schema, handle a typed error.
// The same scenario runs in examples/rust/quickstart.rs and examples/python/quickstart.py.
//
//     node examples/node/quickstart.mjs
//     KEEL_DATABASE_URL=postgres://… node examples/node/quickstart.mjs
import keel from 'keelcore'

const url = process.env.KEEL_DATABASE_URL ?? 'sqlite::memory:'
// --8<-- [start:quickstart]
const db = await keel.connect(url)
const migrations = await db.appliedMigrations()
console.log(`connected to ${db.url} (${db.backend}), ${migrations.length} migration(s) applied`)

try {
  await keel.connect('postgres://app:hunter2@127.0.0.1:9/keel')
} catch (err) {
  console.log(`${err.code}: ${err.message}`) // "connection: cannot connect to postgres://app:***@…"
}
await db.close()
// --8<-- [end:quickstart]
