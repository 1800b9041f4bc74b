from tests.risks.risk_helpers import risky_system  # noqa: F401 - the fixture, for every test here
