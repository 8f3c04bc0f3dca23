// Models: the matrix, the breakers that are not closed with their cooldowns, credits per org
// and an org's ledger.

import { ApiError, call, type Meta } from '../api'
import { badge, h, num, table, traceLink } from '../dom'

interface Row { scope: string; feature: string; tier: string; role: string; provider: string; model_id: string; per_request: number }
interface Breaker { provider: string; model_id: string; state: string; reopen_count: number; open_until_ms: number | null; recent_failures: number }
interface Balance { org_id: string; balance_credits: number; grace_threshold_credits: number; updated_at: string }
interface Entry { id: string; created_at: string; kind: string; amount: number; balance_after: number; description: string | null; model_id: string | null; trace_id: string | null }

/** The model matrix, breakers (reset when actions are allowed) and credits. */
export async function modelsView(root: HTMLElement, meta: Meta): Promise<void> {
  const reset = async (b: Breaker): Promise<void> => {
    try {
      await call('reset_breaker', { provider: b.provider, model_id: b.model_id })
      await modelsView(root, meta)
    } catch (err) {
      alert(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err))
    }
  }
  const [matrix, breakers, credits] = await Promise.all([
    call<Row[]>('models'),
    call<Breaker[]>('breakers'),
    call<{ balances: Balance[] }>('credits'),
  ])
  root.replaceChildren(
    h('h1', {}, 'Models'),
    h('h2', {}, 'Breakers'),
    table<Breaker>(
      [
        ['provider', (b) => b.provider],
        ['model', (b) => b.model_id],
        ['state', (b) => badge(b.state)],
        ['reopened', (b) => num(b.reopen_count)],
        ['cooldown until', (b) => (b.open_until_ms ? new Date(b.open_until_ms).toISOString() : '—')],
        ['', (b) => (meta.allow_actions ? h('button', { 'data-testid': 'reset-breaker', onclick: () => void reset(b) }, 'Reset') : '')],
      ],
      breakers,
      'Every circuit is closed.',
    ),
    h('h2', {}, 'Credits'),
    table<Balance>(
      [
        ['org', (b) => h('a', { href: `#/ledger/${b.org_id}` }, b.org_id)],
        ['balance', (b) => num(b.balance_credits, 2)],
        ['grace', (b) => num(b.grace_threshold_credits, 2)],
        ['updated', (b) => b.updated_at],
      ],
      credits.balances,
      'No org holds credits.',
    ),
    h('h2', {}, 'Matrix'),
    table<Row>(
      [
        ['scope', (r) => r.scope],
        ['feature', (r) => r.feature],
        ['tier', (r) => r.tier],
        ['role', (r) => r.role],
        ['provider', (r) => r.provider],
        ['model', (r) => r.model_id],
        ['credits', (r) => num(r.per_request, 2)],
      ],
      matrix,
    ),
  )
}

/** An org's ledger, newest first, paged on the server. */
export async function ledgerView(root: HTMLElement, org: string): Promise<void> {
  const list = h('div', {})
  root.replaceChildren(h('h1', {}, 'Ledger of ', h('code', {}, org)), list)
  const page = async (before?: string): Promise<void> => {
    const { entries, next } = await call<{ entries: Entry[]; next: string | null }>('ledger', { org_id: org, before })
    list.append(
      table<Entry>(
        [
          ['time', (e) => e.created_at],
          ['kind', (e) => e.kind],
          ['amount', (e) => num(e.amount, 4)],
          ['balance after', (e) => num(e.balance_after, 4)],
          ['model', (e) => e.model_id ?? ''],
          ['description', (e) => e.description ?? ''],
          ['trace', (e) => traceLink(e.trace_id)],
        ],
        entries,
      ),
    )
    if (next) {
      const more = h('button', { class: 'more', onclick: () => { more.remove(); void page(next) } }, 'Load more')
      list.append(more)
    }
  }
  await page()
}
