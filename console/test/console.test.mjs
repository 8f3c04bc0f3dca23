// The console in a real browser: Debian's Chromium (/usr/bin/chromium, `make chromium`)
// driven by playwright-core, against `keel serve` on a SQLite database this test fills with
// `keel demo` and, through the Node binding, with markup where an operator reads text and a
// letter to redrive. Every view renders with data, filters narrow, a trace opens from the
// fleet view, a redrive changes the letter, the token is enforced and markup stays text.
// Screenshots of each view go to target/console/.
import assert from 'node:assert/strict'
import { spawn, execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'

import { chromium } from 'playwright-core'

const root = new URL('../../', import.meta.url).pathname
const require = createRequire(import.meta.url)
const keel = require(join(root, 'bindings-node/index.js'))
const bin = process.env.KEEL_BIN ?? join(root, 'target/debug/keel')
const shots = join(root, 'target/console')
const MARKUP = '<img src=x onerror="window.__xss=1">'
const ORG = '005ea1e5-0000-4000-8000-000000000001'

const servers = []
const JSON_POST = { method: 'POST', headers: { 'content-type': 'application/json' } }
let browser
let dir
let url
let letterId

/** Starts `keel serve` with `flags` on a free port; its URL. */
async function serve(flags) {
  const child = spawn(bin, ['serve', '--json', '--listen', '127.0.0.1:0', '--database-url', `sqlite://${dir}/.keel/demo.db`, ...flags], { stdio: ['ignore', 'pipe', 'pipe'] })
  servers.push(child)
  // `--json` prints one document saying where it listens.
  return await new Promise((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk) => {
      out += chunk
      const found = /"url":\s*"([^"]+)"/.exec(out)
      if (found) resolve(found[1])
    })
    child.on('exit', (code) => reject(new Error(`keel serve exited ${code}`)))
  })
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keel-console-'))
  execFileSync(bin, ['demo'], { cwd: dir, stdio: 'ignore' })
  const db = await keel.connect(`sqlite://${dir}/.keel/demo.db`)
  const log = db.createLogger('console-test', { orgId: ORG })
  log.warn(MARKUP, { note: MARKUP })
  await log.flush()
  const letters = db.deadLetters()
  const letter = await letters.enqueue({ agentName: 'console-test', orgId: ORG, errors: [{ message: MARKUP }] })
  letterId = (await letters.abandon(letter.id, { reason: 'for the console test' })).id
  await db.close()
  url = await serve(['--allow-actions'])
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  mkdirSync(shots, { recursive: true })
})

after(async () => {
  await browser?.close()
  // A service manager's stop: each server finishes and exits 0.
  const exits = servers.map((child) => new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', resolve))))
  for (const child of servers) child.kill('SIGTERM')
  assert.deepEqual(await Promise.all(exits), servers.map(() => 0))
})

async function open(hash) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  const failures = []
  page.on('pageerror', (e) => failures.push(e.message))
  page.on('console', (m) => m.type() === 'error' && failures.push(m.text()))
  await page.goto(`${url}${hash}`)
  return { page, failures }
}

test('the fleet view shows every agent and opens an execution’s trace', async () => {
  const { page, failures } = await open('#/fleet')
  await page.getByTestId('fleet-summary').waitFor()
  assert.ok((await page.locator('tbody tr').count()) >= 3)
  await page.screenshot({ path: join(shots, 'fleet.png'), fullPage: true })
  await page.locator('tbody tr a').first().click()
  await page.getByRole('heading', { name: /^Executions/ }).waitFor()
  await page.locator('a.trace').first().click()
  await page.getByTestId('trace-tree').waitFor()
  assert.ok((await page.getByTestId('trace-row').count()) >= 1)
  await page.screenshot({ path: join(shots, 'trace.png'), fullPage: true })
  assert.deepEqual(failures, [])
})

test('the log search filters by level and shows markup as text', async () => {
  const { page, failures } = await open('#/logs')
  const rows = page.getByTestId('log-results').locator('tbody tr')
  await rows.first().waitFor()
  const all = await rows.count()
  await page.screenshot({ path: join(shots, 'logs.png'), fullPage: true })
  await page.selectOption('select[name=level]', 'warn')
  await page.click('form[data-testid=log-filters] button')
  await page.waitForFunction(() => location.hash.includes('level=warn'))
  await rows.first().waitFor()
  const levels = await page.getByTestId('log-results').locator('tbody tr td:nth-child(2)').allTextContents()
  assert.ok(levels.length > 0 && levels.length <= all)
  assert.ok(levels.every((l) => l === 'warn' || l === 'error'), levels.join())
  const text = await page.getByTestId('log-results').textContent()
  assert.ok(text.includes(MARKUP), 'the markup is shown as text')
  assert.equal(await page.evaluate(() => window.__xss), undefined)
  assert.equal(await page.locator('img').count(), 0)
  assert.deepEqual(failures, [])
})

test('a redrive from the queue view brings the letter back', async () => {
  const { page, failures } = await open('#/queue?status=abandoned')
  await page.getByTestId('queue-health').locator('table').waitFor()
  await page.getByTestId('redrive').first().waitFor()
  await page.getByTestId('queue-history').locator('.uplot').waitFor()
  await page.screenshot({ path: join(shots, 'queue.png'), fullPage: true })
  // The chart's last point is now: every lane's backlog holds at least its due items.
  const post = async (op, args) => (await fetch(`${url}api/${op}`, { ...JSON_POST, body: JSON.stringify(args) })).json()
  const [health, history] = await Promise.all([post('queue', {}), post('queue_history', { hours: 1, points: 13 })])
  assert.equal(history.times.length, 13)
  for (const lane of health.lanes) assert.ok(history.lanes[lane.lane].backlog.at(-1) >= lane.depth, `lane ${lane.lane}`)
  const before = await page.getByTestId('letters').textContent()
  assert.ok(before.includes(MARKUP))
  const count = await page.getByTestId('redrive').count()
  await page.getByTestId('redrive').first().click()
  await page.waitForFunction((n) => document.querySelectorAll('[data-testid=redrive]').length < n, count)
  const response = await fetch(`${url}api/letter`, { ...JSON_POST, body: JSON.stringify({ id: letterId }) })
  const letter = await response.json()
  assert.equal(letter.status, 'pending', 'redriven')
  const logged = await (await fetch(`${url}api/logs`, { ...JSON_POST, body: JSON.stringify({ text: 'console.action' }) })).json()
  assert.ok(logged.events.some((e) => e.metadata.operation === 'redrive_letter' && e.metadata.target === letterId && String(e.metadata.actor).startsWith('console@')), 'the action is logged with who')
  assert.equal(await page.evaluate(() => window.__xss), undefined)
  assert.deepEqual(failures, [])
})

test('the models, skills and routing views render, a breaker resets, and the route box decides', async () => {
  const { page, failures } = await open('#/models')
  await page.getByRole('heading', { name: 'Matrix' }).waitFor()
  assert.ok((await page.locator('tbody tr').count()) > 5)
  await page.screenshot({ path: join(shots, 'models.png'), fullPage: true })
  // The demo leaves one circuit open; a reset closes it and is logged.
  await page.getByTestId('reset-breaker').first().click()
  await page.getByText('Every circuit is closed.').waitFor()
  const logged = await (await fetch(`${url}api/logs`, { ...JSON_POST, body: JSON.stringify({ text: 'console.action' }) })).json()
  assert.ok(logged.events.some((e) => e.metadata.operation === 'reset_breaker'), 'the reset is logged')
  await page.goto(`${url}#/skills`)
  await page.getByTestId('library').locator('tbody tr').first().waitFor()
  const box = page.getByTestId('route-box')
  await box.locator('input[name=org_id]').fill(ORG)
  await box.locator('input[name=message]').fill('How do I prep for my Acme meeting?')
  await box.locator('button').click()
  await page.getByTestId('route-decision').locator('strong').waitFor()
  assert.equal(await page.getByTestId('route-decision').locator('strong').textContent(), 'meeting-prep')
  await page.screenshot({ path: join(shots, 'skills.png'), fullPage: true })
  // The demo's second version of deal-status, against its first.
  await page.goto(`${url}#/skill/deal-status`)
  await page.getByTestId('skill-diff').locator('pre').waitFor()
  assert.equal(await page.getByTestId('skill-diff').locator('h2').textContent(), 'v1 → v2')
  assert.ok((await page.getByTestId('skill-diff').locator('.insert').count()) > 0)
  await page.screenshot({ path: join(shots, 'skill-diff.png'), fullPage: true })
  await page.goto(`${url}#/routing`)
  await page.getByTestId('stage-shares').locator('.share').first().waitFor()
  // The list is a second request after the shares: count its rows once they are there.
  await page.getByTestId('decisions').locator('tbody tr').first().waitFor()
  const all = await page.getByTestId('decisions').locator('tbody tr').count()
  await page.selectOption('select[name=review]', 'oos')
  await page.click('form[data-testid=routing-filters] button')
  await page.waitForFunction(() => location.hash.includes('review=oos'))
  await page.getByTestId('decisions').locator('tbody tr, p').first().waitFor()
  const oos = await page.getByTestId('decisions').locator('tbody tr').count()
  assert.ok(oos < all, `${oos} of ${all}`)
  await page.screenshot({ path: join(shots, 'routing.png'), fullPage: true })
  assert.deepEqual(failures, [])
})

test('another site cannot call the API: JSON only, loopback host only', async () => {
  // A cross-site form or `fetch` without a preflight can only send text/plain.
  const plain = await fetch(`${url}api/redrive_letter`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ id: letterId }) })
  assert.equal(plain.status, 415)
  // A rebound DNS name reaches loopback with its own Host header.
  const http = await import('node:http')
  const status = await new Promise((resolve, reject) => {
    const request = http.request(`${url}api/about`, { method: 'POST', headers: { host: 'attacker.example:8741', 'content-type': 'application/json' } }, (res) => resolve(res.statusCode))
    request.on('error', reject)
    request.end('{}')
  })
  assert.equal(status, 403)
})

test('a console with a token refuses requests without it', async () => {
  const secured = await serve(['--token', 'sesame'])
  const bearer = { authorization: 'Bearer sesame', 'content-type': 'application/json' }
  assert.equal((await fetch(`${secured}api/about`, JSON_POST)).status, 401)
  assert.equal((await fetch(secured)).status, 401)
  assert.equal((await fetch(`${secured}login?token=wrong`)).status, 401)
  const ok = await fetch(`${secured}api/about`, { method: 'POST', headers: bearer })
  assert.equal(ok.status, 200)
  assert.equal((await ok.json()).allow_actions, false)
  const refused = await fetch(`${secured}api/redrive_letter`, { method: 'POST', headers: bearer, body: JSON.stringify({ id: letterId }) })
  assert.equal(refused.status, 403)
  assert.match(refused.headers.get('content-security-policy'), /script-src 'self'/)
  const page = await browser.newPage()
  await page.goto(`${secured}login?token=sesame`)
  await page.getByTestId('fleet-summary').waitFor()
  assert.match(await page.locator('#mode').textContent(), /read-only/)
})
