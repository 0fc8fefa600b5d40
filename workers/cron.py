"""The periodic jobs, for the scheduler process: `rq cron workers.cron --url $REDIS_URL`."""
from rq import cron

from workers.jobs import chase_overdue, sweep_stale_reports

cron.register(sweep_stale_reports, queue_name="default", interval=60, job_timeout=120)
cron.register(chase_overdue, queue_name="default", interval=600, job_timeout=300)
