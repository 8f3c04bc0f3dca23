// The queue and the dead letters: depth per lane (charted over the time the view is open),
// letters with their error history, and redrive or abandon when actions are allowed.

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

/** Depth samples taken while the view was open: (epoch seconds, depth per lane). */
const samples: [number, number[]][] = []
let timer: ReturnType<typeof setInterval> | undefined

/** Stops sampling the queue (when another view opens). */
export function stopQueue(): void {
  if (timer) clearInterval(timer)
  timer = undefined
}

/** The queue's health and the dead letters. */
export async function queueView(root: HTMLElement, params: URLSearchParams, meta: Meta): Promise<void> {
  stopQueue()
  const healthBox = h('section', { 'data-testid': 'queue-health' })
  const sample = async (): Promise<void> => {
    const health = await call<Health>('queue')
    samples.push([Date.now() / 1000, [0, 1, 2, 3].map((l) => health.lanes.find((x) => x.lane === l)?.depth ?? 0)])
    if (samples.length > 360) samples.shift()
    healthBox.replaceChildren(
      h('p', {}, badge(health.mode), ` depth ${num(health.depth)}, in flight ${num(health.in_flight)}, oldest wait ${num(health.oldest_wait_ms / 1000, 1)} s; last minute: ${health.claimed_last_minute} claimed, ${health.completed_last_minute} completed, ${health.failed_last_minute} failed`),
      table<Lane>(
        [['lane', (l) => `P${l.lane}`], ['depth', (l) => num(l.depth)], ['delayed', (l) => num(l.delayed)], ['oldest wait', (l) => `${num(l.oldest_wait_ms / 1000, 1)} s`]],
        health.lanes,
      ),
      samples.length > 1
        ? lineChart(samples.map((s) => s[0]), [0, 1, 2, 3].map((l) => [`P${l}`, samples.map((s) => s[1][l])] as [string, number[]]))
        : h('p', { class: 'empty' }, 'Depth over time fills in while this page is open.'),
    )
  }
  const status = params.get('status') ?? ''
  const form = h(
    'form',
    { class: 'filters' },
    field('status', select('status', [['', 'any'], ['pending', 'pending'], ['abandoned', 'abandoned'], ['resolved', 'resolved'], ['retrying', 'retrying']], status)),
    h('button', { type: 'submit' }, 'Filter'),
  ) as HTMLFormElement
  form.addEventListener('submit', (e) => {
    e.preventDefault()
    location.hash = `#/queue?${new URLSearchParams(formValues(form))}`
  })
  const letters = await call<Letter[]>('letters', { status: status ? [status] : [], limit: 200 })
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
  root.replaceChildren(h('h1', {}, 'Queue'), healthBox, h('h2', {}, 'Dead letters'), form, h('div', { 'data-testid': 'letters' }, lettersTable))
  await sample()
  timer = setInterval(() => void sample().catch(() => undefined), 5_000)
}
