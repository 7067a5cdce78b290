/**
 * The Lua scripts that keep a log of record consistent. Each runs atomically
 * on the server, so every reader on every instance sees a batch whole or not
 * at all. Numbers that become ids or hash values are printed with
 * `string.format("%.0f", n)`: Lua's `tostring` prints `1e+15` past 10^14.
 *
 * Keys, all on one slot thanks to the hash tag:
 *   meta  (hash)   epoch capacity entry total fence holder expires [ended reason code]
 *   log   (stream) closed entries of exactly `entry` bytes with id `<end offset>-0`,
 *                  the end marker at `<total>-1`
 *   tail  (string) the newest bytes, fewer than `entry`, starting at `total - STRLEN(tail)`
 *   dedup (string) "seq start total" of a producer's last batch, with a TTL
 *
 * @internal
 */

const prelude = `
local function num(n) return string.format('%.0f', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function finish(meta, log, tail, total, kind, reason, code, channel)
  if redis.call('STRLEN', tail) > 0 then
    redis.call('XADD', log, num(total) .. '-0', 'd', redis.call('GET', tail))
    redis.call('DEL', tail)
  end
  if kind == 'ok' then
    redis.call('XADD', log, num(total) .. '-1', 'end', 'ok')
    redis.call('HSET', meta, 'ended', 'ok')
  else
    redis.call('XADD', log, num(total) .. '-1', 'end', 'failed', 'reason', reason, 'code', code)
    redis.call('HSET', meta, 'ended', 'failed', 'reason', reason, 'code', code)
  end
  redis.call('SPUBLISH', channel, num(total))
end
`

/**
 * KEYS: meta log tail. ARGV: epoch capacity entry mode("create"|"get").
 * Returns {"CREATED"} | {"EXISTS"} | {"FOUND", epoch, capacity, entry}.
 *
 * @internal
 */
export const create = `
if redis.call('EXISTS', KEYS[1]) == 1 then
  if ARGV[4] == 'create' then return {'EXISTS'} end
  local m = redis.call('HMGET', KEYS[1], 'epoch', 'capacity', 'entry')
  return {'FOUND', m[1], m[2], m[3]}
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'capacity', ARGV[2], 'entry', ARGV[3], 'total', '0',
  'fence', '0', 'holder', '', 'expires', '0')
return {'CREATED'}
`

/**
 * KEYS: meta log tail dedup. ARGV: epoch seq fence("" for none) skip blob channel dedupTtlMs.
 * `skip` bytes precede `blob` in the batch but are not sent: they would be
 * evicted by the batch itself. Returns {"OK"|"DUP", start, total} or a refusal:
 * {"NOMETA"} {"EPOCH", epoch} {"STALE"} {"CLOSED", total} {"BUSY"}
 * {"LEASELOST", reason} {"OVERFLOW", total, length}.
 *
 * @internal
 */
export const append = prelude + `
local meta, log, tail = KEYS[1], KEYS[2], KEYS[3]
local m = redis.call('HMGET', meta, 'epoch', 'capacity', 'total', 'ended', 'fence', 'holder', 'expires', 'entry')
if not m[1] then return {'NOMETA'} end
if m[1] ~= ARGV[1] then return {'EPOCH', m[1]} end
local seq = tonumber(ARGV[2])
local d = redis.call('GET', KEYS[4])
if d then
  local dseq, dstart, dtotal = string.match(d, '^(%d+) (%d+) (%d+)$')
  if tonumber(dseq) == seq then return {'DUP', tonumber(dstart), tonumber(dtotal)} end
  if tonumber(dseq) > seq then return {'STALE'} end
end
local total = tonumber(m[3])
if m[4] then return {'CLOSED', total} end
local fence = ARGV[3]
if fence == '' then
  if m[6] and m[6] ~= '' and tonumber(m[7]) > now_ms() then return {'BUSY'} end
else
  if m[5] ~= fence then return {'LEASELOST', 'fenced: another producer took the lease over'} end
  if not m[6] or m[6] == '' then return {'LEASELOST', 'released'} end
end
local skip = tonumber(ARGV[4])
local blob = ARGV[5]
local len = skip + #blob
if total + len > 9007199254740991 then return {'OVERFLOW', total, len} end
local total2 = total + len
if len > 0 then
  local capacity, entry = tonumber(m[2]), tonumber(m[8])
  local oldest = total2 - capacity
  if oldest < 0 then oldest = 0 end
  local tailLen, runStart
  if skip > 0 then
    redis.call('DEL', tail)
    tailLen, runStart = 0, total + skip
  else
    tailLen = redis.call('STRLEN', tail)
    runStart = total - tailLen
  end
  if tailLen + #blob < entry then
    redis.call('APPEND', tail, blob)
  else
    local pos = entry - tailLen
    local s = runStart + entry
    if s > oldest then
      local head = ''
      if tailLen > 0 then head = redis.call('GET', tail) end
      redis.call('XADD', log, num(s) .. '-0', 'd', head .. string.sub(blob, 1, pos))
    end
    while #blob - pos >= entry do
      s = s + entry
      if s > oldest then redis.call('XADD', log, num(s) .. '-0', 'd', string.sub(blob, pos + 1, pos + entry)) end
      pos = pos + entry
    end
    if pos < #blob then
      redis.call('SET', tail, string.sub(blob, pos + 1))
    else
      redis.call('DEL', tail)
    end
  end
  redis.call('HSET', meta, 'total', num(total2))
  if oldest > 0 then redis.call('XTRIM', log, 'MINID', num(oldest + 1) .. '-0') end
  redis.call('SPUBLISH', ARGV[6], num(total2))
end
redis.call('SET', KEYS[4], ARGV[2] .. ' ' .. num(total) .. ' ' .. num(total2), 'PX', ARGV[7])
return {'OK', total, total2}
`

/**
 * KEYS: meta log tail. ARGV: epoch kind("ok"|"failed") reason code channel.
 * Returns {"ENDED"} (this call ended the log), {"ALREADY"}, {"NOMETA"} or {"EPOCH", epoch}.
 *
 * @internal
 */
export const end = prelude + `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'total', 'ended')
if not m[1] then return {'NOMETA'} end
if m[1] ~= ARGV[1] then return {'EPOCH', m[1]} end
if m[3] then return {'ALREADY'} end
finish(KEYS[1], KEYS[2], KEYS[3], tonumber(m[2]), ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return {'ENDED'}
`

/**
 * Ends the log with "producer lost" if a writer lease is held and has lapsed.
 * KEYS: meta log tail. ARGV: epoch channel.
 * Returns {"ENDED"}, {"LIVE"} (no lapsed lease, or already ended), {"NOMETA"} or {"EPOCH", epoch}.
 *
 * @internal
 */
export const reap = prelude + `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'total', 'ended', 'holder', 'expires')
if not m[1] then return {'NOMETA'} end
if m[1] ~= ARGV[1] then return {'EPOCH', m[1]} end
if m[3] or not m[4] or m[4] == '' or tonumber(m[5]) > now_ms() then return {'LIVE'} end
finish(KEYS[1], KEYS[2], KEYS[3], tonumber(m[2]), 'failed', 'producer lost', '', ARGV[2])
return {'ENDED'}
`

/**
 * KEYS: meta. ARGV: epoch producer leaseMs takeover("1"|"0").
 * Returns {"OK", fence} | {"BUSY"} | {"NOMETA"} | {"EPOCH", epoch}.
 *
 * @internal
 */
export const acquire = prelude + `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'holder', 'expires')
if not m[1] then return {'NOMETA'} end
if m[1] ~= ARGV[1] then return {'EPOCH', m[1]} end
local now = now_ms()
if ARGV[4] ~= '1' and m[2] and m[2] ~= '' and tonumber(m[3]) > now then return {'BUSY'} end
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
redis.call('HSET', KEYS[1], 'holder', ARGV[2], 'expires', num(now + tonumber(ARGV[3])))
return {'OK', fence}
`

/**
 * KEYS: meta. ARGV: epoch fence leaseMs.
 * Returns {"OK"} | {"LEASELOST", reason} | {"NOMETA"} | {"EPOCH", epoch}.
 *
 * @internal
 */
export const refresh = prelude + `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'fence', 'holder')
if not m[1] then return {'NOMETA'} end
if m[1] ~= ARGV[1] then return {'EPOCH', m[1]} end
if m[2] ~= ARGV[2] then return {'LEASELOST', 'fenced: another producer took the lease over'} end
if not m[3] or m[3] == '' then return {'LEASELOST', 'released'} end
redis.call('HSET', KEYS[1], 'expires', num(now_ms() + tonumber(ARGV[3])))
return {'OK'}
`

/**
 * KEYS: meta. ARGV: epoch fence. Releases the lease if it is still this fence's.
 * Returns {"OK"} | {"NOTHELD"} | {"NOMETA"} | {"EPOCH", epoch}.
 *
 * @internal
 */
export const release = `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'fence')
if not m[1] then return {'NOMETA'} end
if m[1] ~= ARGV[1] then return {'EPOCH', m[1]} end
if m[2] ~= ARGV[2] then return {'NOTHELD'} end
redis.call('HSET', KEYS[1], 'holder', '', 'expires', '0')
return {'OK'}
`

/**
 * A read-only script: the meta and the entries after an offset, in one
 * consistent snapshot. KEYS: meta log tail. ARGV: from count.
 * Returns {"NOMETA"} or {"OK", epoch, capacity, total, ended, reason, code,
 * holder, expires, timeSeconds, timeMicros, entries, tail}. The tail bytes
 * are included only when the entries reached the end of the stream.
 *
 * @internal
 */
export const read = `#!lua flags=no-writes
local m = redis.call('HMGET', KEYS[1], 'epoch', 'capacity', 'total', 'ended', 'reason', 'code', 'holder', 'expires')
if not m[1] then return {'NOMETA'} end
local t = redis.call('TIME')
local count = tonumber(ARGV[2])
local entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1] .. '-0', '+', 'COUNT', count)
local tail = ''
if #entries < count and not m[4] then tail = redis.call('GET', KEYS[3]) or '' end
return {'OK', m[1], m[2], m[3], m[4] or '', m[5] or '', m[6] or '', m[7] or '', m[8] or '0', t[1], t[2], entries, tail}
`

/**
 * KEYS: meta log tail. ARGV: channel. Deletes the log and wakes its tails.
 * Returns 1 if a log was deleted.
 *
 * @internal
 */
export const remove = `
local n = redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
redis.call('SPUBLISH', ARGV[1], 'deleted')
if n > 0 then return 1 end
return 0
`
