// Deno smoke test: the npm package keelcore from a local node_modules, loaded through
// Deno's Node-API support. From this folder, after `npm install`:
//   deno run --allow-ffi --allow-read --allow-env --allow-sys smoke.mjs
import keel from 'keelcore'

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
