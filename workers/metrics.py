"""The metrics collector process: `python -m workers.metrics` serves RQ's queues and workers, the cases, the photo
disk and this host's workers' own metrics to Prometheus (service/runtime/collector.py)."""
from __future__ import annotations

import logging

from service.runtime.collector import metrics_server
from workers.context import settings

log = logging.getLogger(__name__)


def main() -> None:
    """Serve /metrics until stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = settings()
    server = metrics_server(config)
    state = "on" if config.metrics_token else "off (no METRICS_TOKEN: every request is answered 404)"
    log.info("metrics collector on http://%s:%d/metrics, %s", config.metrics_bind, config.metrics_port, state)
    server.serve_forever()


if __name__ == "__main__":
    main()
