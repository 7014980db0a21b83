"""schemathesis against the OMS API's own description (``/api/v1/openapi.json``), with the OMS
key: no operation answers 5xx, and every answer conforms to the documented schema (status code,
content type, body). Bounded (a few examples per operation) so it stays well under a minute."""

from __future__ import annotations

import contextlib
import importlib
import pkgutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import make_test_app
from web.demo import DEMO_API_KEY

AUTH = {"Authorization": f"Bearer {DEMO_API_KEY}"}


def _import_all_of_schemathesis() -> None:
    """Import schemathesis's lazily imported modules now, at collection. pytest rewrites a
    plugin's modules with ``ast.parse`` as they are imported, and CPython 3.11.7's parser can
    raise ``SystemError: AST constructor recursion depth mismatch`` in a test process whose
    recursion counter an earlier test left off (seen once in CI, in ``from_wsgi``'s first
    import of ``schemathesis.specs.openapi.schemas``); before any test runs it is clean."""
    for module in pkgutil.walk_packages(schemathesis.__path__, "schemathesis."):
        with contextlib.suppress(Exception):  # an optional extra's module may not import
            importlib.import_module(module.name)


_import_all_of_schemathesis()


@pytest.fixture
def oms_app(sqlite_url):
    app = make_test_app(sqlite_url)
    yield app
    app.extensions["floor"].close()


def test_openapi_operations_never_500_and_conform_to_the_schema(oms_app):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", oms_app, headers=AUTH)
    failures = []
    calls: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=8,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case):
            response = case.call(headers=AUTH)
            calls.append(f"{case.method} {case.path} {response.status_code}")
            case.validate_response(
                response,
                checks=(not_a_server_error, status_code_conformance, response_schema_conformance),
            )

        try:
            given(operation.as_strategy())(check)()
        except Exception as exc:  # collect every operation's failure, not just the first
            failures.append(f"{operation.verbose_name}: {exc}")
    assert operations >= 8 and len(calls) >= operations  # it ran: every operation was called
    assert failures == [], "\n\n".join(failures)
