"""The REST sidecar's endpoints through FastAPI's TestClient, on the embedded backend.

One app runs for the module (its lifespan: keys, live-model watcher, audit recorder); tests
that need other settings start their own. Expected probabilities come from the version's
booster loaded with ``mlflow.lightgbm``, the threshold from its tag read by
``MlflowClient``, the reason codes from LightGBM's own ``pred_contrib`` (see
``tests/api_support.py``), never from core or api.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from api.app import create_app
from core.apikeys import revoke_api_key
from core.schema import FEATURES
from tests.api_support import (
    Key,
    Reference,
    api_settings,
    bearer,
    feature_array,
    load_reference,
    metric_samples,
    new_key,
    pick_rows,
    raw_json,
    running,
    sample,
)
from tests.conftest import LEAD, Trained, free_port, log_elsewhere

MAX_ROWS = 8
TRAINED_STEPS = {"probability_scale": "platt", "time_feature": "drop"}
"""What the fixture trained with (the defaults): Platt-calibrated, Time dropped."""
MAX_BYTES = 32_768  # a transaction is ~800 bytes: 8 of them fit, a few dozen do not
REQUEST_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class Served:
    client: TestClient
    settings: Any
    scorer: Key
    admin: Key
    started: datetime


@pytest.fixture(scope="module")
def reference(trained_embedded: Trained) -> Reference:
    return load_reference(trained_embedded.settings)


@pytest.fixture(scope="module")
def rows(tiny_frame: pd.DataFrame, reference: Reference) -> list[dict[str, float]]:
    """Eight transactions, alternately alerted on and not by the reference model."""
    return pick_rows(tiny_frame, reference, each=MAX_ROWS // 2)


@pytest.fixture(scope="module")
def served(trained_embedded: Trained) -> Iterator[Served]:
    settings = api_settings(
        trained_embedded.settings, api_max_batch_rows=MAX_ROWS, api_max_body_bytes=MAX_BYTES
    )
    scorer = new_key(settings, scopes=("score",))
    admin = new_key(settings, scopes=("score", "admin"))
    started = datetime.now(UTC)
    with running(create_app(settings)) as client:
        yield Served(client, settings, scorer, admin, started)


def _score(served: Served, body: Any, **params: Any) -> Any:
    return served.client.post("/v1/score", json=body, params=params, headers=served.scorer.headers)


# --------------------------------------------------------------------------- scoring


def test_one_transaction_gets_the_live_models_probability_and_decision(
    served: Served, reference: Reference, rows: list[dict[str, float]]
) -> None:
    expected = reference.probability(feature_array(rows))
    for i, row in enumerate(rows):
        response = _score(served, {**row, "transaction_id": f"tx-{i}"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["probability"] == pytest.approx(expected[i], rel=0, abs=1e-12)
        alert = bool(expected[i] >= reference.threshold)
        assert (body["alert"], body["decision"]) == (alert, "alert" if alert else "no_alert")
        assert body["threshold"] == reference.threshold
        assert body["model"] == {
            "name": reference.name,
            "version": reference.version,
            "alias": reference.alias,
            **TRAINED_STEPS,
        }
        assert body["transaction_id"] == f"tx-{i}"
        assert REQUEST_ID.fullmatch(body["request_id"])
        assert body["request_id"] == response.headers["X-Request-ID"]
        assert body["reasons"] is None and body["explanation_problem"] is None
    without_id = _score(served, rows[0])
    assert without_id.status_code == 200 and without_id.json()["transaction_id"] is None
    assert without_id.json()["request_id"] != body["request_id"]  # one id per request


def test_explain_adds_the_top_positive_tree_shap_features(
    served: Served, reference: Reference, rows: list[dict[str, float]]
) -> None:
    expected = reference.top_reasons(feature_array(rows))
    assert any(len(reasons) == 3 for reasons in expected)
    for row, reasons in zip(rows, expected, strict=True):
        response = _score(served, row, explain="true")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["explanation_problem"] is None
        got = body["reasons"]
        assert [r["feature"] for r in got] == [feature for feature, _ in reasons]
        for answered, (feature, contribution) in zip(got, reasons, strict=True):
            assert answered["contribution"] == pytest.approx(contribution, rel=1e-9, abs=1e-12)
            assert answered["value"] == row[feature]


def test_a_batch_keeps_its_order_and_scores_like_single_requests(
    served: Served, reference: Reference, rows: list[dict[str, float]]
) -> None:
    order = [3, 0, 6, 1, 7, 2, 5, 4]
    batch = [{**rows[i], "transaction_id": f"b-{i}"} for i in order]
    response = served.client.post(
        "/v1/score/batch",
        json={"transactions": batch},
        params={"explain": "true"},
        headers=served.scorer.headers,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["model"]["version"] == reference.version
    assert {k: body["model"][k] for k in TRAINED_STEPS} == TRAINED_STEPS
    assert body["threshold"] == reference.threshold
    results = body["results"]
    assert [r["transaction_id"] for r in results] == [f"b-{i}" for i in order]
    expected = reference.probability(feature_array([rows[i] for i in order]))
    np.testing.assert_allclose([r["probability"] for r in results], expected, rtol=0, atol=1e-12)
    singles = [_score(served, rows[i]).json()["probability"] for i in order]
    assert [r["probability"] for r in results] == singles
    alerts = expected >= reference.threshold
    assert [r["alert"] for r in results] == alerts.tolist()
    assert body["alerts"] == int(alerts.sum()) == MAX_ROWS // 2
    top = reference.top_reasons(feature_array([rows[i] for i in order]))
    assert [[x["feature"] for x in r["reasons"]] for r in results] == [
        [feature for feature, _ in reasons] for reasons in top
    ]


def test_more_rows_than_the_batch_limit_get_413(
    served: Served, rows: list[dict[str, float]]
) -> None:
    too_many = [*rows, rows[0]]
    assert len(too_many) == MAX_ROWS + 1
    body = {"transactions": too_many}
    assert len(json.dumps(body)) < MAX_BYTES  # the rows, not the bytes, are over
    response = served.client.post("/v1/score/batch", json=body, headers=served.scorer.headers)
    assert response.status_code == 413, response.text
    assert f"{MAX_ROWS + 1:,} transactions" in response.json()["detail"]
    legacy = served.client.post("/predict", json={"data": too_many}, headers=served.scorer.headers)
    assert legacy.status_code == 413, legacy.text
    exactly = served.client.post(
        "/v1/score/batch", json={"transactions": rows}, headers=served.scorer.headers
    )
    assert exactly.status_code == 200, exactly.text


def test_too_many_rows_get_413_before_any_row_is_validated(served: Served) -> None:
    # empty rows: validated first, each would give 30 problems (and a worker stalled on a
    # few hundred kilobytes); the row count is checked before
    body = {"transactions": [{}] * (MAX_ROWS + 1)}
    response = served.client.post("/v1/score/batch", json=body, headers=served.scorer.headers)
    assert response.status_code == 413, response.text
    legacy = served.client.post(
        "/predict", json={"data": [{}] * (MAX_ROWS + 1)}, headers=served.scorer.headers
    )
    assert legacy.status_code == 413, legacy.text


def test_a_422_lists_at_most_50_problems_and_says_how_many_more(served: Served) -> None:
    body = {"transactions": [{}] * MAX_ROWS}  # 30 missing fields in each of 8 rows
    response = served.client.post("/v1/score/batch", json=body, headers=served.scorer.headers)
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert len(problems) == 51
    assert problems[0]["field"] == "transactions.0.Time"
    assert problems[-1]["message"] == f"and {MAX_ROWS * 30 - 50:,} more"


def test_a_body_over_the_byte_limit_gets_413_before_it_is_parsed(served: Served) -> None:
    not_json = b"{" + b"x" * MAX_BYTES  # over the limit and not even JSON
    response = served.client.post(
        "/v1/score/batch",
        content=not_json,
        headers={**served.scorer.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert REQUEST_ID.fullmatch(response.json()["request_id"])
    small = served.client.post(
        "/v1/score/batch",
        content=not_json[: MAX_BYTES // 2],
        headers={**served.scorer.headers, "Content-Type": "application/json"},
    )
    assert small.status_code == 422, small.text  # the same text under the limit: parsed


def test_a_declared_length_over_the_limit_is_refused_without_reading_the_body(
    served: Served,
) -> None:
    read: list[int] = []

    def body() -> Iterator[bytes]:
        read.append(1)
        yield b"{" + b"x" * (MAX_BYTES + 1)

    response = served.client.post(
        "/v1/score",
        content=body(),
        headers={
            **served.scorer.headers,
            "Content-Type": "application/json",
            "Content-Length": str(MAX_BYTES + 2),
        },
    )
    assert response.status_code == 413, response.text
    assert read == [], "the body was read before the 413"


def test_a_chunked_body_over_the_limit_gets_413(served: Served) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"transactions": ['
        for _ in range(MAX_BYTES // 1000 + 1):
            yield b" " * 1000

    response = served.client.post(
        "/v1/score/batch",
        content=body(),
        headers={**served.scorer.headers, "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    assert response.status_code == 413, response.text


# --------------------------------------------------------------------------- model, operations


def test_the_model_endpoint_describes_the_live_version(
    served: Served, reference: Reference
) -> None:
    response = served.client.get("/v1/model", headers=served.scorer.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["name"], body["alias"], body["version"]) == (
        reference.name,
        reference.alias,
        reference.version,
    )
    assert body["threshold"] == reference.threshold
    assert body["kind"] == "lightgbm" and body["explainable"] is True
    assert {k: body[k] for k in TRAINED_STEPS} == TRAINED_STEPS
    assert body["probability_scale_text"] == "calibrated (Platt)"  # trained on all rows
    assert reference.metrics and body["metrics"] == pytest.approx(reference.metrics)
    loaded_at = datetime.fromisoformat(body["loaded_at"])
    assert served.started <= loaded_at <= datetime.now(UTC)
    assert served.client.get("/v1/model").status_code == 401


def test_health_ready_and_metrics_need_no_key(served: Served, reference: Reference) -> None:
    health = served.client.get("/health")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    ready = served.client.get("/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["ready"] is True and body["problem"] is None
    assert body["model"] == {
        "name": reference.name,
        "version": reference.version,
        "alias": reference.alias,
        **TRAINED_STEPS,
    }
    assert (body["database"], body["database_problem"]) == ("ok", None)
    assert isinstance(body["audit_spool_pending"], int)
    page = served.client.get("/metrics")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/plain")


def test_metrics_count_requests_latency_predictions_and_the_live_version(
    trained_embedded: Trained, reference: Reference, rows: list[dict[str, float]]
) -> None:
    # An app of its own: the version gauge is the last swap in this process.
    settings = api_settings(trained_embedded.settings)
    key = new_key(settings)
    with running(create_app(settings)) as client:
        before = metric_samples(client.get("/metrics").text)
        for row in rows[:3]:
            assert client.post("/v1/score", json=row, headers=key.headers).status_code == 200
        assert client.post("/v1/score", json=rows[0]).status_code == 401
        assert client.get(f"/no/such/path/{uuid.uuid4().hex}").status_code == 404
        after_text = client.get("/metrics").text
    after = metric_samples(after_text)

    def delta(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    requests = "workbench_api_requests_total"
    assert delta(requests, route="/v1/score", method="POST", status="200") == 3
    assert delta(requests, route="/v1/score", method="POST", status="401") == 1
    assert delta(requests, route="unmatched", method="GET", status="404") == 1
    assert "/no/such/path" not in after_text  # labelled by template, never the raw path
    latency = "workbench_api_request_duration_seconds"
    assert delta(f"{latency}_count", route="/v1/score") == 4
    assert delta(f"{latency}_bucket", route="/v1/score", le="+Inf") == 4
    assert delta(f"{latency}_sum", route="/v1/score") > 0
    alerts = int((reference.probability(feature_array(rows[:3])) >= reference.threshold).sum())
    assert 0 < alerts < 3
    assert delta("workbench_api_predictions_total", decision="alert") == alerts
    assert delta("workbench_api_predictions_total", decision="no_alert") == 3 - alerts
    assert sample(after, "workbench_api_model_version") == reference.version
    assert ("workbench_api_audit_spooled_total", frozenset()) in after


def test_reload_needs_the_admin_scope(served: Served, reference: Reference) -> None:
    assert served.client.post("/v1/reload").status_code == 401
    refused = served.client.post("/v1/reload", headers=served.scorer.headers)
    assert refused.status_code == 403, refused.text
    assert "admin" in refused.json()["detail"]
    response = served.client.post("/v1/reload", headers=served.admin.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["changed"] is False and body["problem"] is None  # nothing moved
    assert body["model"]["version"] == reference.version
    assert body["model"]["threshold"] == reference.threshold
    # the admin key may score too
    assert _score(served, {}).status_code == 422
    admin_score = served.client.post("/v1/score", json={}, headers=served.admin.headers)
    assert admin_score.status_code == 422  # past the key check, stopped by validation


# --------------------------------------------------------------------------- legacy /predict


def test_predict_takes_the_three_old_body_shapes(
    served: Served, reference: Reference, rows: list[dict[str, float]]
) -> None:
    expected = reference.probability(feature_array(rows))
    decisions = (expected >= reference.threshold).astype(int).tolist()
    headers = served.scorer.headers
    for i in (0, 1):
        as_list = {"features": [rows[i][name] for name in FEATURES]}
        flat = {**rows[i], "id": f"legacy-{i}", "Class": 1}
        for body in (as_list, flat):
            response = served.client.post("/predict", json=body, headers=headers)
            assert response.status_code == 200, response.text
            answer = response.json()
            assert answer["fraud_probability"] == pytest.approx(expected[i], rel=0, abs=1e-12)
            assert answer["prediction"] == decisions[i]
            assert answer["model_version"] == reference.version
            assert answer["request_id"] == response.headers["X-Request-ID"]
            assert response.headers["Deprecation"] == "true"
    data = {"data": [{**row, "Class": 0, "id": n} for n, row in enumerate(rows)]}
    response = served.client.post("/predict", json=data, headers=headers)
    assert response.status_code == 200, response.text
    answer = response.json()
    np.testing.assert_allclose(answer["fraud_probability"], expected, rtol=0, atol=1e-12)
    assert answer["prediction"] == decisions
    assert response.headers["Deprecation"] == "true"


def test_predict_needs_a_key_and_is_documented_as_deprecated(
    served: Served, rows: list[dict[str, float]]
) -> None:
    assert served.client.post("/predict", json=rows[0]).status_code == 401
    wrong = served.client.post("/predict", json=rows[0], headers=bearer("not-a-key"))
    assert wrong.status_code == 401
    operation = served.client.get("/openapi.json").json()["paths"]["/predict"]["post"]
    assert operation["deprecated"] is True
    v1 = served.client.get("/openapi.json").json()["paths"]["/v1/score"]["post"]
    assert not v1.get("deprecated", False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"features": [1, 2, 3]}', "features"),
        ("[1, 2]", "body"),
        (None, "features[4] (V4)"),  # NaN in the list, filled in below
        (None, "data[1].Amount"),  # a negative amount in the second row
        (None, "features[3] (V3)"),  # an integer of 401 digits in the list
    ],
)
def test_predict_refuses_bad_bodies_with_the_place_named(
    served: Served, rows: list[dict[str, float]], body: str | None, field: str
) -> None:
    if field.startswith("features["):
        tokens = [repr(rows[0][name]) for name in FEATURES]
        position = int(field[len("features[")])
        tokens[position] = "NaN" if position == 4 else "1" + "0" * 400
        body = '{"features": [' + ", ".join(tokens) + "]}"
    elif body is None:
        body = json.dumps({"data": [rows[0], {**rows[1], "Amount": -1.0}]})
    response = served.client.post(
        "/predict",
        content=body,
        headers={**served.scorer.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    assert field in [p["field"] for p in response.json()["detail"]]


# --------------------------------------------------------------------------- validation


def _tokens(row: dict[str, float]) -> dict[str, str]:
    return {name: repr(value) for name, value in row.items()}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"V3": None}, "V3"),  # missing
        ({"V5": '"1.5"'}, "V5"),  # a string, even one that reads as a number
        ({"V7": "true"}, "V7"),  # a boolean
        ({"V9": "NaN"}, "V9"),
        ({"V11": "Infinity"}, "V11"),
        ({"V12": "-Infinity"}, "V12"),
        ({"Amount": "-0.01"}, "Amount"),
        ({"Time": "-1"}, "Time"),
        ({"V14": "1e16"}, "V14"),  # finite, but beyond what any model is asked to take
        ({"V15": "1" + "0" * 400}, "V15"),  # an integer no float can hold
        ({"merchant": '"acme"'}, "merchant"),  # unknown: rejected by default
    ],
)
def test_a_bad_field_gets_422_naming_it(
    served: Served, rows: list[dict[str, float]], change: dict[str, str | None], field: str
) -> None:
    tokens = _tokens(rows[0])
    for name, token in change.items():
        if token is None:
            del tokens[name]
        else:
            tokens[name] = token
    response = served.client.post(
        "/v1/score",
        content=raw_json(tokens),
        headers={**served.scorer.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert [p["field"] for p in body["detail"]] == [field]
    assert body["request_id"] == response.headers["X-Request-ID"]
    good = served.client.post(
        "/v1/score",
        content=raw_json(_tokens(rows[0])),
        headers={**served.scorer.headers, "Content-Type": "application/json"},
    )
    assert good.status_code == 200, good.text


def test_a_bad_field_in_a_batch_is_named_with_its_row(
    served: Served, rows: list[dict[str, float]]
) -> None:
    batch = [rows[0], {**rows[1], "V4": "x"}, rows[2]]
    response = served.client.post(
        "/v1/score/batch", json={"transactions": batch}, headers=served.scorer.headers
    )
    assert response.status_code == 422, response.text
    assert [p["field"] for p in response.json()["detail"]] == ["transactions.1.V4"]


def test_unknown_fields_are_accepted_when_the_setting_says_ignore(
    trained_embedded: Trained, reference: Reference, rows: list[dict[str, float]]
) -> None:
    settings = api_settings(trained_embedded.settings, api_unknown_fields="ignore")
    key = new_key(settings)
    with running(create_app(settings)) as client:
        response = client.post(
            "/v1/score",
            json={**rows[0], "merchant": "acme", "Class": 1},
            headers=key.headers,
        )
        assert response.status_code == 200, response.text
        expected = reference.probability(feature_array(rows[:1]))[0]
        assert response.json()["probability"] == pytest.approx(expected, rel=0, abs=1e-12)
        # the named fields are still checked
        bad = client.post("/v1/score", json={**rows[0], "V2": "x"}, headers=key.headers)
        assert bad.status_code == 422


def _exploding(settings: Any, secret: str) -> TestClient:
    """A real app with one more route, which fails the way a bug would."""
    app = create_app(settings)

    def explode() -> None:
        raise RuntimeError(f"database password is {secret}")

    app.add_api_route("/explode", explode, methods=["GET"])
    return TestClient(app, raise_server_exceptions=False)  # no lifespan: not needed here


def test_a_failure_inside_a_route_answers_500_with_the_request_id_and_no_trace(
    trained_embedded: Trained,
) -> None:
    secret = f"secret-{uuid.uuid4().hex}"
    client = _exploding(api_settings(trained_embedded.settings), secret)
    before = metric_samples(client.get("/metrics").text)
    response = client.get("/explode")
    assert response.status_code == 500
    body = response.json()
    assert REQUEST_ID.fullmatch(body["request_id"]), body
    assert body["request_id"] in body["detail"]
    for leaked in ("Traceback", "RuntimeError", secret, "explode", 'File "'):
        assert leaked not in response.text
    after = metric_samples(client.get("/metrics").text)
    labels = {"route": "/explode", "method": "GET", "status": "500"}
    assert sample(after, "workbench_api_requests_total", **labels) == (
        sample(before, "workbench_api_requests_total", **labels) + 1
    )


# --------------------------------------------------------------------------- auth


def test_requests_without_a_valid_key_get_401_with_a_bearer_challenge(
    served: Served, rows: list[dict[str, float]]
) -> None:
    unknown = f"fwb_{uuid.uuid4().hex[:8]}_{'A' * 43}"  # well formed, never issued
    tampered = served.scorer.text[:-1] + ("B" if served.scorer.text[-1] != "B" else "C")
    for headers in (
        {},
        bearer(unknown),
        bearer(tampered),  # a real key id with the wrong secret
        bearer("garbage"),
        {"Authorization": f"Basic {served.scorer.text}"},
    ):
        response = served.client.post("/v1/score", json=rows[0], headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
        assert REQUEST_ID.fullmatch(response.json()["request_id"])
    assert _score(served, rows[0]).status_code == 200


def test_a_revoked_key_is_refused_within_the_refresh_interval(
    served: Served, rows: list[dict[str, float]]
) -> None:
    key = new_key(served.settings)
    deadline = time.monotonic() + 5
    while (status := _post_with(served, key, rows[0])) == 401 and time.monotonic() < deadline:
        time.sleep(0.05)  # a new key is picked up at the next refresh
    assert status == 200
    revoke_api_key(served.settings, name_or_id=key.name, actor=LEAD)
    revoked_at = time.monotonic()
    while (status := _post_with(served, key, rows[0])) == 200 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status == 401
    assert time.monotonic() - revoked_at < 2.0  # refresh every 0.2 s
    assert _score(served, rows[0]).status_code == 200  # the others still work


def _post_with(served: Served, key: Key, row: dict[str, float]) -> int:
    return served.client.post("/v1/score", json=row, headers=key.headers).status_code


def test_keys_never_read_make_the_worker_not_ready_and_requests_get_503(
    trained_embedded: Trained, rows: list[dict[str, float]]
) -> None:
    nowhere = f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/none"
    settings = api_settings(trained_embedded.settings, database_url=nowhere)
    with TestClient(create_app(settings)) as client:
        deadline = time.monotonic() + 60  # the model comes from MLflow and loads
        while client.get("/ready").json()["model"] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        ready = client.get("/ready")
        # a model, but no key could ever be read: nobody can be let in, so not ready
        assert ready.status_code == 503, ready.text
        body = ready.json()
        assert body["ready"] is False and body["model"] is not None
        assert body["problem"].startswith("the API keys have not been read")
        assert body["database"] == "unreachable" and body["database_problem"]
        response = client.post(
            "/v1/score", json=rows[0], headers=bearer(f"fwb_0123abcd_{'A' * 43}")
        )
        assert response.status_code == 503, response.text
        assert client.post("/v1/score", json=rows[0]).status_code == 401  # no key at all
        assert client.get("/health").status_code == 200


# --------------------------------------------------------------------------- unexplainable


def _register_elsewhere(settings: Any, frame: pd.DataFrame) -> tuple[Any, int]:
    """A scaler + logistic regression logged and registered with MLflow's own calls (skops,
    no input example: no SHAP background), aliased and given a threshold by hand."""
    x, y = frame[list(FEATURES)], frame["Class"]
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(x, y)
    version = log_elsewhere(settings, pipeline)
    uri = str(settings.tracking_uri)
    client = MlflowClient(tracking_uri=uri)
    client.set_registered_model_alias(settings.model_name, settings.live_alias, str(version))
    client.set_model_version_tag(settings.model_name, str(version), "threshold", "0.5")
    return pipeline, version


def test_a_version_that_cannot_be_explained_scores_and_says_so(
    trained_embedded: Trained, tiny_frame: pd.DataFrame, rows: list[dict[str, float]]
) -> None:
    settings = api_settings(
        trained_embedded.settings, model_name=f"elsewhere-{uuid.uuid4().hex[:8]}"
    )
    pipeline, version = _register_elsewhere(settings, tiny_frame)
    key = new_key(settings)
    with running(create_app(settings)) as client:
        response = client.post(
            "/v1/score", json=rows[0], params={"explain": "true"}, headers=key.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        frame = pd.DataFrame([rows[0]], columns=list(FEATURES))
        expected = pipeline.predict_proba(frame)[0, 1]
        assert body["probability"] == pytest.approx(expected, rel=0, abs=1e-12)
        assert body["model"]["version"] == version and body["threshold"] == 0.5
        # logged by MLflow alone, as before the steps existed: raw scale, raw Time
        assert (body["model"]["probability_scale"], body["model"]["time_feature"]) == ("raw", "raw")
        assert body["reasons"] is None
        assert "input_example" in body["explanation_problem"]
        described = client.get("/v1/model", headers=key.headers).json()
        assert described["explainable"] is False and described["kind"] == "sklearn"
        assert described["probability_scale"] == "raw" and described["time_feature"] == "raw"
        assert described["probability_scale_text"] == "raw model output (uncalibrated)"


# --------------------------------------------------------------------------- open defects


def test_a_500_carries_the_request_id_header_like_every_other_answer(
    trained_embedded: Trained,
) -> None:
    """Every answer, errors included, sends X-Request-ID (api/metrics.py's promise); a 500
    is sent by Starlette's ServerErrorMiddleware, outside ServingMiddleware, so the handler
    must add it itself."""
    client = _exploding(api_settings(trained_embedded.settings), "x")
    response = client.get("/explode")
    assert response.status_code == 500
    assert response.headers.get("X-Request-ID") == response.json()["request_id"]


def _request_schema(client: TestClient, path: str) -> dict[str, Any]:
    operation = client.get("/openapi.json").json()["paths"][path]["post"]
    return operation["requestBody"]["content"]["application/json"]["schema"]


def test_the_documented_predict_body_refuses_what_the_server_refuses(
    served: Served, rows: list[dict[str, float]]
) -> None:
    """The hand-written /predict body schema (api/legacy.py) must say Time and Amount are
    not negative, as the server does; clients and schemathesis read it."""
    validator = Draft202012Validator(_request_schema(served.client, "/predict"))
    features = [rows[0][name] for name in FEATURES]
    accepted = [rows[0], {"features": features}, {"data": [{**rows[0], "Class": 0}]}]
    refused = [
        {**rows[0], "Time": -1.0},
        {**rows[0], "Amount": -0.5},
        {"features": [-1.0, *features[1:]]},
        {"data": [rows[0], {**rows[1], "Amount": -2.0}]},
    ]
    for body in accepted:
        response = served.client.post("/predict", json=body, headers=served.scorer.headers)
        assert response.status_code == 200, response.text
        assert validator.is_valid(body)
    for body in refused:
        response = served.client.post("/predict", json=body, headers=served.scorer.headers)
        assert response.status_code == 422, response.text
        assert not validator.is_valid(body), f"the schema accepts what the server refuses: {body}"


@pytest.mark.parametrize("path", ["/v1/score", "/v1/score/batch", "/predict"])
def test_a_body_that_is_not_utf8_gets_a_documented_client_error(served: Served, path: str) -> None:
    """Found by schemathesis: a body that is not UTF-8 gets 400 "There was an error parsing
    the body" (FastAPI's answer to a UnicodeDecodeError), a status the operations do not
    document; a body that is UTF-8 but not JSON gets 422."""
    documented = served.client.get("/openapi.json").json()["paths"][path]["post"]["responses"]
    for content in (b'{"Time": "\xff\xfe"}', b"\xff"):
        response = served.client.post(
            path,
            content=content,
            headers={**served.scorer.headers, "Content-Type": "application/json"},
        )
        assert 400 <= response.status_code < 500
        assert str(response.status_code) in documented, (response.status_code, sorted(documented))
        assert REQUEST_ID.fullmatch(response.json()["request_id"])
