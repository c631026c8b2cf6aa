"""What each person sees, by sign-in mode and role, in-process with AppTest (``at.user``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from streamlit import config
from streamlit.testing.v1 import AppTest

from core.config import Settings
from core.db import ScoringEvent, get_engine
from core.registry import list_versions
from core.tracking import get_client
from tests.conftest import REPO, Trained, settings_env

MAIN = str(REPO / "app" / "main.py")
TRAIN = str(REPO / "pages" / "train.py")
AUTH_SECTION = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "not-used-in-this-test",
    "client_id": "fraud-workbench",
    "client_secret": "not-used-in-this-test",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ROLES = "alice@example.com=ml_lead,group:fraud-leads=ml_lead,group:fraud-team=analyst"


def _app(monkeypatch: pytest.MonkeyPatch, settings: Settings, **extra: str) -> AppTest:
    for key, value in {**settings_env(settings), **extra}.items():
        monkeypatch.setenv(key, value)
    at = AppTest.from_file(MAIN, default_timeout=120)
    if extra.get("WORKBENCH_AUTH") == "oidc":
        at.secrets["auth"] = dict(AUTH_SECTION)  # what st.login needs (tests may change it)
    return at


def _sidebar(at: AppTest) -> str:
    return " ".join([m.value for m in at.sidebar.markdown] + [c.value for c in at.sidebar.caption])


def _has_train_page(at: AppTest) -> bool:
    try:
        at.switch_page(TRAIN)
    except ValueError as exc:  # AppTest knows only the pages st.navigation registered
        assert "Could not find a navigation page" in str(exc)
        return False
    return True


def test_local_mode_on_loopback_is_the_local_user_as_ml_lead(
    trained_embedded: Trained, workbench_env: pytest.MonkeyPatch
) -> None:
    at = _app(workbench_env, trained_embedded.settings, WORKBENCH_LOCAL_USER="olivia").run()
    assert not at.exception
    assert "**olivia**" in _sidebar(at) and "role **ml_lead**" in _sidebar(at)
    assert "Mode: local (one person, no sign-in)" in _sidebar(at)
    assert not any("no sign-in" in w.value for w in at.warning)
    assert _has_train_page(at)


@pytest.mark.parametrize("address", ["0.0.0.0", ""])
def test_local_mode_reachable_from_other_machines_warns_and_gives_analyst(
    address: str, tmp_path: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    config.set_option("server.address", address)  # restored by the autouse fixture
    at = _app(workbench_env, Settings(home=tmp_path), WORKBENCH_LOCAL_USER="olivia").run()
    assert not at.exception
    where = address or "every network interface"
    warning = f"This workbench listens on {where} with no sign-in (WORKBENCH_AUTH=local)"
    assert any(warning in w.value and "role **analyst**" in w.value for w in at.warning)
    assert "role **analyst**" in _sidebar(at)
    # the empty home offers no training to an analyst, and the Train page is not served
    assert "An ML lead can train one." in at.info[0].value
    assert [b.label for b in at.button] == []
    assert not _has_train_page(at)


def test_local_mode_off_loopback_keeps_a_configured_role(
    tmp_path: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    config.set_option("server.address", "0.0.0.0")
    at = _app(
        workbench_env,
        Settings(home=tmp_path),
        WORKBENCH_LOCAL_USER="olivia",
        WORKBENCH_ROLES="olivia=ml_lead",
    ).run()
    assert "role **ml_lead**" in _sidebar(at)
    assert any("acts as **olivia** with the role **ml_lead**" in w.value for w in at.warning)


def test_oidc_signed_out_sees_only_the_sign_in(
    trained_embedded: Trained, workbench_env: pytest.MonkeyPatch
) -> None:
    at = _app(workbench_env, trained_embedded.settings, WORKBENCH_AUTH="oidc")
    at.user = {"is_logged_in": False}
    at.secrets["auth"] = AUTH_SECTION
    at.run()
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert at.info[0].value == "Sign in to use the workbench."
    assert not at.dataframe and not at.metric  # no backends, no model, nothing else
    assert not at.sidebar.markdown


@pytest.mark.parametrize(
    ("user", "role"),
    [
        ({"email": "bob@example.com", "groups": ["fraud-team"]}, "analyst"),
        ({"email": "carol@example.com", "groups": ["fraud-team", "fraud-leads"]}, "ml_lead"),
        ({"email": "alice@example.com", "groups": ["fraud-team"]}, "ml_lead"),  # user entry
        ({"email": "dan@example.com"}, "analyst"),  # not mapped: analyst outside local mode
        ({"sub": "svc-42", "groups": "fraud-leads"}, "ml_lead"),  # no email: the subject
    ],
)
def test_oidc_role_comes_from_the_user_and_the_groups_claim(
    user: dict[str, object],
    role: str,
    trained_embedded: Trained,
    workbench_env: pytest.MonkeyPatch,
) -> None:
    at = _app(
        workbench_env, trained_embedded.settings, WORKBENCH_AUTH="oidc", WORKBENCH_ROLES=ROLES
    )
    at.user = {"is_logged_in": True, **user}
    at.run()
    assert not at.exception
    name = str(user.get("email") or user["sub"])
    assert f"**{name}**" in _sidebar(at) and f"role **{role}**" in _sidebar(at)
    assert "Mode: signed in with OpenID Connect" in _sidebar(at)
    assert [b.label for b in at.sidebar.button] == ["Sign out"]
    assert _has_train_page(at) is (role == "ml_lead")


def test_the_groups_claim_is_configurable(
    trained_embedded: Trained, workbench_env: pytest.MonkeyPatch
) -> None:
    at = _app(
        workbench_env,
        trained_embedded.settings,
        WORKBENCH_AUTH="oidc",
        WORKBENCH_ROLES=ROLES,
        WORKBENCH_OIDC_GROUPS_CLAIM="roles",
    )
    at.user = {"is_logged_in": True, "email": "eve@example.com", "roles": ["fraud-leads"]}
    at.run()
    assert "role **ml_lead**" in _sidebar(at)
    at.user = {"is_logged_in": True, "email": "eve@example.com", "groups": ["fraud-leads"]}
    at.run()
    assert "role **analyst**" in _sidebar(at)  # 'groups' is not the configured claim


def test_header_mode_without_the_header_is_a_clear_error(
    trained_embedded: Trained, workbench_env: pytest.MonkeyPatch
) -> None:
    at = _app(
        workbench_env,
        trained_embedded.settings,
        WORKBENCH_AUTH="header",
        WORKBENCH_AUTH_USER_HEADER="X-Remote-User",
    ).run()
    assert not at.exception
    assert "No user name arrived in the **X-Remote-User** header" in at.error[0].value
    assert not at.dataframe and not at.button


def test_a_misconfigured_role_map_is_one_error_not_a_traceback(
    trained_embedded: Trained, workbench_env: pytest.MonkeyPatch
) -> None:
    at = _app(workbench_env, trained_embedded.settings, WORKBENCH_ROLES="bob=boss").run()
    assert not at.exception
    assert at.error[0].value.startswith("The workbench is misconfigured: WORKBENCH_ROLES:")


def test_a_score_from_the_page_is_audited_under_the_signed_in_user(
    trained_embedded: Trained, workbench_env: pytest.MonkeyPatch
) -> None:
    settings = trained_embedded.settings
    at = _app(workbench_env, settings, WORKBENCH_AUTH="oidc", WORKBENCH_ROLES=ROLES)
    at.user = {"is_logged_in": True, "email": "bob@example.com", "groups": ["fraud-team"]}
    at.run()
    at.switch_page(str(REPO / "pages" / "score.py")).run()
    score = [b for b in at.button if b.label.startswith("Score")]
    score[0].click().run()
    assert not at.exception and not at.error
    with Session(get_engine(settings)) as session:
        actors = session.scalars(
            select(ScoringEvent.actor).where(ScoringEvent.source == "ui")
        ).all()
    assert "bob@example.com" in actors
    assert "analyst (not signed in)" not in actors


def test_an_ml_lead_trains_from_the_train_page(
    tmp_path: Path, tiny_csv: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path)
    at = _app(workbench_env, settings, WORKBENCH_LOCAL_USER="olivia").run()
    at.switch_page(TRAIN).run()
    assert [b.label for b in at.button] == ["Train"] and at.button[0].disabled
    at.file_uploader[0].set_value(("my-data.csv", tiny_csv.read_bytes(), "text/csv"))
    at.run()
    at.radio[0].set_value("logreg")
    at.number_input[0].set_value(0.25)
    at.button[0].click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.success[0].value.startswith("Registered **fraud-detector** version **1** (logreg)")
    assert "alias **@champion** set to it" in at.success[0].value
    version = list_versions(settings)[0]
    run = get_client(settings).get_run(version.run_id)
    assert (run.data.params["data"], run.data.tags["mlflow.user"]) == ("my-data.csv", "olivia")
    assert float(version.tags["sampling_fraction"]) == 0.25


def test_oidc_without_an_auth_section_says_what_to_configure(
    trained_embedded: Trained, workbench_env: pytest.MonkeyPatch
) -> None:
    at = _app(workbench_env, trained_embedded.settings, WORKBENCH_AUTH="oidc")
    at.user = {"is_logged_in": False}
    at.secrets.clear()  # no [auth] section: st.login would raise
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith("WORKBENCH_AUTH=oidc needs an [auth] section")
    assert not at.button


def test_home_offers_audit_retry_to_an_ml_lead_only(
    trained_embedded: Trained, tmp_path: Path, workbench_env: pytest.MonkeyPatch
) -> None:
    import numpy as np
    import pyarrow as pa

    from core.audit import ScoringEventRecord, log_scoring, make_predictions_table

    live = trained_embedded.settings
    settings = Settings(
        home=tmp_path / "home", tracking_uri=live.tracking_uri, model_name=live.model_name
    )
    row = make_predictions_table(
        row_number=None,
        transaction_id=None,
        features=np.zeros((1, 30)),
        probability=np.zeros(1),
        decision=np.zeros(1),
    )
    refused = row.set_column(2, "input_hash", pa.nulls(1, pa.string()))
    event = ScoringEventRecord("ui", "t", "m", 1, None, 0.5, 1, 1, 0, 0)
    assert log_scoring(settings, event, refused).stored == "set_aside"

    lead = _app(workbench_env, settings).run()
    assert "1 audit record was refused" in lead.error[0].value
    assert "Retry the set-aside records" in [b.label for b in lead.button]

    config.set_option("server.address", "0.0.0.0")  # the same home, seen by a visitor
    analyst = _app(workbench_env, settings).run()
    assert not analyst.exception
    assert "role **analyst**" in _sidebar(analyst)
    assert "1 audit record was refused" in analyst.error[0].value  # shown, not hidden
    assert "Retry the set-aside records" not in [b.label for b in analyst.button]
    assert "An ML lead can replay or retry these records." in [c.value for c in analyst.caption]


def test_the_explain_page_renders_for_an_analyst(
    trained_embedded: Trained, workbench_env: pytest.MonkeyPatch
) -> None:
    config.set_option("server.address", "0.0.0.0")
    at = _app(workbench_env, trained_embedded.settings).run()
    at.switch_page(str(REPO / "pages" / "explain.py")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert "role **analyst**" in _sidebar(at)
    assert at.subheader and "The live model overall" in [s.value for s in at.subheader]


def test_a_name_cannot_inject_markdown_into_the_sidebar(
    trained_embedded: Trained, workbench_env: pytest.MonkeyPatch
) -> None:
    at = _app(workbench_env, trained_embedded.settings, WORKBENCH_AUTH="oidc")
    at.user = {"is_logged_in": True, "email": "x** [click me](http://evil.example) **"}
    at.run()
    assert not at.exception
    assert "\\[click me\\](http\\://evil.example)" in _sidebar(at)
    assert "[click me](http" not in _sidebar(at)


def test_oidc_with_an_incomplete_auth_section_names_what_is_missing(
    trained_embedded: Trained, workbench_env: pytest.MonkeyPatch
) -> None:
    at = _app(workbench_env, trained_embedded.settings, WORKBENCH_AUTH="oidc")
    at.user = {"is_logged_in": False}
    at.secrets["auth"] = {**AUTH_SECTION, "cookie_secret": "", "client_secret": ""}
    at.run()
    assert not at.exception
    assert at.error[0].value.startswith(
        "WORKBENCH_AUTH=oidc needs cookie_secret, client_secret in its [auth] section"
    )
    assert not at.button


def test_a_page_refused_by_its_address_is_named_not_silently_replaced() -> None:
    from app.ui.pages import refused_page
    from tests.conftest import LEAD, analyst

    bob = analyst("bob")
    assert refused_page(bob, "http://127.0.0.1:8501/train") == "Train a model"
    assert refused_page(bob, "http://host/prefix/train/?x=1") == "Train a model"
    assert refused_page(LEAD, "http://127.0.0.1:8501/train") is None
    assert refused_page(bob, "http://127.0.0.1:8501/compare") is None  # analysts may view
    assert refused_page(bob, "http://127.0.0.1:8501/") is None
    assert refused_page(bob, None) is None
