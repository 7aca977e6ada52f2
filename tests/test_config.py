"""Configuration mistakes get one precise message; secrets are never read from the file."""

import textwrap
from pathlib import Path

import pytest

from pipelines import config

BASE = """
[hunthouse]
home = "h"
[[tenant]]
name = "contoso"
kind = "sample"
"""


def load(tmp_path, text: str) -> config.Settings:
    path = tmp_path / "hunthouse.toml"
    path.write_text(textwrap.dedent(text))
    return config.load(path)


def test_example_config_is_valid():
    settings = config.load(config.EXAMPLE_CONFIG)
    assert [t.name for t in settings.tenants] == ["contoso", "fabrikam"]
    assert settings.owner_of("x", "Multiple failed logons for one account") == "identity-team"
    assert settings.owner_of("x", "Something else") == "secops"


def test_home_is_relative_to_the_config_file(tmp_path):
    assert load(tmp_path, BASE).home == (tmp_path / "h").resolve()


@pytest.mark.parametrize(
    "snippet, message",
    [
        ('[[tenant]]\nname = "Bad Name|x"\nkind = "sample"', "must be 1-63 lower-case"),
        ('[[tenant]]\nname = "x"\nkind = "splunk"', "kind must be one of"),
        ('[[tenant]]\nname = "contoso"\nkind = "sample"', "configured twice"),
        ('[[tenant]]\nname = "s"\nkind = "sentinel"\ntenant_id = "nope"', "'tenant_id' must be a GUID"),
        ('[bogus]\nx = 1', "unknown section [bogus]"),
    ],
)
def test_mistakes_are_named_precisely(tmp_path, snippet, message):
    with pytest.raises(config.ConfigError, match=message.replace("[", r"\[").replace("|", r"\|")):
        load(tmp_path, BASE + snippet)


GUID = "00000000-0000-0000-0000-000000000001"


def test_secret_must_be_an_env_var_name_not_a_value(tmp_path):
    snippet = f"""
[[tenant]]
name = "s"
kind = "sentinel"
tenant_id = "{GUID}"
client_id = "{GUID}"
workspace_id = "{GUID}"
client_secret_env = "abc~123.secret-value"
"""
    with pytest.raises(config.ConfigError, match="environment variable name, not the secret"):
        load(tmp_path, BASE + snippet)


def test_missing_secret_env_var_is_one_clear_line(tmp_path, monkeypatch):
    snippet = f"""
[[tenant]]
name = "s"
kind = "defender"
tenant_id = "{GUID}"
client_id = "{GUID}"
client_secret_env = "HUNTHOUSE_TEST_SECRET"
"""
    monkeypatch.delenv("HUNTHOUSE_TEST_SECRET", raising=False)
    tenant = load(tmp_path, BASE + snippet).tenant("s")
    with pytest.raises(config.ConfigError, match="HUNTHOUSE_TEST_SECRET is not set"):
        tenant.client_secret()


def test_unknown_tenant_lists_the_configured_ones(tmp_path):
    with pytest.raises(config.ConfigError, match=r"unknown tenant 'nope' \(configured: contoso\)"):
        load(tmp_path, BASE).tenant("nope")


def test_endpoints_must_be_https(tmp_path):
    snippet = f"""
[[tenant]]
name = "s"
kind = "sentinel"
tenant_id = "{GUID}"
client_id = "{GUID}"
workspace_id = "{GUID}"
client_secret_env = "X"
log_analytics_endpoint = "http://evil.example"
"""
    with pytest.raises(config.ConfigError, match="must be an https URL"):
        load(tmp_path, BASE + snippet)


@pytest.mark.parametrize("value, message", [("lots", "'memory_limit' must be a size"), ("3", "'memory_limit' must be a size")])
def test_memory_limit_must_be_a_size(value, message):
    doc = {"hunthouse": {"memory_limit": value}, "tenant": [{"name": "t", "kind": "sample"}]}
    with pytest.raises(config.ConfigError, match=message):
        config.parse(doc, base_dir=Path("/tmp"))


def test_memory_limit_and_threads_reach_the_settings():
    doc = {"hunthouse": {"memory_limit": "512MB", "threads": 1}, "tenant": [{"name": "t", "kind": "sample"}]}
    s = config.parse(doc, base_dir=Path("/tmp"))
    assert (s.memory_limit, s.threads) == ("512MB", 1)


@pytest.mark.parametrize(
    "snippet, message",
    [
        ('[tuning.never_exclude]\nprinter = ["x*"]', "[tuning.never_exclude]: unknown entity type 'printer'"),
        ('[tuning.never_exclude]\naccount = "x*"', "'account' must be a list of non-empty glob strings"),
        ('[tuning]\ntier0_hosts = [""]', "'tier0_hosts' must be a list of non-empty glob strings"),
        ("[tuning]\nmax_removed_share = 1.5", "'max_removed_share' must be above 0 and at most 1"),
        ('[tuning]\nautomation_labels = "yes"', "automation_labels"),
        ("[tuning]\nbacktest_origins = 0", "backtest_origins"),
    ],
)
def test_tuning_guard_settings_mistakes_are_named(tmp_path, snippet, message):
    with pytest.raises(config.ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        load(tmp_path, BASE + snippet)


def test_tuning_guard_settings_reach_the_settings(tmp_path):
    s = load(tmp_path, BASE + '[tuning]\nmax_removed_share = 0.4\nautomation_labels = true\n'
                              'tier0_hosts = ["SRV-DC*"]\n[tuning.never_exclude]\naccount = ["*\\\\BreakGlass*"]')
    assert (s.max_removed_share, s.automation_labels, s.tier0_hosts) == (0.4, True, ("srv-dc*",))
    assert s.never_exclude == (("account", "*\\breakglass*"),)


@pytest.mark.parametrize("url", ["abfs://lake/hunthouse", "abfss://lake@acct.dfs.core.windows.net/hh", "s3://my-bucket/lake",
                                 "file:///srv/lake"])
def test_lake_root_accepts_object_storage_urls(tmp_path, url):
    assert load(tmp_path, BASE.replace('home = "h"', f'home = "h"\nlake_root = "{url}"')).lake_root == url


@pytest.mark.parametrize("url", ["gs://bucket/lake", "abfs://lake/hh?sv=2024&sig=SECRET", "s3://"])
def test_lake_root_rejects_other_urls_and_credentials_in_the_url(tmp_path, url):
    with pytest.raises(config.ConfigError, match="'lake_root' must be a local path, file://…, abfs://"):
        load(tmp_path, BASE.replace('home = "h"', f'home = "h"\nlake_root = "{url}"'))
