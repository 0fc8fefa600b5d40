"""The worker process: `python -m workers.run` works the photo queue first, then the default queue."""
from __future__ import annotations

import logging

from rq import Worker
from sqlalchemy.orm import configure_mappers

import workers.jobs  # noqa: F401  (imported here, once, rather than in every work horse)
from service.jobqueue import PHOTO_QUEUE, redis_connection
from workers import context

# how often a busy worker proves it is alive; a job whose worker stops proving it is handed back by RQ
JOB_MONITORING_INTERVAL = 10


class PipelineWorker(Worker):
    """A forking RQ worker that prepares everything a work horse needs before it forks.

    The pipeline's heavy imports (Pillow, pillow-heif, shapely, geopy) are done and the grid index is built in
    this parent process, so each horse starts warm instead of paying for them on every job. The parent's
    database pool is emptied before every fork: a horse opens its own connections and never shares a socket
    with its parent or a sibling.
    """

    def execute_job(self, job, queue):
        with context.database().session() as session:
            context.grid_index(session)  # rebuilt here only if the grids changed since the last job
        context.database().dispose()
        return super().execute_job(job, queue)


def main() -> None:
    """Work jobs until stopped; the built-in scheduler moves retries with a delay back onto their queue."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    configure_mappers()  # once in the parent, not in each horse
    connection = redis_connection(context.settings().redis_url)
    worker = PipelineWorker([PHOTO_QUEUE, "default"], connection=connection,
                            job_monitoring_interval=JOB_MONITORING_INTERVAL)
    worker.work(with_scheduler=True)


if __name__ == "__main__":
    main()
