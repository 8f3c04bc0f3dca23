// The queue and the dead letters: depth per lane now and its backlog over a past window (from
// the items themselves), letters with their error history, and redrive or abandon when actions
// are allowed.

import { ApiError, call, type Meta } from '../api'
import { badge, field, formValues, h, num, select, table, traceLink } from '../dom'
import { lineChart } from './chart'

interface Lane { lane: number; depth: number; delayed: number; oldest_wait_ms: number }
interface Health {
  lanes: Lane[]
  depth: number
  in_flight: number
  oldest_wait_ms: number
  claimed_last_minute: number
  completed_last_minute: number
  failed_last_minute: number
  mode: string
}
interface History { times: string[]; step_ms: number; lanes: { lane: number; backlog: number[] }[] }
interface Failed { at?: string; error?: string; kind?: string; [k: string]: unknown }
interface Letter {
  id: string
  agent_name: string
  status: string
  failure_reason: string
  errors: Failed[]
  retry_count: number
  max_retries: number
  trace_id: string | null
  created_at: string
  abandoned_reason: string | null
}

let timer: ReturnType<typeof setInterval> | undefined

/** Stops refreshing the queue's health (when another view opens). */
export function stopQueue(): void {
  if (timer) clearInterval(timer)
  timer = undefined
}

/** The queue's health and the dead letters. */
export async function queueView(root: HTMLElement, params: URLSearchParams, meta: Meta): Promise<void> {
  stopQueue()
  const healthBox = h('section', { 'data-testid': 'queue-health' })
  const refresh = async (): Promise<void> => {
    const health = await call<Health>('queue')
    healthBox.replaceChildren(
      h('p', {}, badge(health.mode), ` depth ${num(health.depth)}, in flight ${num(health.in_flight)}, oldest wait ${num(health.oldest_wait_ms / 1000, 1)} s; last minute: ${health.claimed_last_minute} claimed, ${health.completed_last_minute} completed, ${health.failed_last_minute} failed`),
      table<Lane>(
        [['lane', (l) => `P${l.lane}`], ['depth', (l) => num(l.depth)], ['delayed', (l) => num(l.delayed)], ['oldest wait', (l) => `${num(l.oldest_wait_ms / 1000, 1)} s`]],
        health.lanes,
      ),
    )
  }
  const hours = params.get('hours') ?? '24'
  const status = params.get('status') ?? ''
  const [history, letters] = await Promise.all([
    call<History>('queue_history', { hours: Number(hours) }),
    call<Letter[]>('letters', { status: status ? [status] : [], limit: 200 }),
  ])
  const historyBox = h(
    'section',
    { 'data-testid': 'queue-history' },
    h('h2', {}, 'Backlog per lane'),
    lineChart(history.times.map((t) => Date.parse(t) / 1000), history.lanes.map((l) => [`P${l.lane}`, l.backlog] as [string, number[]])),
  )
  const form = h(
    'form',
    { class: 'filters' },
    field('backlog over', select('hours', [['1', '1 hour'], ['6', '6 hours'], ['24', '24 hours'], ['168', '7 days']], hours)),
    field('status', select('status', [['', 'any'], ['pending', 'pending'], ['abandoned', 'abandoned'], ['resolved', 'resolved'], ['retrying', 'retrying']], status)),
    h('button', { type: 'submit' }, 'Filter'),
  ) as HTMLFormElement
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    location.hash = `#/queue?${new URLSearchParams(formValues(form))}`
  })
  const act = async (op: string, letter: Letter): Promise<void> => {
    const args: Record<string, string> = { id: letter.id }
    if (op === 'abandon_letter') args.reason = prompt('Why abandon it?') ?? ''
    try {
      await call(op, args)
      await queueView(root, params, meta)
    } catch (err) {
      alert(err instanceof ApiError ? `${err.code}: ${err.message}` : String(err))
    }
  }
  const lettersTable = table<Letter>(
    [
      ['created', (l) => l.created_at],
      ['agent', (l) => l.agent_name],
      ['status', (l) => h('span', { 'data-testid': 'letter-status' }, badge(l.status))],
      ['retries', (l) => `${l.retry_count}/${l.max_retries}`],
      ['reason', (l) => l.failure_reason],
      ['errors', (l) => h('details', {}, h('summary', {}, `${l.errors.length}`), h('ol', {}, ...l.errors.map((e) => h('li', {}, JSON.stringify(e)))))],
      ['trace', (l) => traceLink(l.trace_id)],
      ['', (l) => (meta.allow_actions ? h('span', {},
        l.status === 'abandoned' ? h('button', { onclick: () => void act('redrive_letter', l), 'data-testid': 'redrive' }, 'Redrive') : null,
        l.status === 'pending' || l.status === 'retrying' ? h('button', { onclick: () => void act('abandon_letter', l) }, 'Abandon') : null,
      ) : '')],
    ],
    letters,
    'No dead letter.',
  )
  root.replaceChildren(h('h1', {}, 'Queue'), form, healthBox, historyBox, h('h2', {}, 'Dead letters'), h('div', { 'data-testid': 'letters' }, lettersTable))
  await refresh()
  timer = setInterval(() => void refresh().catch(() => undefined), 5_000)
}
