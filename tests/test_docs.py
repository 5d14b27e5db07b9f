import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTING = re.compile(r"""_(?:str|int|bool|list|rates)\(\s*"([A-Z][A-Z0-9_]+)\"""")


def _documented() -> set[str]:
    text = (ROOT / ".env.example").read_text()
    return set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", text, flags=re.M))


def test_env_example_documents_every_setting_config_reads():
    read = set(SETTING.findall((ROOT / "config.py").read_text()))
    read |= set(SETTING.findall((ROOT / "gunicorn.conf.py").read_text())) - {
        "LOG_LEVEL"
    }

    assert read, "the pattern found no settings: the test would pass vacuously"
    assert read - _documented() == set()


def test_readme_table_names_every_api_md_variable():
    readme = (ROOT / "README.md").read_text()
    for name in (
        "BOOKSTORE_ENV",
        "SECRET_KEY",
        "DATABASE_URL",
        "JWT_ACCESS_TTL",
        "JWT_REFRESH_TTL",
        "JWT_REFRESH_GRACE",
        "RATELIMIT_ENABLED",
        "RATELIMIT_STORAGE_URI",
        "REDIS_URL",
        "CORS_ORIGINS",
    ):
        assert f"`{name}`" in readme
