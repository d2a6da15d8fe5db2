package fleet

import "github.com/redis/go-redis/v9"

// writeScript applies one batch atomically: the entries, their expiries, one log entry for
// the whole batch, and the head. It creates the epoch when there is none (a new or flushed
// Redis) and drops up to 1000 expired entries, which every agent has already expired on its
// own clock, so that no log entry is needed for them.
//
// KEYS: entries, expiry, log, head, epoch.
// ARGV: [1] a new epoch token, used only when there is none; [2] now in Unix ms; [3] log
// retention in ms; [4] the batch's changes as JSON (the log entry); then for each change
// four values: op, key, record JSON ("" for del), expiry in Unix ms ("0" for none).
// Returns {epoch, log entry ID}.
var writeScript = redis.NewScript(epochLua("KEYS[5]") + `local prev = redis.call('GET', KEYS[4]) or '0-0'
local now = tonumber(ARGV[2])
local expired = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, 1000)
for _, k in ipairs(expired) do
  redis.call('HDEL', KEYS[1], k)
  redis.call('ZREM', KEYS[2], k)
end
for i = 5, #ARGV, 4 do
  local op, key = ARGV[i], ARGV[i + 1]
  if op == 'put' then
    redis.call('HSET', KEYS[1], key, ARGV[i + 2])
    if ARGV[i + 3] ~= '0' then
      redis.call('ZADD', KEYS[2], ARGV[i + 3], key)
    else
      redis.call('ZREM', KEYS[2], key)
    end
  else
    redis.call('HDEL', KEYS[1], key)
    redis.call('ZREM', KEYS[2], key)
  end
end
local minid = tostring(math.max(0, now - tonumber(ARGV[3]))) .. '-0'
local id = redis.call('XADD', KEYS[3], 'MINID', '~', minid, '*',
  'epoch', epoch, 'prev', prev, 'changes', ARGV[4])
redis.call('SET', KEYS[4], id)
return {epoch, id}
`)

// ensureEpochScript returns the epoch, creating it when there is none. KEYS: epoch, head.
// ARGV: [1] a new epoch token. Returns {epoch, head} (head "0-0" when there is no log).
var ensureEpochScript = redis.NewScript(epochLua("KEYS[1]") + `return {epoch, redis.call('GET', KEYS[2]) or '0-0'}
`)

// epochLua is the start both scripts share: the local epoch is the one stored at key, which
// is created from ARGV[1] when there is none.
func epochLua(key string) string {
	return `
local epoch = redis.call('GET', ` + key + `)
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', ` + key + `, epoch)
end
`
}
