// SHA-256 and HMAC-SHA256 in plain JavaScript. The page needs them where Web Crypto is
// missing (it exists only on HTTPS and localhost) and the proof-of-work worker needs a
// hash it can resume: the challenge's full blocks are hashed once, then each nonce costs
// only the last block or two.

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);
const INITIAL = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
const W = new Uint32Array(64);

function compress(h, block, at) {
  for (let i = 0; i < 16; i++) {
    const j = at + i * 4;
    W[i] = (block[j] << 24) | (block[j + 1] << 16) | (block[j + 2] << 8) | block[j + 3];
  }
  for (let i = 16; i < 64; i++) {
    const a = W[i - 15], b = W[i - 2];
    const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
    const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
    W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
  }
  let [a, b, c, d, e, f, g, hh] = h;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (hh + s1 + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    hh = g; g = f; f = e; e = (d + t1) | 0;
    d = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
  h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + hh) | 0;
}

/** An incremental SHA-256: update() with bytes, clone() to branch, digest() to finish. */
export class Sha256 {
  constructor() {
    this.h = INITIAL.slice();
    this.buffer = new Uint8Array(64);
    this.buffered = 0;
    this.length = 0;
  }

  clone() {
    const copy = new Sha256();
    copy.h = this.h.slice();
    copy.buffer.set(this.buffer);
    copy.buffered = this.buffered;
    copy.length = this.length;
    return copy;
  }

  update(bytes) {
    this.length += bytes.length;
    let i = 0;
    if (this.buffered > 0) {
      const take = Math.min(64 - this.buffered, bytes.length);
      this.buffer.set(bytes.subarray(0, take), this.buffered);
      this.buffered += take;
      i = take;
      if (this.buffered < 64) return this;
      compress(this.h, this.buffer, 0);
      this.buffered = 0;
    }
    for (; i + 64 <= bytes.length; i += 64) compress(this.h, bytes, i);
    this.buffer.set(bytes.subarray(i), 0);
    this.buffered = bytes.length - i;
    return this;
  }

  digest() {
    const bits = this.length * 8;
    const tail = new Uint8Array(this.buffered < 56 ? 64 : 128);
    tail.set(this.buffer.subarray(0, this.buffered));
    tail[this.buffered] = 0x80;
    const view = new DataView(tail.buffer);
    view.setUint32(tail.length - 8, Math.floor(bits / 0x100000000));
    view.setUint32(tail.length - 4, bits >>> 0);
    const h = this.h.slice();
    for (let at = 0; at < tail.length; at += 64) compress(h, tail, at);
    const out = new Uint8Array(32);
    const outView = new DataView(out.buffer);
    h.forEach((word, i) => outView.setUint32(i * 4, word >>> 0));
    return out;
  }
}

const encoder = new TextEncoder();

export const utf8 = (text) => encoder.encode(text);

export const sha256 = (bytes) => new Sha256().update(bytes).digest();

export const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");

export function fromHex(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** HMAC-SHA256 (RFC 2104), as the fair draw orders the pre-queue. */
export function hmacSha256(key, message) {
  const block = new Uint8Array(64);
  block.set(key.length > 64 ? sha256(key) : key);
  const pad = (byte) => block.map((b) => b ^ byte);
  const inner = new Sha256().update(pad(0x36)).update(message).digest();
  return new Sha256().update(pad(0x5c)).update(inner).digest();
}

/**
 * Hashes `prefix + nonce` for decimal nonces without allocating: the prefix's full blocks
 * are hashed once (the midstate), and each try writes only the nonce's digits and the
 * padding into a reused tail. `zeroBits(n)` is how many leading zero bits the hash has.
 */
export class NonceSearch {
  constructor(prefix) {
    const full = prefix.length - (prefix.length % 64);
    this.mid = new Sha256().update(prefix.subarray(0, full)).h;
    this.rest = prefix.subarray(full);
    this.prefixLength = prefix.length;
    this.tail = new Uint8Array(128);
    this.h = new Int32Array(8);
  }

  zeroBits(nonce) {
    const digits = String(nonce);
    const { tail, rest } = this;
    tail.fill(0);
    tail.set(rest);
    for (let i = 0; i < digits.length; i++) tail[rest.length + i] = digits.charCodeAt(i);
    const used = rest.length + digits.length;
    tail[used] = 0x80;
    const blocks = used < 56 ? 1 : 2;
    const bits = (this.prefixLength + digits.length) * 8;
    const end = blocks * 64;
    tail[end - 4] = bits >>> 24; tail[end - 3] = bits >>> 16; tail[end - 2] = bits >>> 8; tail[end - 1] = bits;
    tail[end - 5] = Math.floor(bits / 0x100000000);
    const h = this.h;
    h.set(this.mid);
    compress(h, tail, 0);
    if (blocks === 2) compress(h, tail, 64);
    let zeros = 0;
    for (let i = 0; i < 8; i++) {
      if (h[i] === 0) { zeros += 32; continue; }
      return zeros + Math.clz32(h[i]);
    }
    return zeros;
  }
}

/** How many leading zero bits a digest has (proof of work counts them). */
export function leadingZeroBits(digest) {
  let bits = 0;
  for (const byte of digest) {
    if (byte === 0) { bits += 8; continue; }
    return bits + Math.clz32(byte) - 24;
  }
  return bits;
}
