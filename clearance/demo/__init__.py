"""The demo portfolio: ``portfolio.yaml`` describes it, ``seed.py`` builds it through the services,
``files/`` holds the documents and evidence it imports (with their sources in ``files/SOURCES.md``).

``manage.py demo`` calls ``seed_demo()``; tests and benchmarks do the same.
"""

from clearance.demo.seed import DEMO_PASSWORD, DemoDataError, DemoSeed, demo_logins, seed_demo

__all__ = ["DEMO_PASSWORD", "DemoDataError", "DemoSeed", "demo_logins", "seed_demo"]
