import numpy as np
import pandas as pd
import pytest

from core.data import generate_transactions
from core.errors import InputError
from core.schema import FEATURES, LABEL


def test_shape_order_and_rate() -> None:
    frame = generate_transactions(50_000, seed=1)
    assert list(frame.columns) == [*FEATURES, LABEL]
    assert frame["Time"].is_monotonic_increasing
    assert frame[LABEL].sum() == 86  # 0.172% of 50,000, as in the ULB set
    # two days of seconds, both days used; amounts around exp(3) = 20 with cents
    assert frame["Time"].min() < 3_600 and 169_200 < frame["Time"].max() <= 172_800
    assert np.median(np.log(frame["Amount"])) == pytest.approx(3.0, abs=0.05)
    assert (frame["Amount"] * 100).round(6).mod(1).eq(0).all()


def test_start_time_moves_only_the_clock() -> None:
    base = generate_transactions(500, seed=7)
    later = generate_transactions(500, seed=7, start_time=172_800.0)
    assert (later["Time"] - base["Time"]).eq(172_800.0).all()
    pd.testing.assert_frame_equal(later.drop(columns="Time"), base.drop(columns="Time"))


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    a, b = generate_transactions(2000, seed=5), generate_transactions(2000, seed=5)
    assert a.equals(b)
    assert not a.equals(generate_transactions(2000, seed=6))


def test_frauds_differ_where_ulb_frauds_differ() -> None:
    frame = generate_transactions(40_000, fraud_rate=0.05, seed=2)
    fraud, legit = frame[frame[LABEL] == 1], frame[frame[LABEL] == 0]
    # mean fraud shift = mean strength (gamma 1.5 x 0.6 = 0.9) x shift x the ULB std
    for name, expected in (("V14", -2.94), ("V12", -2.70), ("V4", 2.81), ("V11", 2.02)):
        assert fraud[name].mean() - legit[name].mean() == pytest.approx(expected, abs=0.2), name
    assert abs(fraud["V26"].mean() - legit["V26"].mean()) < 0.1  # no signal there
    # 40% of frauds test the card with a tiny amount (exp(0.7) = 2.01 at most)
    assert (fraud["Amount"] <= 2.02).mean() == pytest.approx(0.4, abs=0.04)


def test_drift_shifts_only_the_chosen_features() -> None:
    base = generate_transactions(20_000, seed=4)
    drifted = generate_transactions(20_000, seed=4, drift={"V3": 2.0, "Amount": 1.0})
    assert drifted["V3"].mean() - base["V3"].mean() == pytest.approx(2.0 * 1.52, rel=0.01)
    shift = np.median(np.log(drifted["Amount"])) - np.median(np.log(base["Amount"]))
    assert shift == pytest.approx(1.0 * 1.3, abs=0.02)  # 1 std of log-amount
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
