// Deno smoke test: the same package, loaded through Deno's Node-API support.
// Run with: deno run --allow-ffi --allow-read --allow-env --allow-sys __test__/deno_smoke.mjs
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const keel = require('../index.js')

const db = await keel.connect('sqlite::memory:')
const applied = await db.appliedMigrations()
if (applied.length < 1 || applied[0].version !== 1) throw new Error(`unexpected migrations ${JSON.stringify(applied)}`)
let code
try {
  await keel.connect('mysql://u:pw@h/db')
} catch (err) {
  code = err.code
}
if (code !== 'invalid_url') throw new Error(`expected invalid_url, got ${code}`)
if (keel.maskUrl('postgres://u:p@h/db') !== 'postgres://u:***@h/db') throw new Error('maskUrl')
await db.close()
console.log(`deno smoke: ok (keel ${keel.version()}, ${applied.length} migration(s), err.code=${code})`)
