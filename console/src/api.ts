// The console's one way to the server: `POST /api/<op>` with the arguments as JSON, the
// answer as JSON, or a typed error carrying core's code and field.

/** A failed call: core's error code, message and field. */
export class ApiError extends Error {
  constructor(readonly status: number, readonly code: string, message: string, readonly field?: string) {
    super(message)
  }
}

/** Runs the console call `op` on `args`. */
export async function call<T = any>(op: string, args: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(`/api/${op}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(args),
    credentials: 'same-origin',
  })
  const body = await response.json().catch(() => ({}))
  if (!response.ok) {
    const error = body?.error ?? {}
    throw new ApiError(response.status, error.code ?? 'http', error.message ?? response.statusText, error.field)
  }
  return body as T
}

/** What the server says about itself: whether actions are allowed, Keel's version. */
export interface Meta {
  allow_actions: boolean
  version: string
  database: string
}
