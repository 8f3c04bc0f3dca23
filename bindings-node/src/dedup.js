// Run once per environment by init.rs with (exports). See dedup.rs.
(function install(exports) {
  'use strict'
  // A `MinHash` is a JavaScript object over its signature's bytes (core's
  // `MinHash::to_bytes`), cut from a buffer shared with the signatures made before it: no
  // native object and no buffer of its own per signature (either costs more than hashing the
  // text). A signature kept keeps its buffer (16 KiB, about 30 signatures of 128 permutations)
  // alive; `toBytes()` copies one out.
  const { _minhashRead, _minhashValues, _minhashParams, _minhashJaccard, _minhashEquals } = exports
  const ARENA_BYTES = 16384
  let arena = new Uint8Array(ARENA_BYTES)
  let used = 0
  const sealed = Symbol('MinHash')
  let bytesOf

  // `write(arena, offset)` puts a signature's bytes at `offset` and returns their length, or
  // minus the length it needs when the rest of the buffer is shorter (then a new one is taken).
  const place = (write) => {
    let len = write(arena, used)
    if (len < 0) {
      arena = new Uint8Array(Math.max(ARENA_BYTES, -len))
      used = 0
      len = write(arena, 0)
    }
    const bytes = arena.subarray(used, used + len)
    used += len
    return new MinHash(bytes, sealed)
  }

  class MinHash {
    #bytes
    constructor(bytes, seal) {
      if (seal !== sealed) {
        const err = new TypeError('MinHash: make one with minhash(text), a MinHasher or MinHash.fromBytes(bytes)')
        throw Object.assign(err, { code: 'invalid_input' })
      }
      this.#bytes = bytes
    }
    static {
      // A signature's bytes, for the native calls; anything else is `invalid_input` on `field`.
      bytesOf = (value, field) => {
        if (value !== null && typeof value === 'object' && #bytes in value) return value.#bytes
        const got = value === null ? 'null' : typeof value
        const err = new TypeError(`${field}: expected a MinHash, got ${got}`)
        throw Object.assign(err, { code: 'invalid_input', field })
      }
    }
    /** The minimum per permutation (a copy). */
    get values() {
      return _minhashValues(this.#bytes)
    }
    /** The number of permutations. */
    get numPerm() {
      return _minhashParams(this.#bytes).numPerm
    }
    /** The seed of its permutations (a string: it may exceed 2^53). */
    get seed() {
      return _minhashParams(this.#bytes).seed
    }
    /** Its shingle width in words. */
    get shingleWords() {
      return _minhashParams(this.#bytes).shingleWords
    }
    /** The estimated Jaccard similarity with `other` (made with the same parameters). */
    jaccard(other) {
      return _minhashJaccard(this.#bytes, bytesOf(other, 'other'))
    }
    /** Whether `other` has the same parameters and values. */
    equals(other) {
      return _minhashEquals(this.#bytes, bytesOf(other, 'other'))
    }
    /** Its bytes: the format version, its parameters and its values. */
    toBytes() {
      return Buffer.from(this.#bytes)
    }
    /** A signature from `toBytes()`; another version is refused. */
    static fromBytes(bytes) {
      return place((into, offset) => _minhashRead(bytes, into, offset))
    }
  }
  exports.MinHash = MinHash

  const nativeMinhash = exports.minhash
  exports.minhash = function minhash(text, options) {
    return place((into, offset) => nativeMinhash(text, options, into, offset))
  }
  const method = (Class, name, value) =>
    Object.defineProperty(Class.prototype, name, { value, writable: true, configurable: true })
  const hasher = exports.MinHasher.prototype
  const nativeSignature = hasher.signature
  method(exports.MinHasher, 'signature', function signature(text) {
    return place((into, offset) => nativeSignature.call(this, text, into, offset))
  })
  const lsh = exports.MinHashLsh.prototype
  const native = { insert: lsh.insert, query: lsh.query, candidates: lsh.candidates }
  method(exports.MinHashLsh, 'insert', function insert(key, minhash) {
    return native.insert.call(this, key, bytesOf(minhash, 'minhash'))
  })
  method(exports.MinHashLsh, 'query', function query(minhash) {
    return native.query.call(this, bytesOf(minhash, 'minhash'))
  })
  method(exports.MinHashLsh, 'candidates', function candidates(minhash) {
    return native.candidates.call(this, bytesOf(minhash, 'minhash'))
  })
})
