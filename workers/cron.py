"""The periodic jobs, for the scheduler process: `rq cron workers.cron --url $REDIS_URL`."""
from datetime import datetime
from zoneinfo import ZoneInfo

from rq import cron

from workers.context import settings
from workers.jobs import build_weekly_report, chase_overdue, sweep_stale_reports


def monday_8am_as_utc_cron(tz: str) -> str:
    """`Monday 08:00` in the community's zone as a cron line in UTC, which is the clock the scheduler reads."""
    monday_8 = datetime(2026, 3, 2, 8, 0, tzinfo=ZoneInfo(tz))  # any Monday
    utc = monday_8.astimezone(ZoneInfo("UTC"))
    weekday = (utc.isoweekday() % 7)  # cron counts Sunday as 0
    return f"{utc.minute} {utc.hour} * * {weekday}"


cron.register(sweep_stale_reports, queue_name="default", interval=60, job_timeout=120)
cron.register(chase_overdue, queue_name="default", interval=600, job_timeout=300)
cron.register(build_weekly_report, queue_name="default", cron=monday_8am_as_utc_cron(settings().timezone),
              job_timeout=1800)
