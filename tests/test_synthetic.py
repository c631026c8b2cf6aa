import numpy as np
import pytest

from core.data import generate_transactions
from core.errors import InputError
from core.schema import FEATURES, LABEL


def test_shape_order_and_rate() -> None:
    frame = generate_transactions(50_000, seed=1)
    assert list(frame.columns) == [*FEATURES, LABEL]
    assert frame["Time"].is_monotonic_increasing
    assert frame[LABEL].sum() == round(50_000 * 0.00172)
    assert (frame["Amount"] >= 0).all() and frame["Time"].between(0, 172_800).all()


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    a, b = generate_transactions(2000, seed=5), generate_transactions(2000, seed=5)
    assert a.equals(b)
    assert not a.equals(generate_transactions(2000, seed=6))


def test_frauds_differ_where_ulb_frauds_differ() -> None:
    frame = generate_transactions(40_000, fraud_rate=0.05, seed=2)
    fraud, legit = frame[frame[LABEL] == 1], frame[frame[LABEL] == 0]
    for name, sign in (("V14", -1), ("V12", -1), ("V4", 1), ("V11", 1)):
        assert sign * (fraud[name].mean() - legit[name].mean()) > 0.5, name
    assert abs(fraud["V26"].mean() - legit["V26"].mean()) < 0.1  # no signal there


def test_drift_shifts_only_the_chosen_features() -> None:
    base = generate_transactions(20_000, seed=4)
    drifted = generate_transactions(20_000, seed=4, drift={"V3": 2.0, "Amount": 1.0})
    assert drifted["V3"].mean() - base["V3"].mean() == pytest.approx(2.0 * 1.52, rel=0.01)
    assert np.log(drifted["Amount"] + 0.01).mean() > np.log(base["Amount"] + 0.01).mean() + 1
    assert np.allclose(drifted["V5"], base["V5"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rows": 0}, "rows must be at least 1"),
        ({"rows": 10, "fraud_rate": 1.5}, "fraud_rate"),
        ({"rows": 10, "drift": {"V99": 1.0}}, "cannot drift V99"),
        ({"rows": 10, "drift": {"Time": 1.0}}, "cannot drift Time"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        generate_transactions(**kwargs)
