"""The worker process: `python -m workers.run` works the photo queue, then the default queue."""
from __future__ import annotations

import logging

from rq import Worker

from service.jobqueue import PHOTO_QUEUE, redis_connection
from workers.context import settings


def main() -> None:
    """Work jobs until stopped; the built-in scheduler moves retries with a delay back onto their queue."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    connection = redis_connection(settings().redis_url)
    Worker([PHOTO_QUEUE, "default"], connection=connection).work(with_scheduler=True)


if __name__ == "__main__":
    main()
