from pathlib import Path

import pytest

from core.config import Settings, get_settings, mask_url, show_url
from core.errors import ConfigError


def test_embedded_defaults_live_under_home(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path)
    assert settings.tracking_uri == f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert settings.database_url == f"sqlite:///{tmp_path / 'workbench.db'}"
    assert settings.artifact_root == (tmp_path / "artifacts").as_uri()
    assert (settings.model_name, settings.live_alias) == ("fraud-detector", "champion")


def test_environment_is_read_and_explicit_arguments_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path / "from-env"))
    monkeypatch.setenv("WORKBENCH_MODEL_NAME", "env-model")
    assert Settings().home == (tmp_path / "from-env").resolve()
    assert Settings().model_name == "env-model"
    assert Settings(model_name="explicit").model_name == "explicit"


def test_get_settings_reads_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("WORKBENCH_LIVE_ALIAS", "first")
    try:
        assert get_settings().live_alias == "first"
        monkeypatch.setenv("WORKBENCH_LIVE_ALIAS", "second")
        assert get_settings().live_alias == "first"
    finally:
        get_settings.cache_clear()


@pytest.mark.parametrize(
    ("field", "url", "valid"),
    [
        ("tracking_uri", "mysql://root@db/mlflow", "sqlite://, postgresql://"),
        ("artifact_root", "gs://bucket/path", "file://, s3://"),
        ("database_url", "mongodb://localhost/app", "sqlite://, postgresql://"),
    ],
)
def test_unknown_scheme_lists_the_valid_ones(field: str, url: str, valid: str) -> None:
    with pytest.raises(ConfigError, match=f"unknown URL scheme.*valid schemes are: {valid}"):
        Settings(**{field: url})


def test_unknown_scheme_from_environment_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    monkeypatch.setenv("WORKBENCH_DATABASE_URL", "oracle://scott:tiger@db/app")
    try:
        with pytest.raises(ConfigError, match="WORKBENCH_DATABASE_URL") as caught:
            get_settings()
        assert "tiger" not in str(caught.value)
    finally:
        get_settings.cache_clear()


def test_bare_artifact_path_becomes_a_file_url(tmp_path: Path) -> None:
    assert Settings(artifact_root=str(tmp_path / "a")).artifact_root == (tmp_path / "a").as_uri()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql+psycopg2://app:s3cr3t@db:5432/wb", "postgresql+psycopg2://app:***@db:5432/wb"),
        ("https://user:tok@mlflow.example.com", "https://user:***@mlflow.example.com"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("postgresql://app@db/wb", "postgresql://app@db/wb"),
    ],
)
def test_mask_url_hides_passwords(url: str, shown: str) -> None:
    assert mask_url(url) == shown


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        # a '/' in a password: a generic URL parser takes it for the path and shows it all
        ("postgresql://app:pa/ss@db/wb", "postgresql://app:***@db/wb"),
        ("postgresql+psycopg://app:s3cr3t@db:5432/wb", "postgresql+psycopg://app:***@db:5432/wb"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("https://user:tok@mlflow.example.com", "https://user:***@mlflow.example.com"),
        ("s3://bucket/prefix", "s3://bucket/prefix"),
    ],
)
def test_show_url_lets_sqlalchemy_parse_database_urls(url: str, shown: str) -> None:
    assert show_url(url) == shown


def test_a_database_password_with_a_slash_never_shows() -> None:
    settings = Settings(database_url="postgresql://app:pa/ss@db/wb")
    assert "pa/ss" not in repr(settings) and "pa/ss" not in str(settings.masked())


def test_masked_settings_never_show_the_password() -> None:
    settings = Settings(database_url="postgresql://app:hunter2@db/wb")
    assert "hunter2" not in repr(settings.masked())
    assert settings.masked()["App database"] == "postgresql://app:***@db/wb"


def test_repr_masks_passwords() -> None:
    settings = Settings(tracking_uri="postgresql://ml:hunter2@db/mlflow")
    assert "hunter2" not in repr(settings)
    assert "hunter2" not in str(settings)


@pytest.mark.parametrize("field", ["model_name", "live_alias", "experiment_name"])
@pytest.mark.parametrize("value", ["it's", "a b", "", "-lead"])
def test_names_must_be_plain(field: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"WORKBENCH_{field.upper()}"):
        Settings(**{field: value})


def test_the_default_home_is_the_user_data_directory_from_any_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WORKBENCH_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    homes = []
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        monkeypatch.chdir(tmp_path / folder)
        homes.append(Settings().home)
    assert homes == [tmp_path / "data" / "fraud-workbench"] * 2
    assert Settings().tracking_uri == f"sqlite:///{tmp_path / 'data' / 'fraud-workbench'}/mlflow.db"
    assert not (tmp_path / "a" / ".workbench").exists()


def test_workbench_home_overrides_the_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("WORKBENCH_HOME", "relative-home")
    monkeypatch.chdir(tmp_path)
    assert Settings().home == tmp_path / "relative-home"


def test_tests_never_use_the_real_user_data_directory() -> None:
    import os

    real = Path.home() / ".local" / "share"
    assert Path(os.environ["XDG_DATA_HOME"]) != real
    assert "WORKBENCH_HOME" not in os.environ or not os.environ["WORKBENCH_HOME"].startswith(
        str(real)
    )


def test_an_old_home_in_the_current_folder_is_found_unless_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from core.config import find_old_home, old_home_message

    settings = Settings(home=tmp_path / "new")
    assert find_old_home(settings, tmp_path) is None
    (tmp_path / ".workbench").mkdir()
    assert find_old_home(settings, tmp_path) == tmp_path / ".workbench"
    assert find_old_home(Settings(home=tmp_path / ".workbench"), tmp_path) is None
    monkeypatch.chdir(tmp_path)
    assert find_old_home(Settings(home=".workbench")) is None  # relative, the same folder
    assert find_old_home(settings) == tmp_path / ".workbench"
    spaced = tmp_path / "my project" / ".workbench"
    assert old_home_message(spaced, settings).endswith(f"export WORKBENCH_HOME='{spaced}'")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / ".workbench").write_text("a file, not a home")
    assert find_old_home(settings, tmp_path / "elsewhere") is None
