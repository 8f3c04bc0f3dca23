// Run once per environment by init.rs with (exports, errorCodes). See init.rs.
(function install(exports, codes) {
  'use strict'
  const isKeelError = exports.isKeelError

  // `err instanceof KeelError` for every error Keel makes: an Error (a TypeError for
  // invalid_input) whose `code` is one of core's codes.
  class KeelError extends Error {
    static [Symbol.hasInstance](value) {
      return isKeelError(value)
    }
  }
  Object.defineProperty(KeelError, 'codes', { value: Object.freeze([...codes]) })
  exports.KeelError = KeelError

  // A Promise a call returns rejects with the stack of the call that made it, below the
  // error's own (which, made on the event loop, has no frames of the caller's).
  const traced = (native, onSync) => {
    const wrapper = function (...args) {
      const result = native.apply(this, args)
      if (!(result instanceof Promise)) {
        if (onSync) onSync()
        return result
      }
      const site = {}
      Error.captureStackTrace(site, wrapper)
      return result.catch((err) => {
        if (err instanceof Error && typeof site.stack === 'string') {
          const frames = site.stack.slice(site.stack.indexOf('\n'))
          err.stack = `${err.stack}\n    at async ${native.name} (@keel/core)${frames}`
        }
        throw err
      })
    }
    Object.defineProperty(wrapper, 'name', { value: native.name })
    return wrapper
  }
  for (const name of Object.keys(exports)) {
    const value = exports[name]
    if (typeof value !== 'function' || name === 'isKeelError' || name.startsWith('_')) continue
    if (/^[A-Z]/.test(name)) {
      const proto = value.prototype
      if (!proto) continue
      for (const key of Object.getOwnPropertyNames(proto)) {
        const descriptor = Object.getOwnPropertyDescriptor(proto, key)
        if (key === 'constructor' || typeof descriptor.value !== 'function') continue
        // A method that answers synchronously goes back to the native function after its
        // first answer, so it pays nothing for this.
        const restore = () => Object.defineProperty(proto, key, descriptor)
        Object.defineProperty(proto, key, { ...descriptor, value: traced(descriptor.value, restore) })
      }
    } else {
      exports[name] = traced(value, null)
    }
  }

  // `await using db = await connect()` closes the handle; a logger flushes.
  const asyncDispose = Symbol.asyncDispose ?? Symbol.for('nodejs.asyncDispose')
  Object.defineProperty(exports.Keel.prototype, asyncDispose, {
    value: function () {
      return this.close()
    },
  })
  Object.defineProperty(exports.Logger.prototype, asyncDispose, {
    value: async function () {
      await this.flush()
    },
  })
})
