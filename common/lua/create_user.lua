#!lua
-- KEYS  1 user  2 inbox meta
-- ARGV  1 password hash  2 display name  3 created at (ms)  4 epoch
-- Returns {"ok"} | {"conflict"}
if redis.call('EXISTS', KEYS[1]) == 1 then return {'conflict'} end
redis.call('HSET', KEYS[1], 'password', ARGV[1], 'display_name', ARGV[2], 'created_at', ARGV[3])
redis.call('HSETNX', KEYS[2], 'epoch', ARGV[4])
return {'ok'}
