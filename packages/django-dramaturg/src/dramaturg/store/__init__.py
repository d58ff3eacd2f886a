"""The one place that knows how the job system's data is laid out in Redis.

By concern: `keys` (key names and the layout), `connection` (the broker's
client and the Lua scripts), `messages` (stored messages as values),
`queues` (counts, paging, the queue registry), `dead_letters` (index, paging,
requeue, delete), `stats` (workers, throughput, periodic runs), `delivery` (the broker's
enqueue/requeue with wake-up tokens, batched acks, the idle consumer's wait). Views, admin
pages, commands and middleware go through these modules; nothing else builds
key names.
"""
