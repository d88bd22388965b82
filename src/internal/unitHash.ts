/**
 * The one hash behind every deterministic spread in Steadfast: the jitter of
 * a due time (`Trigger.dueAt`) and the values of `H` in cron expressions.
 * Shared by both, so it lives apart from either (no import circle).
 *
 * @internal
 */

const encoder = new TextEncoder()

/**
 * A number in [0, 1) from FNV-1a over the UTF-8 bytes of `key`, finished with
 * murmur3's fmix32 so that keys differing in their last digits spread out.
 *
 * @internal
 */
export const unitHash = (key: string): number => {
  let hash = 0x811c9dc5
  for (const byte of encoder.encode(key)) {
    hash = Math.imul(hash ^ byte, 0x01000193)
  }
  hash = Math.imul(hash ^ (hash >>> 16), 0x85ebca6b)
  hash = Math.imul(hash ^ (hash >>> 13), 0xc2b2ae35)
  hash ^= hash >>> 16
  return (hash >>> 0) / 4_294_967_296
}
