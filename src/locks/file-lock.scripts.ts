import { RedisScript } from '../state/redis-state.scripts';

/**
 * Lua behind the Redis file lock table. Times come from the Redis server's clock, as for the store's own
 * sessions, so that gateways with skewed clocks agree on which sessions are alive.
 */
const NOW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`;

/**
 * KEYS: the inode's list, sessions (zset scored by expiry).
 * Returns {the list as stored or '', {ids of the sessions alive now}}.
 */
export const LOAD_LUA = `${NOW}
local list = redis.call('GET', KEYS[1]) or ''
return {list, redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. string.format('%.0f', now), '+inf')}
`;

/**
 * Compare-and-set of an inode's list.
 * KEYS: the inode's list, sessions (zset), the session's inode index (set), and optionally the wait record of the
 * waiter this write grants a lock to (deleted with the write).
 * ARGV: expected list ('' = none), new list ('' = none), session id, '1' when the session must be alive,
 * '1' when the session holds locks on the inode afterwards, the inode, index TTL ms.
 * Returns {1} when stored, {0, the list as it is now, {ids of the live sessions}} when it had changed, {-1} when
 * the session must be alive and is not.
 */
export const STORE_LUA = `${NOW}
if ARGV[4] == '1' then
  local score = redis.call('ZSCORE', KEYS[2], ARGV[3])
  if not score or tonumber(score) <= now then
    return {-1}
  end
end
local current = redis.call('GET', KEYS[1]) or ''
if current ~= ARGV[1] then
  return {0, current, redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. string.format('%.0f', now), '+inf')}
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2])
end
if ARGV[5] == '1' then
  redis.call('SADD', KEYS[3], ARGV[6])
  redis.call('PEXPIRE', KEYS[3], ARGV[7])
else
  redis.call('SREM', KEYS[3], ARGV[6])
end
if KEYS[4] then
  redis.call('DEL', KEYS[4])
end
return {1}
`;

/** KEYS: the session's inode index. Returns its members. */
export const INODES_LUA = `return redis.call('SMEMBERS', KEYS[1])`;

/**
 * KEYS: none (the chain's keys are found as it is followed). ARGV: key prefix, waiter, blocker, ttl ms, steps.
 * Follows `file-lock-wait:<owner>` from the blocker; returns 1 when it leads back to the waiter (nothing
 * recorded), else records the waiter's own and returns 0.
 */
export const WAIT_FOR_LUA = `
local current = ARGV[3]
for step = 0, tonumber(ARGV[5]) do
  if current == ARGV[2] then
    return 1
  end
  current = redis.call('GET', ARGV[1] .. 'file-lock-wait:' .. current)
  if not current then
    break
  end
end
redis.call('SET', ARGV[1] .. 'file-lock-wait:' .. ARGV[2], ARGV[3], 'PX', ARGV[4])
return 0
`;

export const FILE_LOCK_SCRIPTS = {
  waitFor: new RedisScript(WAIT_FOR_LUA),
  load: new RedisScript(LOAD_LUA),
  store: new RedisScript(STORE_LUA),
  inodes: new RedisScript(INODES_LUA),
  stopWaiting: new RedisScript(`return redis.call('DEL', KEYS[1])`),
};
