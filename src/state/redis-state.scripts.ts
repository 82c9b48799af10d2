import { createHash } from 'node:crypto';
import type Redis from 'ioredis';

/**
 * The Lua scripts behind RedisStateStore. Each check-then-change runs as one script so that no other client
 * can act between the check and the change. Times come from the Redis server's clock, so that gateways with
 * skewed clocks agree on when a session expires.
 *
 * Numbers above 1e14 are formatted with '%.0f' before they are passed to redis.call: Lua would otherwise
 * write them in exponent notation, which Redis does not read as an integer.
 */
const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function fmt(n)
  return string.format('%.0f', n)
end
`;

/**
 * KEYS: lock, fencing counter, state marker, sessions (zset), the session's locks (set).
 * ARGV: token, ttl ms, session id or '', lock name.
 * Returns {1, fencing token, session ms left or -1} when granted (also when this token already holds it: a
 * retried try), {0, lock ms left} when held, {-1} when the session is unknown or expired, {-2} when the
 * state marker is missing (Redis lost its data, or this prefix is new).
 */
export const ACQUIRE_LUA = `${PRELUDE}
if redis.call('EXISTS', KEYS[3]) == 0 then
  return {-2}
end
local holder = redis.call('HMGET', KEYS[1], 'token', 'fence')
if holder[1] and holder[1] ~= ARGV[1] then
  return {0, redis.call('PTTL', KEYS[1])}
end
local remaining = -1
if ARGV[3] ~= '' then
  local score = redis.call('ZSCORE', KEYS[4], ARGV[3])
  if not score then
    return {-1}
  end
  remaining = tonumber(score) - now_ms()
  if remaining <= 0 then
    return {-1}
  end
end
if holder[1] then
  return {1, tonumber(holder[2]), remaining}
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  -- Seeded from the clock, so that tokens granted after Redis lost its data still exceed earlier ones.
  redis.call('SET', KEYS[2], fmt(now_ms() * 1000))
end
local fence = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'token', ARGV[1], 'fence', fmt(fence), 'session', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('SADD', KEYS[5], ARGV[4])
end
return {1, fence, remaining}
`;

/**
 * KEYS: lock, sessions (zset). ARGV: token, ttl ms.
 * Returns {1, session ms left or -1} when renewed, {0} when not held by this token or its session expired.
 */
export const RENEW_LUA = `${PRELUDE}
local holder = redis.call('HMGET', KEYS[1], 'token', 'session')
if holder[1] ~= ARGV[1] then
  return {0}
end
local remaining = -1
if holder[2] and holder[2] ~= '' then
  local score = redis.call('ZSCORE', KEYS[2], holder[2])
  if not score then
    return {0}
  end
  remaining = tonumber(score) - now_ms()
  if remaining <= 0 then
    return {0}
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return {1, remaining}
`;

/** KEYS: lock. ARGV: token, session-locks key prefix, lock name. Returns 1 when released, 0 otherwise. */
export const RELEASE_LUA = `
local holder = redis.call('HMGET', KEYS[1], 'token', 'session')
if holder[1] ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
if holder[2] and holder[2] ~= '' then
  redis.call('SREM', ARGV[2] .. holder[2], ARGV[3])
end
return 1
`;

/** KEYS: session, sessions (zset). ARGV: id, info JSON, ttl ms. */
export const SESSION_REGISTER_LUA = `${PRELUDE}
local now = now_ms()
local expires = now + tonumber(ARGV[3])
redis.call('HSET', KEYS[1], 'info', ARGV[2], 'ttlMs', ARGV[3], 'registeredAt', fmt(now), 'heartbeatAt', fmt(now),
  'expiresAt', fmt(expires))
redis.call('ZADD', KEYS[2], fmt(expires), ARGV[1])
return 1
`;

/**
 * KEYS: session, sessions (zset), the session's locks (set). ARGV: id, lock key prefix.
 * Returns 1 when extended, 0 when the session is unknown or expired. Forgets locks the session no longer
 * holds, so the set of a long-lived session stays short.
 */
export const SESSION_HEARTBEAT_LUA = `${PRELUDE}
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score then
  return 0
end
local now = now_ms()
local ttl = tonumber(redis.call('HGET', KEYS[1], 'ttlMs'))
if tonumber(score) <= now or not ttl then
  return 0
end
local expires = now + ttl
redis.call('HSET', KEYS[1], 'heartbeatAt', fmt(now), 'expiresAt', fmt(expires))
redis.call('ZADD', KEYS[2], fmt(expires), ARGV[1])
for _, name in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  if redis.call('HGET', ARGV[2] .. name, 'session') ~= ARGV[1] then
    redis.call('SREM', KEYS[3], name)
  end
end
return 1
`;

/**
 * Removes sessions and releases the locks they still hold.
 * KEYS: sessions (zset). ARGV: key prefix, 'expired' or 'one', (for 'expired') now in ms or '' for the
 * server's clock / (for 'one') the session id, batch size.
 * Returns {id, info JSON or '', {released lock names}} per removed session.
 */
export const SESSION_REAP_LUA = `${PRELUDE}
local p = ARGV[1]
local ids
if ARGV[2] == 'one' then
  if not redis.call('ZSCORE', KEYS[1], ARGV[3]) then
    return {}
  end
  ids = {ARGV[3]}
else
  local now = ARGV[3]
  if now == '' then
    now = fmt(now_ms())
  end
  ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
end
local out = {}
for _, id in ipairs(ids) do
  local info = redis.call('HGET', p .. 'session:' .. id, 'info') or ''
  local released = {}
  for _, name in ipairs(redis.call('SMEMBERS', p .. 'session-locks:' .. id)) do
    local lock = p .. 'lock:' .. name
    if redis.call('HGET', lock, 'session') == id then
      redis.call('DEL', lock)
      table.insert(released, name)
    end
  end
  redis.call('DEL', p .. 'session-locks:' .. id, p .. 'session:' .. id)
  redis.call('ZREM', KEYS[1], id)
  table.insert(out, {id, info, released})
end
return out
`;

/** KEYS: sessions (zset). ARGV: key prefix. Returns {id, info, ttlMs, registeredAt, heartbeatAt, expiresAt}. */
export const SESSION_LIST_LUA = `
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local r = redis.call('HMGET', ARGV[1] .. 'session:' .. id, 'info', 'ttlMs', 'registeredAt', 'heartbeatAt', 'expiresAt')
  if r[1] then
    table.insert(out, {id, r[1], r[2], r[3], r[4], r[5]})
  end
end
return out
`;

/** A script sent by its SHA1, and in full when the server does not have it (first use, or after a restart). */
export class RedisScript {
  readonly sha: string;

  constructor(readonly lua: string) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  async run(client: Redis, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) {
        throw error;
      }
      return await client.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
