"""Operations: health and readiness probes, Prometheus metrics, request ids and structured logs.

``requestid`` carries one id per unit of work (an HTTP request, a Celery task) through logs, task
headers and the outbox; ``logs`` formats records as JSON or text; ``health`` answers the load
balancer's probes; ``metrics`` defines the Prometheus series, the scrape-time gauges and the
``/metrics`` view; ``celery_hooks`` connects Celery's signals to all of them; ``worker_exporter``
serves a Celery worker host's metrics.
"""
