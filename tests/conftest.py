"""Root conftest: load the shared fixture modules, one per real part the tests run against."""

pytest_plugins = ["tests.fixtures.nats", "tests.fixtures.sandbox", "tests.fixtures.cloud"]
