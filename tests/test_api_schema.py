"""Property-based tests of the REST sidecar from its own OpenAPI schema (schemathesis).

Schemathesis draws requests for every operation from ``/openapi.json``, ones the schema
allows and ones it does not, sends them with an admin key (so every route is reachable)
to an app whose lifespan runs and whose model is loaded, and checks every answer with its
default checks: never a server error, and what the schema promises (documented status
codes, content types and bodies; valid data accepted, invalid data refused).

(``schemathesis.pytest.from_fixture`` fails under pytest 9 in schemathesis 4.32.5: it sets
``Node._nodeid``, which pytest 9 no longer has. So a plain fixture starts the app, and each
operation's cases are drawn with ``APIOperation.as_strategy`` under Hypothesis.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from api.app import create_app
from tests.api_support import Key, api_settings, new_key, wait_ready
from tests.conftest import Trained

EXAMPLES = 25
"""Cases per operation and mode: both modes together stay well under a minute."""
MODES = [schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE]
BODIES = {"POST /v1/score", "POST /v1/score/batch", "POST /predict"}


@pytest.fixture
def admin_key(trained_embedded: Trained) -> Key:
    return new_key(trained_embedded.settings, scopes=("score", "admin"))


@pytest.fixture
def running_schema(trained_embedded: Trained, admin_key: Key) -> Iterator[schemathesis.BaseSchema]:
    """The schema of an app that is up and ready. Schemathesis starts the app's lifespan
    when it loads the schema, and its pytest plugin ends it when the test ends."""
    app = create_app(api_settings(trained_embedded.settings, api_max_batch_rows=50))
    # The key as schemathesis's own auth for the API's bearer scheme: sent with every case
    # except those that leave out or spoil the key on purpose.
    config = schemathesis.Config.from_dict(
        {"auth": {"openapi": {"API key": {"bearer": admin_key.text}}}}
    )
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=config)
    wait_ready(TestClient(app))  # no `with`: the lifespan is schemathesis's, started once
    yield schema


def _run(
    operation: schemathesis.APIOperation,
    mode: schemathesis.GenerationMode,
    statuses: Counter[tuple[str, int]],
) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate()
        statuses[operation.label, response.status_code] += 1

    run()


@pytest.mark.parametrize("mode", MODES, ids=[m.value for m in MODES])
def test_every_operation_answers_as_its_schema_says(
    running_schema: schemathesis.BaseSchema, mode: schemathesis.GenerationMode
) -> None:
    failures: dict[str, str] = {}
    checked: set[str] = set()
    statuses: Counter[tuple[str, int]] = Counter()
    operations = [result.ok() for result in running_schema.get_all_operations()]
    assert len(operations) == 8, [op.label for op in operations]
    for operation in operations:
        try:
            _run(operation, mode, statuses)
        except Unsatisfiable:
            continue  # nothing to make invalid: no parameters and no body (GET /health)
        except Exception as exc:  # every operation runs: all failures are reported together
            failures[operation.label] = f"{type(exc).__name__}: {exc}"
        checked.add(operation.label)
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
    assert checked >= BODIES
    if mode == schemathesis.GenerationMode.POSITIVE:
        # the key went with the cases: every operation answered 200 at least once
        answered = {label for (label, status), n in statuses.items() if status == 200 and n}
        assert answered == {op.label for op in operations}, statuses
