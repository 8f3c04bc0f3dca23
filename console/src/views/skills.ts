// Skills: the library by namespace with each skill's versions, an org's resolved view per
// channel with what it shadowed, and a box that routes a message and shows the decision.

import { ApiError, call, type Meta } from '../api'
import { badge, field, formValues, h, input, select, table } from '../dom'

interface Summary { namespace: string; key: string; version: number; versions: number; content_hash: string; deprecated: boolean }
interface Version { version: number; namespace: string; content_hash: string; created_at: string; is_current: boolean; deprecated_at: string | null }
interface Line { op: 'equal' | 'delete' | 'insert'; text: string }
interface Diff { key: string; from: number; to: number; hunks: Line[][] }
interface Candidate { skill_key: string; score: number; confidence: number; evidence: unknown[] }

const CHANNELS: [string, string][] = [['web', 'web'], ['slack', 'slack'], ['fleet', 'fleet'], ['command_centre', 'command_centre']]

/** The library, the org view form and the route box. */
export async function skillsView(root: HTMLElement, params: URLSearchParams, meta: Meta): Promise<void> {
  const skills = await call<Summary[]>('skills')
  const org = params.get('org_id') ?? ''
  const channel = params.get('channel') ?? 'web'
  const viewForm = h('form', { class: 'filters', 'data-testid': 'org-view' },
    field('org', input('org_id', org, 'org id')),
    field('channel', select('channel', CHANNELS, channel)),
    h('button', { type: 'submit' }, 'Resolve'),
  ) as HTMLFormElement
  viewForm.addEventListener('submit', (e) => {
    e.preventDefault()
    location.hash = `#/skills?${new URLSearchParams(formValues(viewForm))}`
  })
  const routeForm = h('form', { class: 'filters', 'data-testid': 'route-box' },
    field('org', input('org_id', org, 'org id')),
    field('channel', select('channel', CHANNELS, channel)),
    field('message', input('message', '', 'How do I prep for my Acme meeting?')),
    h('button', { type: 'submit' }, 'Route'),
  ) as HTMLFormElement
  const decision = h('div', { 'data-testid': 'route-decision' })
  routeForm.addEventListener('submit', async (e) => {
    e.preventDefault()
    try {
      const d = await call<Record<string, any>>('route', formValues(routeForm))
      decision.replaceChildren(
        h('p', {}, 'Route ', h('strong', {}, String(d.route)), ` (${d.matched_by}, stage ${d.stage}, confidence ${Number(d.confidence).toFixed(2)})`, d.out_of_scope ? ' — out of scope' : ''),
        table<Candidate>([
          ['skill', (c) => c.skill_key],
          ['score', (c) => c.score.toFixed(3)],
          ['confidence', (c) => c.confidence.toFixed(3)],
          ['evidence', (c) => JSON.stringify(c.evidence)],
        ], d.candidates ?? [], 'No candidate.'),
      )
    } catch (err) {
      decision.replaceChildren(h('p', { class: 'error' }, err instanceof ApiError ? `${err.code} (${err.field ?? ''}): ${err.message}` : String(err)))
    }
  })
  const library = table<Summary>(
    [
      ['namespace', (s) => s.namespace],
      ['skill', (s) => h('a', { href: `#/skill/${encodeURIComponent(s.key)}` }, s.key)],
      ['version', (s) => `v${s.version}`],
      ['versions', (s) => String(s.versions)],
      ['hash', (s) => s.content_hash.slice(0, 12)],
      ['', (s) => (s.deprecated ? badge('deprecated') : '')],
    ],
    skills,
    'No skill is stored: `keel skills sync <folder>` adds a library.',
  )
  const view = h('div', { 'data-testid': 'org-skills' })
  root.replaceChildren(h('h1', {}, 'Skills'), h('h2', {}, 'Route a message'), routeForm, decision, h('h2', {}, 'An org’s view'), viewForm, view, h('h2', {}, 'Library'), h('div', { 'data-testid': 'library' }, library))
  if (org) {
    try {
      const resolved = await call<{ skills: { key: string; namespace: string; version: number | null }[]; shadowed: { key: string; reason: string; detail: string }[] }>('skill_view', { org_id: org, channel })
      view.replaceChildren(
        table([['skill', (s: any) => s.key], ['namespace', (s: any) => s.namespace], ['version', (s: any) => (s.version === null ? 'org' : `v${s.version}`)]], resolved.skills),
        h('h3', {}, 'Shadowed'),
        table([['skill', (s: any) => s.key], ['reason', (s: any) => s.reason], ['detail', (s: any) => s.detail]], resolved.shadowed, 'Nothing shadowed.'),
      )
    } catch (err) {
      view.replaceChildren(h('p', { class: 'error' }, String(err instanceof ApiError ? err.message : err)))
    }
  }
  void meta
}

/** One skill's versions, and the diff between two of them. */
export async function skillView(root: HTMLElement, key: string, meta: Meta): Promise<void> {
  const versions = await call<Version[]>('skill_history', { key })
  const act = async (op: string): Promise<void> => {
    await call(op, { key, reason: op === 'deprecate_skill' ? 'deprecated from the console' : undefined })
    await skillView(root, key, meta)
  }
  const actions = meta.allow_actions
    ? h('p', {}, h('button', { onclick: () => void act('deprecate_skill') }, 'Deprecate current'), ' ', h('button', { onclick: () => void act('restore_skill') }, 'Restore'))
    : h('p', { class: 'muted' }, 'Read-only: `keel serve --allow-actions` to deprecate or restore.')
  const diffBox = h('div', { 'data-testid': 'skill-diff' })
  const showDiff = async (from: number, to: number): Promise<void> => {
    const diff = await call<Diff>('skill_diff', { key, from, to })
    const sign = { equal: ' ', delete: '-', insert: '+' }
    diffBox.replaceChildren(
      h('h2', {}, `v${diff.from} → v${diff.to}`),
      diff.hunks.length === 0
        ? h('p', { class: 'empty' }, 'The two versions are the same.')
        : h('pre', { class: 'diff' }, ...diff.hunks.flatMap((hunk, i) => [
          i > 0 ? h('span', { class: 'gap' }, '⋯') : null,
          ...hunk.map((line) => h('span', { class: line.op }, `${sign[line.op]} ${line.text}`)),
        ])),
    )
  }
  root.replaceChildren(
    h('h1', {}, 'Skill ', h('code', {}, key)),
    actions,
    table<Version>(
      [
        ['version', (v) => `v${v.version}`],
        ['namespace', (v) => v.namespace],
        ['hash', (v) => v.content_hash.slice(0, 12)],
        ['created', (v) => v.created_at],
        ['', (v) => (v.is_current ? badge('current') : '')],
        ['deprecated', (v) => v.deprecated_at ?? ''],
        ['', (v) => (v.version > 1 ? h('button', { onclick: () => void showDiff(v.version - 1, v.version) }, `diff from v${v.version - 1}`) : '')],
      ],
      versions,
    ),
    diffBox,
  )
  const latest = Math.max(...versions.map((v) => v.version))
  if (latest > 1) await showDiff(latest - 1, latest)
}
