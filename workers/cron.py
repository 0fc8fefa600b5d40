"""The periodic jobs, for the scheduler process: `rq cron workers.cron --url $REDIS_URL`."""
from rq import cron

from workers.jobs import sweep_stale_reports

cron.register(sweep_stale_reports, queue_name="default", interval=60, job_timeout=120)
