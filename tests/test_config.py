"""Configuration mistakes get one precise message; secrets are never read from the file."""

import re
import textwrap
from pathlib import Path

import pytest

from pipelines import cli, config

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
        ('[[tenant]]\nname = "x"\nkind = "splunk"', "[[tenant]] 'x' kind: must be one of sample, sentinel, defender (got 'splunk')"),
        ('[[tenant]]\nname = "contoso"\nkind = "sample"', "configured twice"),
        ('[[tenant]]\nname = "s"\nkind = "sentinel"\ntenant_id = "nope"', "[[tenant]] 's' tenant_id: must be a GUID (got 'nope')"),
        ('[bogus]\nx = 1', "unknown section [bogus]"),
    ],
)
def test_mistakes_are_named_precisely(tmp_path, snippet, message):
    with pytest.raises(config.ConfigError, match=re.escape(message)):
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


@pytest.mark.parametrize("value, message", [("lots", "memory_limit: must be a size"), ("3", "memory_limit: must be a size")])
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
        ('[tuning.never_exclude]\nprinter = ["x*"]', "[tuning.never_exclude] unknown entity type 'printer'"),
        ('[tuning.never_exclude]\naccount = "x*"', "[tuning.never_exclude] account: must be a list of non-empty glob strings"),
        ('[tuning]\ntier0_hosts = [""]', "[tuning] tier0_hosts: must be a list of non-empty glob strings"),
        ("[tuning]\nmax_removed_share = 1.5", "[tuning] max_removed_share: must be above 0 and at most 1 (got 1.5)"),
        ('[tuning]\nautomation_labels = "yes"', "automation_labels"),
        ("[tuning]\nbacktest_origins = 0", "backtest_origins"),
    ],
)
def test_tuning_guard_settings_mistakes_are_named(tmp_path, snippet, message):
    with pytest.raises(config.ConfigError, match=re.escape(message)):
        load(tmp_path, BASE + snippet)


def test_tuning_guard_settings_reach_the_settings(tmp_path):
    s = load(tmp_path, BASE + '[tuning]\nmax_removed_share = 0.4\nautomation_labels = true\n'
                              'tier0_hosts = ["SRV-DC*"]\n[tuning.never_exclude]\naccount = ["*\\\\BreakGlass*"]')
    assert (s.max_removed_share, s.automation_labels, s.tier0_hosts) == (0.4, True, ("srv-dc*",))
    assert s.never_exclude == (("account", "*\\breakglass*"),)


def mistakes(tmp_path, text: str) -> list[str]:
    """The lines a file's mistakes are reported as, without the file name that starts each."""
    with pytest.raises(config.ConfigError) as caught:
        load(tmp_path, text)
    prefix = f"{tmp_path / 'hunthouse.toml'}: "
    assert all(line.startswith(prefix) for line in caught.value.lines)
    assert str(caught.value) == "\n".join(caught.value.lines)
    return [line.removeprefix(prefix) for line in caught.value.lines]


SENTINEL = f"""
[[tenant]]
name = "acme"
kind = "sentinel"
tenant_id = "{GUID}"
client_id = "{GUID}"
client_secret_env = "ACME_SECRET"
"""


def test_a_misspelt_key_is_named_with_the_closest_known_one(tmp_path):
    assert mistakes(tmp_path, BASE + SENTINEL + f'worksapce_id = "{GUID}"') == [
        "[[tenant]] 'acme' unknown setting 'worksapce_id' (did you mean 'workspace_id'?)",
    ]  # one mistake, one line: the required workspace_id it was meant to be is not reported missing too
    assert mistakes(tmp_path, BASE + "[tuning]\nmin_decisons = 3") == [
        "[tuning] unknown setting 'min_decisons' (did you mean 'min_decisions'?)"]
    assert mistakes(tmp_path, BASE + "[tunning]\nfit_days = 30") == ["unknown section [tunning] (did you mean [tuning]?)"]


def test_an_unknown_key_with_no_close_match_lists_the_known_ones(tmp_path):
    assert mistakes(tmp_path, BASE + '[tuning.never_exclude]\nprinter = ["x*"]') == [
        "[tuning.never_exclude] unknown entity type 'printer' "
        "(known: account, host, ip, file, process, url, filehash, dns, mailbox)"]


def test_a_key_of_another_tenant_kind_is_named_as_such(tmp_path):
    defender = SENTINEL.replace('"sentinel"', '"defender"').replace('"acme"', '"northwind"')
    assert mistakes(tmp_path, BASE + defender + f'workspace_id = "{GUID}"') == [
        "[[tenant]] 'northwind' unknown setting 'workspace_id': it is a setting of kind 'sentinel', not 'defender'"]
    assert mistakes(tmp_path, BASE + SENTINEL + f'workspace_id = "{GUID}"\nseed = 3') == [
        "[[tenant]] 'acme' unknown setting 'seed': it is a setting of kind 'sample', not 'sentinel'"]
    assert mistakes(tmp_path, BASE.replace('"sample"', '"sample"\nclient_id = "x"')) == [
        "[[tenant]] 'contoso' unknown setting 'client_id': it is a setting of kind 'sentinel' or 'defender', "
        "not 'sample'"]


def test_a_missing_or_unknown_kind_is_one_line(tmp_path):
    assert mistakes(tmp_path, '[[tenant]]\nname = "x"') == [
        "[[tenant]] 'x' missing required setting 'kind' (one of sample, sentinel, defender)"]
    assert mistakes(tmp_path, '[[tenant]]\nname = "Bad Name"\nkind = "splunk"') == [
        "[[tenant]] #1 kind: must be one of sample, sentinel, defender (got 'splunk')"]


def test_every_mistake_in_the_file_is_reported_together(tmp_path):
    text = f"""
[hunthouse]
home = "h"
lookback_days = "3"
[tuning]
min_confidence = 1.5
automation_labels = "yes"
[delivery]
webhook_kind = "irc"
[[tenant]]
name = "acme"
kind = "sentinel"
tenant_id = "nope"
client_id = "{GUID}"
client_secret_env = "ACME_SECRET"
workspace_id = "{GUID}"
log_analytics_endpoint = "http://api.loganalytics.io"
"""
    assert sorted(mistakes(tmp_path, text)) == [
        "[[tenant]] 'acme' log_analytics_endpoint: must be an https URL (got 'http://api.loganalytics.io')",
        "[[tenant]] 'acme' tenant_id: must be a GUID (got 'nope')",
        "[delivery] webhook_kind: must be teams or slack (got 'irc')",
        "[hunthouse] lookback_days: must be an integer (got '3')",
        "[tuning] automation_labels: must be true or false (got 'yes')",
        "[tuning] min_confidence: must be between 0 and 1 (got 1.5)",
    ]


@pytest.mark.parametrize("snippet, secret", [
    ('client_secret = "Zq8~s3cr3t.value"', "Zq8~s3cr3t.value"),  # a secret under an unknown key
    ('client_secret_env = "Zq8~s3cr3t.value"', "Zq8~s3cr3t.value"),  # the secret where its variable's name goes
])
def test_a_secret_in_the_wrong_place_is_never_echoed(tmp_path, snippet, secret):
    text = BASE + SENTINEL.replace('client_secret_env = "ACME_SECRET"\n', "") + f'workspace_id = "{GUID}"\n{snippet}'
    with pytest.raises(config.ConfigError) as caught:
        load(tmp_path, text)
    assert secret not in str(caught.value) and "client_secret" in str(caught.value)


def test_delivery_secrets_are_never_echoed(tmp_path):
    lines = mistakes(tmp_path, BASE + '[delivery]\nsmtp_password = "hunter2!"\nwebhook_url_env = "https://hooks.example/T0/B0/XyZ"')
    assert sorted(lines) == [
        "[delivery] unknown setting 'smtp_password' (did you mean 'smtp_password_env'?)",
        "[delivery] webhook_url_env: must be an environment variable name, not the secret itself"]


@pytest.mark.parametrize("snippet, line", [
    ("[hunthouse]\nthreads = -1", "[hunthouse] threads: must be 0 or more (got -1)"),
    ('[hunthouse]\nschedule_cron = "0 2 * *"', "[hunthouse] schedule_cron: must have 5 fields (got '0 2 * *')"),
    ('[hunthouse]\nstart_date = "2026-10-01"',
     "[hunthouse] start_date: must be a TOML date: YYYY-MM-DD, without quotes (got '2026-10-01')"),
    ("[firewall]\nbaseline_days = 0", "[firewall] baseline_days: must be positive (got 0)"),
    ("[tuning]\nfit_days = 30.5", "[tuning] fit_days: must be an integer (got 30.5)"),
    ("[quality]\nquarantine_threshold = 2", "[quality] quarantine_threshold: must be between 0 and 1 (got 2)"),
    ('[[owners.rule]]\nmatch = "*x*"', "[[owners.rule]] #1 missing required setting 'owner'"),
    ('[[tenant]]\nname = "s"\nkind = "sample"\nscale = 0', "[[tenant]] 's' scale: must be positive (got 0)"),
    ('[[tenant]]\nname = "s"\nkind = "sample"\nstart = 2026-10-05\nend = 2026-10-01',
     "[[tenant]] 's' start 2026-10-05 is after end 2026-10-01"),
    (f'[[tenant]]\nname = "d"\nkind = "defender"\ntenant_id = "{GUID}"\nclient_id = "{GUID}"',
     "[[tenant]] 'd' set exactly one of 'client_secret_env' (an environment variable name) or 'certificate_path'"),
    (f'[[tenant]]\nname = "d"\nkind = "defender"\ntenant_id = "{GUID}"\nclient_secret_env = "X"',
     "[[tenant]] 'd' missing required setting 'client_id'"),
    ('[delivery]\nsmtp_port = 70000', "[delivery] smtp_port: must be at most 65535 (got 70000)"),
    ('[delivery]\nsmtp_host = "mail"\nfrom = "hunthouse"',
     "[delivery] from: must be the sender's e-mail address (got 'hunthouse')"),
    ('[delivery]\nsmtp_ca_file = "/nonexistent/ca.pem"', "[delivery] smtp_ca_file: no such file (got '/nonexistent/ca.pem')"),
    ('[delivery]\nsmtp_user = "u"', "[delivery] set both 'smtp_user' and 'smtp_password_env' (the variable holding "
                                    "the password), or neither"),
])
def test_each_rule_of_the_file_is_one_line_naming_table_and_key(tmp_path, snippet, line):
    if snippet.startswith("[hunthouse]\n"):  # BASE has that table already
        text = BASE.replace('home = "h"\n', 'home = "h"\n' + snippet.removeprefix("[hunthouse]\n") + "\n")
    else:
        text = BASE + snippet
    assert mistakes(tmp_path, text) == [line]


def test_no_tenant_at_all_is_named(tmp_path):
    assert mistakes(tmp_path, '[hunthouse]\nhome = "h"') == ["no tenants configured: add at least one [[tenant]] table"]


WORKSPACE_RESOURCE_ID = (f"/subscriptions/{GUID}/resourceGroups/rg-sec.ops(1)/providers/"
                         "Microsoft.OperationalInsights/workspaces/law-sec-01")


def test_sentinel_tenant_exposes_its_workspace_resource_and_resource_manager_endpoint(tmp_path):
    sentinel = BASE + SENTINEL + f'workspace_id = "{GUID}"\n'
    tenant = load(tmp_path, sentinel).tenant("acme")
    assert (tenant.workspace_resource_id, tenant.resource_manager_endpoint) == ("", "https://management.azure.com")
    tenant = load(tmp_path, sentinel + f'workspace_resource_id = "{WORKSPACE_RESOURCE_ID}/"\n'
                                       'resource_manager_endpoint = "https://management.usgovcloudapi.net/"').tenant("acme")
    assert tenant.workspace_resource_id == WORKSPACE_RESOURCE_ID
    assert tenant.resource_manager_endpoint == "https://management.usgovcloudapi.net"
    lower = WORKSPACE_RESOURCE_ID.replace("resourceGroups", "resourcegroups").replace("Microsoft.", "microsoft.")
    assert load(tmp_path, sentinel + f'workspace_resource_id = "{lower}"').tenant("acme").workspace_resource_id == lower


@pytest.mark.parametrize("value", [
    f"/subscriptions/{GUID}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/law",
    "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law",
    f"/subscriptions/{GUID}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law/../x",
    f"/subscriptions/{GUID}/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law?api-version=1",
    GUID,
])
def test_a_workspace_resource_id_of_another_shape_names_the_expected_one(tmp_path, value):
    assert mistakes(tmp_path, BASE + SENTINEL + f'workspace_id = "{GUID}"\nworkspace_resource_id = "{value}"') == [
        "[[tenant]] 'acme' workspace_resource_id: must be the workspace's Azure resource ID, /subscriptions/"
        "<subscription id>/resourceGroups/<resource group>/providers/Microsoft.OperationalInsights/workspaces/"
        f"<workspace name> (got '{value}')"]


@pytest.mark.parametrize("value", ["http://management.azure.com", "http://127.0.0.1:8080", "https://x/\nSecurityEvent"])
def test_the_resource_manager_endpoint_is_https_like_every_endpoint(tmp_path, value):
    in_toml = value.replace("\n", "\\n")
    text = BASE + SENTINEL + f'workspace_id = "{GUID}"\nresource_manager_endpoint = "{in_toml}"'
    assert mistakes(tmp_path, text) == [
        f"[[tenant]] 'acme' resource_manager_endpoint: must be an https URL (got {value!r})"]


def test_the_resource_manager_settings_belong_to_sentinel_tenants_only(tmp_path):
    defender = SENTINEL.replace('"sentinel"', '"defender"')
    assert mistakes(tmp_path, BASE + defender + 'resource_manager_endpoint = "https://management.azure.com"') == [
        "[[tenant]] 'acme' unknown setting 'resource_manager_endpoint': it is a setting of kind 'sentinel', "
        "not 'defender'"]


def test_the_cli_prints_every_mistake_and_exits_2_without_a_traceback(tmp_path, capsys):
    path = tmp_path / "hunthouse.toml"
    path.write_text(BASE + "[tuning]\nmin_confidence = 1.5\nmin_decisons = 3\n", encoding="utf-8")
    assert cli.main(["status", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        f"hunthouse: {path}: [tuning] min_confidence: must be between 0 and 1 (got 1.5)",
        f"{path}: [tuning] unknown setting 'min_decisons' (did you mean 'min_decisions'?)",
    ]


def test_the_commented_examples_are_valid_once_uncommented(tmp_path):
    """The example file's commented sentinel, defender and delivery tables are what users copy."""
    text = config.EXAMPLE_CONFIG.read_text(encoding="utf-8")
    blocks = []
    for paragraph in text.split("\n\n"):
        lines = paragraph.splitlines()
        starts = [i for i, line in enumerate(lines) if line in ("# [[tenant]]", "# [delivery]")]
        if starts:  # the prose above the table stays out
            blocks.append("\n".join(line.removeprefix("# ") for line in lines[starts[0]:]))
    assert len(blocks) == 3
    settings = load(tmp_path, BASE + "\n" + "\n".join(blocks))
    assert [t.kind for t in settings.tenants] == ["sample", "sentinel", "defender"]
    woodgrove = settings.tenant("woodgrove")
    assert woodgrove.workspace_resource_id.endswith("/providers/Microsoft.OperationalInsights/workspaces/law-security")
    assert woodgrove.resource_manager_endpoint == "https://management.azure.com"
    assert settings.delivery is not None and settings.delivery.addresses("secops") == ("secops@example.com",)


@pytest.mark.parametrize("url", ["abfs://lake/hunthouse", "abfss://lake@acct.dfs.core.windows.net/hh", "s3://my-bucket/lake",
                                 "file:///srv/lake"])
def test_lake_root_accepts_object_storage_urls(tmp_path, url):
    assert load(tmp_path, BASE.replace('home = "h"', f'home = "h"\nlake_root = "{url}"')).lake_root == url


@pytest.mark.parametrize("url", ["gs://bucket/lake", "abfs://lake/hh?sv=2024&sig=SECRET", "s3://"])
def test_lake_root_rejects_other_urls_and_credentials_in_the_url(tmp_path, url):
    with pytest.raises(config.ConfigError, match="lake_root: must be a local path, file://…, abfs://") as caught:
        load(tmp_path, BASE.replace('home = "h"', f'home = "h"\nlake_root = "{url}"'))
    assert "SECRET" not in str(caught.value)  # a SAS token in the URL is never echoed
    assert "SECRET" not in str(caught.value)
