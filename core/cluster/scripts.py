"""The Lua scripts of `core.cluster.redis_cluster.RedisCluster`: each cluster transition is
one script, so it is atomic for the whole cluster."""

# KEYS: members hash of (room, user), users set of the room, node index set
# ARGV: field "{node}|{sid}", user name, user id, index entry
ENTER = """
local had = redis.call('HLEN', KEYS[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
if had == 0 then return 1 else return 0 end
"""

# Returns {last (0/1), user name or false}
EXIT = """
local name = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[3], ARGV[3])
if not name then return {0, false} end
redis.call('HDEL', KEYS[1], ARGV[1])
if redis.call('HLEN', KEYS[1]) == 0 then
  redis.call('SREM', KEYS[2], ARGV[2])
  return {1, name}
end
return {0, name}
"""

USERS = """
local out = {}
for _, user in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local names = redis.call('HVALS', ARGV[1] .. user)
  if #names > 0 then
    table.insert(out, user)
    table.insert(out, names[1])
  end
end
return out
"""

DELETE_IF = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

PUSH = """
local n = redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return n
"""

TAKE = """
local items = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return items
"""

# KEYS: the lock, the node's set of locks; ARGV: token, lease ms
LOCK = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SADD', KEYS[2], KEYS[1])
  return 1
end
return 0
"""

# A turn whose release is owed, held again after an outage: taken if free (a Redis that
# restarted empty), its lease renewed if still this token's; 0 if another holds it.
HOLD = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('SADD', KEYS[2], KEYS[1])
return 1
"""

UNLOCK = """
redis.call('SREM', KEYS[2], KEYS[1])
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

# A dead node's locks, freed by its reaper: KEYS[1] the node's set; ARGV[1] token prefix
FREE_LOCKS = """
local freed = 0
for _, key in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local token = redis.call('GET', key)
  if token and string.sub(token, 1, string.len(ARGV[1])) == ARGV[1] then
    freed = freed + redis.call('DEL', key)
  end
end
redis.call('DEL', KEYS[1])
return freed
"""

# Connection slots (core/slots.py). KEYS: the user's hash (sid -> node), this node's index
# of slots; ARGV: sid, node, cap, index entry. 0 full, 1 claimed, 2 claimed while another
# node holds some of the user's sockets.
CLAIM = """
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[4])
for _, node in ipairs(redis.call('HVALS', KEYS[1])) do
  if node ~= ARGV[2] then return 2 end
end
return 1
"""

# KEYS: the user's hash, this node's index; ARGV: sid, index entry
RELEASE = """
redis.call('SREM', KEYS[2], ARGV[2])
return redis.call('HDEL', KEYS[1], ARGV[1])
"""

# A sliding window on Redis's clock. KEYS: the window's sorted set; ARGV: limit, window ms,
# a unique member. 0 when counted, else the milliseconds until a place frees.
WINDOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return math.max(1, tonumber(oldest[2]) + window - now + 1)
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return 0
"""

# Deadlines adopted from a dead or stopped node. KEYS: the orphans set, this node's
# deadline hash. The orphaned hash is moved whole into this node's; its fields returned.
ADOPT = """
local src = redis.call('SPOP', KEYS[1])
if not src then return {} end
local items = redis.call('HGETALL', src)
for i = 1, #items, 2 do redis.call('HSET', KEYS[2], items[i], items[i + 1]) end
redis.call('DEL', src)
return items
"""

# A node's deadlines handed to the survivors. KEYS: its hash, the orphans set, the name the
# hash takes as an orphan (the node's own name is free at once).
ORPHAN = """
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('RENAME', KEYS[1], KEYS[3])
  redis.call('SADD', KEYS[2], KEYS[3])
end
return 0
"""
