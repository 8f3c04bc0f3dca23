// Building the page: every piece of data becomes a text node, never markup, so a skill name
// or a log message holding `<script>` is shown as text and never runs.

type Child = Node | string | number | null | undefined | false
type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined>

/** An element with attributes (`on…` keys are listeners) and children (strings as text). */
export function h(tag: string, attrs: Attrs = {}, ...children: Child[]): HTMLElement {
  const el = document.createElement(tag)
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue
    if (typeof value === 'function') el.addEventListener(key.slice(2), value)
    else if (key === 'class') el.className = String(value)
    else el.setAttribute(key, value === true ? '' : String(value))
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue
    el.append(typeof child === 'object' ? child : document.createTextNode(String(child)))
  }
  return el
}

/** A table of `rows` with a header per column; each cell is made by its column's function. */
export function table<T>(columns: [string, (row: T) => Child][], rows: T[], empty = 'Nothing here yet.'): HTMLElement {
  if (rows.length === 0) return h('p', { class: 'empty' }, empty)
  return h(
    'table',
    {},
    h('thead', {}, h('tr', {}, ...columns.map(([name]) => h('th', {}, name)))),
    h('tbody', {}, ...rows.map((row) => h('tr', {}, ...columns.map(([, cell]) => h('td', {}, cell(row)))))),
  )
}

/** A link to a trace (a trace id anywhere opens it). */
export function traceLink(id: string | null | undefined): Child {
  if (!id) return '—'
  return h('a', { href: `#/trace/${encodeURIComponent(id)}`, class: 'trace' }, id.slice(0, 8))
}

/** A labelled form field. */
export function field(label: string, input: HTMLElement): HTMLElement {
  return h('label', {}, h('span', {}, label), input)
}

/** A text input. */
export function input(name: string, value = '', placeholder = ''): HTMLInputElement {
  return h('input', { name, value, placeholder }) as HTMLInputElement
}

/** A select over `options` (value, label). */
export function select(name: string, options: [string, string][], value = ''): HTMLSelectElement {
  const el = h('select', { name }, ...options.map(([v, label]) => h('option', { value: v }, label))) as HTMLSelectElement
  el.value = value
  return el
}

/** The values of a form's named fields that are not empty. */
export function formValues(form: HTMLFormElement): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of new FormData(form).entries()) {
    if (typeof value === 'string' && value.trim() !== '') out[key] = value.trim()
  }
  return out
}

/** A number for a person. */
export function num(value: unknown, digits = 0): string {
  return typeof value === 'number' ? value.toLocaleString('en', { maximumFractionDigits: digits }) : '—'
}

/** A badge for a status. */
export function badge(status: unknown): HTMLElement {
  const text = String(status ?? '—')
  return h('span', { class: `badge ${text.replace(/[^a-z_]/g, '')}` }, text)
}
