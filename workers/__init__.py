"""Background work on RQ: queues, job functions by area, the cron schedule."""
