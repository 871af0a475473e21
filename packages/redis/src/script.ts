import { createHash } from 'node:crypto';

/**
 * The Lua script the sender runs per message (exported so an operator can read or pre-load it).
 * XADD a message unless its dedupe key says it was added before, atomically (a script runs
 * with nothing interleaved, so a check-then-add cannot race another relay sending the same id).
 *
 * KEYS[1] the stream, KEYS[2] the dedupe key.
 * ARGV[1] dedupe TTL in ms, ARGV[2] approximate MAXLEN (0: no trimming), ARGV[3..] field/value pairs.
 * Returns `{1, entryId}` when added, `{0, entryId}` (the entry added before) when a duplicate.
 *
 * @example
 * ```ts
 * await redis.script('LOAD', XADD_ONCE_LUA); // the sender also does this itself on NOSCRIPT
 * ```
 */
export const XADD_ONCE_LUA = `local existing = redis.call('GET', KEYS[2])
if existing then return {0, existing} end
local id
if ARGV[2] ~= '0' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
else
  id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
end
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return {1, id}`;

/** The SHA1 EVALSHA calls the script by; Redis computes the same one on SCRIPT LOAD. */
export const XADD_ONCE_SHA = createHash('sha1').update(XADD_ONCE_LUA).digest('hex');
