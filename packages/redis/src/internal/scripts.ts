/**
 * The Lua scripts that keep a log of record consistent. Each runs atomically
 * on the server, so every reader on every instance sees a batch whole or not
 * at all. Numbers that become ids or hash values are printed with
 * `string.format("%.0f", n)`: Lua's `tostring` prints `1e+15` past 10^14.
 *
 * Keys, all on one slot thanks to the hash tag:
 *   meta  (hash)   epoch capacity entry created total fence holder expires
 *                  [ended reason code endedAt] [removed]
 *   log   (stream) closed entries of exactly `entry` bytes with id `<end offset>-0`,
 *                  the end marker at `<total>-1`
 *   tail  (string) the newest bytes, fewer than `entry`, starting at `total - STRLEN(tail)`
 *   dedup (string) "seq start total" of a producer's last two recorded batches, with a TTL
 *
 * Lifetimes: when a log ends, its keys expire `ttl` ms later (the registry's
 * idle time plus a grace, so every instance's tail reads the end first), and
 * a log that ended `idle` ms ago or more counts as gone for `open`/`create`;
 * `remove` ends the log, marks it removed (gone at once for `open`/`create`)
 * and lets its keys expire after the grace.
 *
 * @internal
 */

const prelude = `
local function num(n) return string.format('%.0f', n) end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function expire(meta, log, tail, ttl)
  if ttl ~= '' then
    redis.call('PEXPIRE', meta, ttl)
    redis.call('PEXPIRE', log, ttl)
    redis.call('PEXPIRE', tail, ttl)
  end
end
local function finish(meta, log, tail, total, kind, reason, code, channel, ttl)
  if redis.call('STRLEN', tail) > 0 then
    redis.call('XADD', log, num(total) .. '-0', 'd', redis.call('GET', tail))
    redis.call('DEL', tail)
  end
  local now = num(now_ms())
  if kind == 'ok' then
    redis.call('XADD', log, num(total) .. '-1', 'end', 'ok')
    redis.call('HSET', meta, 'ended', 'ok', 'endedAt', now)
  else
    redis.call('XADD', log, num(total) .. '-1', 'end', 'failed', 'reason', reason, 'code', code)
    redis.call('HSET', meta, 'ended', 'failed', 'reason', reason, 'code', code, 'endedAt', now)
  end
  expire(meta, log, tail, ttl)
  -- Not the total: a tail already at the total would ignore that wake-up.
  redis.call('SPUBLISH', channel, 'end')
end
-- A log that exists for open/create/remove: not removed, and not ended more than idle ms ago.
local function live(m, idle)
  if not m[1] or m[2] then return false end
  if m[3] and idle ~= '' and now_ms() - tonumber(m[3]) >= tonumber(idle) then return false end
  return true
end
`

/**
 * KEYS: meta log tail. ARGV: epoch capacity entry mode("create"|"get"|"open") idleMs("" for none).
 * Returns {"CREATED", created} | {"EXISTS"} | {"NOTFOUND"} |
 * {"FOUND", epoch, capacity, entry, created}. A removed log, or one that
 * ended `idleMs` ago or more, counts as absent: `create`/`get` replace it.
 *
 * @internal
 */
export const create = prelude + `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'removed', 'endedAt', 'capacity', 'entry', 'created')
if live(m, ARGV[5]) then
  if ARGV[4] == 'create' then return {'EXISTS'} end
  return {'FOUND', m[1], m[4], m[5], m[6] or '0'}
end
if ARGV[4] == 'open' then return {'NOTFOUND'} end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
local now = num(now_ms())
redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'capacity', ARGV[2], 'entry', ARGV[3], 'created', now, 'total', '0',
  'fence', '0', 'holder', '', 'expires', '0')
return {'CREATED', now}
`

/**
 * KEYS: meta log tail dedup. ARGV: epoch seq prev fence("" for none) skip channel dedupTtlMs tailAssumed piece...
 * `skip` bytes precede the pieces in the batch but are not sent: they would
 * be evicted by the batch itself. `prev` ("" for none) is the sequence number
 * of the batch that must have been recorded first: a batch pipelined behind
 * another one is refused with {"GAP"} (and changes nothing) unless that one
 * was recorded, so batches land in the order they were sent even across a
 * reconnect.
 *
 * The pieces are the batch's bytes, split by the client where entries close
 * if the open tail holds `tailAssumed` bytes: the first completes the open
 * entry (or is all there is), the next ones are whole entries, the last may
 * be shorter. When the tail is as assumed the pieces become entries as they
 * are, without copying them in Lua; otherwise (another writer came between,
 * or `tailAssumed` is "") they are joined and cut here.
 *
 * Returns {"OK", start, total, tailLength} | {"DUP", start, total} or a refusal:
 * {"NOMETA"} {"EPOCH", epoch} {"STALE"} {"GAP"} {"CLOSED", total} {"BUSY"}
 * {"LEASELOST", "fenced"|"released"} {"OVERFLOW", total, length}.
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
local last, lastRecord = 0, ''
if d then
  for s, st, t in string.gmatch(d, '(%d+) (%d+) (%d+)') do
    if tonumber(s) == seq then return {'DUP', tonumber(st), tonumber(t)} end
    if tonumber(s) > last then last, lastRecord = tonumber(s), s .. ' ' .. st .. ' ' .. t end
  end
  if seq <= last then return {'STALE'} end
end
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= last then return {'GAP'} end
local total = tonumber(m[3])
if m[4] then return {'CLOSED', total} end
local fence = ARGV[4]
if fence == '' then
  if m[6] and m[6] ~= '' and tonumber(m[7]) > now_ms() then return {'BUSY'} end
else
  if m[5] ~= fence then return {'LEASELOST', 'fenced'} end
  if not m[6] or m[6] == '' then return {'LEASELOST', 'released'} end
end
local skip = tonumber(ARGV[5])
local first, n = 9, #ARGV
local bytes = 0
for i = first, n do bytes = bytes + #ARGV[i] end
local len = skip + bytes
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
  -- The pieces can be used as they are if they were cut for this tail.
  local cut = ARGV[8] ~= '' and tonumber(ARGV[8]) == tailLen
  if cut then
    local head = #ARGV[first]
    cut = (n == first and tailLen + head < entry) or tailLen + head == entry
    for i = first + 1, n - 1 do
      if #ARGV[i] ~= entry then cut = false end
    end
    if n > first and #ARGV[n] > entry then cut = false end
  end
  if cut then
    if tailLen + #ARGV[first] < entry then
      redis.call('APPEND', tail, ARGV[first])
    else
      local s = runStart + entry
      if s > oldest then
        if tailLen > 0 then
          redis.call('XADD', log, num(s) .. '-0', 'd', redis.call('GET', tail) .. ARGV[first])
        else
          redis.call('XADD', log, num(s) .. '-0', 'd', ARGV[first])
        end
      end
      local open = false
      for i = first + 1, n do
        if #ARGV[i] == entry then
          s = s + entry
          if s > oldest then redis.call('XADD', log, num(s) .. '-0', 'd', ARGV[i]) end
        else
          redis.call('SET', tail, ARGV[i])
          open = true
        end
      end
      if not open then redis.call('DEL', tail) end
    end
  else
    local blob = table.concat(ARGV, '', first)
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
  end
  redis.call('HSET', meta, 'total', num(total2))
  if oldest > 0 then redis.call('XTRIM', log, 'MINID', num(oldest + 1) .. '-0') end
  redis.call('SPUBLISH', ARGV[6], num(total2))
end
local record = ARGV[2] .. ' ' .. num(total) .. ' ' .. num(total2)
if lastRecord ~= '' then record = lastRecord .. ' ' .. record end
redis.call('SET', KEYS[4], record, 'PX', ARGV[7])
return {'OK', total, total2, redis.call('STRLEN', tail)}
`

/**
 * KEYS: meta log tail. ARGV: epoch kind("ok"|"failed") reason code channel fence("" for none) ttlMs("" for none).
 * With a fence, the end is refused unless that writer's lease is current.
 * Returns {"ENDED"} (this call ended the log), {"ALREADY"}, {"LEASELOST", reason},
 * {"NOMETA"} or {"EPOCH", epoch}.
 *
 * @internal
 */
export const end = prelude + `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'total', 'ended', 'fence', 'holder')
if not m[1] then return {'NOMETA'} end
if m[1] ~= ARGV[1] then return {'EPOCH', m[1]} end
if ARGV[6] ~= '' then
  if m[4] ~= ARGV[6] then return {'LEASELOST', 'fenced'} end
  if not m[5] or m[5] == '' then return {'LEASELOST', 'released'} end
end
if m[3] then return {'ALREADY'} end
finish(KEYS[1], KEYS[2], KEYS[3], tonumber(m[2]), ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[7])
return {'ENDED'}
`

/**
 * Ends the log with "producer lost" if a writer lease is held and has lapsed.
 * KEYS: meta log tail. ARGV: epoch channel ttlMs("" for none).
 * Returns {"ENDED"}, {"LIVE"} (no lapsed lease, or already ended), {"NOMETA"} or {"EPOCH", epoch}.
 *
 * @internal
 */
export const reap = prelude + `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'total', 'ended', 'holder', 'expires')
if not m[1] then return {'NOMETA'} end
if m[1] ~= ARGV[1] then return {'EPOCH', m[1]} end
if m[3] or not m[4] or m[4] == '' or tonumber(m[5]) > now_ms() then return {'LIVE'} end
finish(KEYS[1], KEYS[2], KEYS[3], tonumber(m[2]), 'failed', 'producer lost', '', ARGV[2], ARGV[3])
return {'ENDED'}
`

/**
 * KEYS: meta. ARGV: epoch producer leaseMs takeover("1"|"0").
 * Returns {"OK", fence} | {"BUSY"} | {"CLOSED", total} | {"NOMETA"} | {"EPOCH", epoch}.
 *
 * @internal
 */
export const acquire = prelude + `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'holder', 'expires', 'ended', 'total')
if not m[1] then return {'NOMETA'} end
if m[1] ~= ARGV[1] then return {'EPOCH', m[1]} end
if m[4] then return {'CLOSED', tonumber(m[5])} end
local now = now_ms()
if ARGV[4] ~= '1' and m[2] and m[2] ~= '' and tonumber(m[3]) > now then return {'BUSY'} end
local fence = redis.call('HINCRBY', KEYS[1], 'fence', 1)
redis.call('HSET', KEYS[1], 'holder', ARGV[2], 'expires', num(now + tonumber(ARGV[3])))
return {'OK', fence}
`

/**
 * KEYS: meta. ARGV: epoch fence leaseMs.
 * Returns {"OK"} | {"LEASELOST", "fenced"|"released"} | {"NOMETA"} | {"EPOCH", epoch}.
 *
 * @internal
 */
export const refresh = prelude + `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'fence', 'holder')
if not m[1] then return {'NOMETA'} end
if m[1] ~= ARGV[1] then return {'EPOCH', m[1]} end
if m[2] ~= ARGV[2] then return {'LEASELOST', 'fenced'} end
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
 * holder, expires, timeSeconds, timeMicros, entries, tail, removed}. The tail
 * bytes are included only when the entries reached the end of the stream.
 *
 * @internal
 */
export const read = `#!lua flags=no-writes
local m = redis.call('HMGET', KEYS[1], 'epoch', 'capacity', 'total', 'ended', 'reason', 'code', 'holder', 'expires',
  'removed')
if not m[1] then return {'NOMETA'} end
local t = redis.call('TIME')
local count = tonumber(ARGV[2])
local entries = redis.call('XRANGE', KEYS[2], '(' .. ARGV[1] .. '-0', '+', 'COUNT', count)
local tail = ''
if #entries < count and not m[4] then tail = redis.call('GET', KEYS[3]) or '' end
return {'OK', m[1], m[2], m[3], m[4] or '', m[5] or '', m[6] or '', m[7] or '', m[8] or '0', t[1], t[2], entries, tail,
  m[9] or ''}
`

/**
 * Removes a log: ends it normally if it has not ended (a recorded end is
 * kept), marks it removed, so `open`/`create` treat the key as free at once,
 * and lets its keys expire after the grace, so every instance's tail reads
 * the end before they go. KEYS: meta log tail. ARGV: channel graceMs idleMs("" for none).
 * Returns {"REMOVED", epoch, kind, reason, code} or {"NOTFOUND"}.
 *
 * @internal
 */
export const remove = prelude + `
local m = redis.call('HMGET', KEYS[1], 'epoch', 'removed', 'endedAt', 'total')
if not live(m, ARGV[3]) then return {'NOTFOUND'} end
if not m[3] then finish(KEYS[1], KEYS[2], KEYS[3], tonumber(m[4]), 'ok', '', '', ARGV[1], '') end
redis.call('HSET', KEYS[1], 'removed', '1')
expire(KEYS[1], KEYS[2], KEYS[3], ARGV[2])
redis.call('SPUBLISH', ARGV[1], 'removed')
local e = redis.call('HMGET', KEYS[1], 'ended', 'reason', 'code')
return {'REMOVED', m[1], e[1], e[2] or '', e[3] or ''}
`
