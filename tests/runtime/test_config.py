"""Config: TOML and environment to frozen objects; every mistake names the file and key path."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest

from lpbot.errors import ConfigError
from lpbot.runtime.config import Config, PluginConfig, Secret, default_state_dir
from lpbot.runtime.sandbox_options import start_sandbox

ACCOUNT = "\n[account]\nid = \"12345678\"\n"
MISTAKES = [
    ("[bot]\nworkers = \"four\"\n", "bot.workers: expected an integer, got a string ('four')"),
    ("[bott]\nname = \"x\"\n", "bott: unknown section"),
    ("[bot]\nwrokers = 4\n", "bot.wrokers: unknown key"),
    ("[bot]\nworkers = 0\n", "bot.workers: must be at least 1"),
    ("[bot]\ngc_threshold = -1\n", "bot.gc_threshold: must be at least 0"),
    ("[logging]\nformat = \"xml\"\n", "logging.format: expected one of 'human', 'json'"),
    ("[logging]\nredact = [\"(unclosed\"]\n", "logging.redact[0]: not a valid regular expression"),
    ("[scheduler]\ncoalesce = \"yes\"\n", "scheduler.coalesce: expected true or false"),
    ("[account]\nid = \"1\"\nbrand_token = { env = \"LPBOT_TEST_UNSET\" }\n",
     "account.brand_token: environment variable LPBOT_TEST_UNSET is not set"),
    ("[bot\n", "not valid TOML"),
    ("bot = 3\n", "bot: expected a table, got an integer"),
    ("[[jobs]]\nid = \"a\"\nkind = \"teleport\"\nevery = 5\n", "jobs[0].kind: expected one of"),
    ("[[jobs]]\nid = \"a\"\nkind = \"set_ttr\"\nevery = 5\n",
     "jobs[0].args: missing required argument ttr_type"),
    ("[[jobs]]\nid = \"a\"\nkind = \"set_ttr\"\nevery = 5\nargs = { ttr_type = \"URGENT\", "
     "vaule = 3 }\n", "jobs[0].args.vaule: unknown argument"),
    ("[[jobs]]\nid = \"a\"\nkind = \"open_conversation\"\ncron = \"61 * * * *\"\n",
     "jobs[0].cron: not a valid crontab expression"),
    ("[[jobs]]\nid = \"a\"\nkind = \"open_conversation\"\n",
     "jobs[0]: give exactly one of every (seconds), cron (crontab) or at (date-time)"),
    ("[[jobs]]\nid = \"a\"\nkind = \"call\"\nref = \"not a reference\"\nevery = 1\n",
     "jobs[0].ref: expected a function reference"),
    ("[[jobs]]\nid = \"a\"\nkind = \"open_conversation\"\nevery = 1\n[[jobs]]\nid = \"a\"\n"
     "kind = \"open_conversation\"\nevery = 2\n", "jobs[1].id: duplicate job id 'a'"),
    ("[plugins]\nenabled = [\"activity\"]\n[plugins.activty]\nx = 1\n",
     "plugins.activty: a table for a plugin that is not enabled (enabled: activity)"),
    ("[plugins]\nmodules = { mine = \"not a/module\" }\n",
     "plugins.modules.mine: expected a module"),
    ("[sandbox]\nrules = [[\"only one\"]]\n", "sandbox.rules[0]: expected an array of 2 items"),
    ("[sandbox]\nwire_variants = \"fancy\"\n", "sandbox.wire_variants: expected one of"),
    ("[sandbox]\nseed = \"x\"\n", "sandbox.seed: expected an integer"),
    ("[sandbox]\nenabled = false\n[account]\nid = \"\"\n",
     "account.id: the account id is required"),
    ("[account]\nid = \"1\"\nauth = \"authenticated\"\n",
     "account.auth: authenticated consumers need exactly one"),
    ("[account]\nid = \"1\"\ntoken_command = \"vault read jwt\"\n",
     "account.token_command: token_command is only used with auth = \"authenticated\""),
    ("[account]\nid = \"1\"\nauth = \"code\"\n",
     "account.auth: code-flow consumers need exactly one of token_function"),
    ("[account]\nid = \"1\"\nauth = \"anonymous\"\n",
     "account.connector_id: auth = \"anonymous\" needs connector_id"),
    ("[account]\nid = \"1\"\nconnector_id = \"acr0\"\n",
     "account.connector_id: connector_id is only used with auth = \"anonymous\""),
    ("[account]\nid = \"1\"\nauth = \"anonymous\"\nconnector_id = \"a\"\n"
     "token_command = \"x\"\n", "account.token_command: token_command is only used"),
    ("[account]\nid = \"1\"\nauth = \"implicit\"\n", "account.auth: expected one of"),
]


@pytest.mark.parametrize(("text", "expected"), MISTAKES, ids=[m[1][:40] for m in MISTAKES])
def test_each_mistake_names_the_file_and_the_key_path(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(text if "[account]" in text else text + ACCOUNT)
    with pytest.raises(ConfigError) as caught:
        Config.load(path, environ={})
    assert str(caught.value).startswith(f"{path}: ")
    assert expected in str(caught.value)


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        Config.load(tmp_path / "nope.toml", environ={})


def test_values_are_typed_and_frozen() -> None:
    config = Config.from_text(
        ACCOUNT + "[bot]\nconsumers = [\"a\", \"b\"]\nput_timeout = 2\n"
        "[sandbox]\nenabled = true\nrules = [[\"hours\", \"9-17\"]]\nlenient = true\n"
        "wire_variants = \"legacy\"\nseed = 7\n"
        "[[jobs]]\nid = \"hello\"\nkind = \"open_conversation\"\nevery = 30\n"
        "args = { skill = \"sales\", first_message = \"hi\", context = { a = 1 } }\n"
        "[plugins]\nenabled = [\"activity\"]\nmodules = { mine = \"pkg.mine\" }\n"
        "[plugins.mine]\ncolour = \"blue\"\n",
        environ={},
    )
    assert config.bot.consumers == ("a", "b")
    assert config.bot.put_timeout == 2.0
    assert config.sandbox.rules == (("hours", "9-17"),)
    assert (config.sandbox.lenient, config.sandbox.wire_variants, config.sandbox.seed) == (
        True, "legacy", 7)
    defaults = Config.from_text(ACCOUNT, environ={}).sandbox
    assert (defaults.lenient, defaults.wire_variants, defaults.seed) == (False, "random", None)
    job = config.jobs[0]
    assert (job.func, job.trigger, dict(job.trigger_args)) == (
        "lpbot.runtime.jobs:open_conversation", "interval", {"every": 30.0})
    assert dict(job.kwargs) == {"skill": "sales", "first_message": "hi", "context": {"a": 1}}
    assert config.plugins.enabled == ("activity", "mine")
    plugin = config.plugin_config("mine")
    assert (plugin.path, dict(plugin.table)) == ("plugins.mine", {"colour": "blue"})
    assert str(plugin.error("colour", "not a colour")) == (
        "<embedded default>: plugins.mine.colour: not a colour")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.bot.workers = 9  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.jobs[0].kwargs["skill"] = "x"  # type: ignore[index]


def test_environment_overrides_and_secrets() -> None:
    config = Config.from_text(
        "[account]\nid = \"1\"\nauth = \"authenticated\"\n"
        "brand_token = { env = \"BRAND_JWT\" }\n",
        environ={"BRAND_JWT": "s3cret-token", "LPBOT_ACCOUNT_ID": "42",
                 "LPBOT_BOT_WORKERS": "7", "LPBOT_BOT_CONSUMERS": "x, y",
                 "LPBOT_SANDBOX_ENABLED": "yes", "LPBOT_TRACE_HOOKS": "1"},
    )
    assert config.account.id == "42"
    assert config.bot.workers == 7
    assert config.bot.consumers == ("x", "y")
    assert config.sandbox.enabled is True
    token = config.account.brand_token
    assert isinstance(token, Secret)
    assert token.reveal() == "s3cret-token"
    assert "s3cret" not in repr(config)
    assert config.secrets() == ("s3cret-token",)


@pytest.mark.parametrize(("variable", "value", "expected"), [
    ("LPBOT_BOT_WORKRS", "3", "environment: LPBOT_BOT_WORKRS: unknown setting bot.workrs"),
    ("LPBOT_BOT_WORKERS", "many", "environment: LPBOT_BOT_WORKERS: expected an integer"),
    ("LPBOT_SANDBOX_ENABLED", "perhaps", "LPBOT_SANDBOX_ENABLED: expected true or false"),
])
def test_bad_environment_overrides_name_the_variable(
    variable: str, value: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        Config.from_text(ACCOUNT, environ={variable: value})
    assert expected in str(caught.value)


def test_default_state_dir_follows_xdg() -> None:
    assert default_state_dir({"XDG_STATE_HOME": "/var/x"}) == Path("/var/x/lpbot")
    assert default_state_dir({}) == Path.home() / ".local" / "state" / "lpbot"


def test_the_default_csds_domain_is_the_clients() -> None:
    from lpbot.client.discovery import DEFAULT_CSDS_DOMAIN

    config = Config.from_mapping({"account": {"id": "12345678"}}, environ={})
    assert config.account.csds_domain == DEFAULT_CSDS_DOMAIN


def test_reading_a_config_imports_no_job_code() -> None:
    toml = ('[sandbox]\nenabled = true\n[[jobs]]\nid = "j"\nkind = "set_ttr"\nevery = 60\n'
            'args = { ttr_type = "URGENT" }\n')
    code = (f"import sys, lpbot.runtime.config as c\nc.Config.from_text({toml!r})\n"
            "print([m for m in ('lpbot.runtime.jobs', 'lpbot.runtime.bot') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code],  # noqa: S603 - our own interpreter
                            capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Step:
    say: str
    wait: float = dataclasses.field(default=1.0, metadata={"min": 0})


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class PluginOptions:
    mode: Literal["fast", "slow"] = "fast"
    steps: tuple[Step, ...] = ()
    port: int = dataclasses.field(default=80, metadata={"min": 1, "max": 65535})


@pytest.mark.parametrize(("table", "message"), [
    ({"mode": "medium"}, "plugins.mine.mode: expected one of 'fast', 'slow', got 'medium'"),
    ({"steps": [{"say": "hi"}, {"wait": 1}]}, "plugins.mine.steps[1].say: missing required key"),
    ({"steps": [{"say": "hi", "wait": -1}]},
     "plugins.mine.steps[0].wait: must be at least 0, got -1"),
    ({"port": 70000}, "plugins.mine.port: must be at most 65535, got 70000"),
    ({"prot": 1}, "plugins.mine.prot: unknown key (expected one of: mode, steps, port)"),
    ({"steps": {"say": "hi"}}, "plugins.mine.steps: expected an array, got a table"),
])
def test_plugin_tables_get_the_same_checks_as_lpbots_own(table: dict[str, object],
                                                        message: str) -> None:
    config = PluginConfig(name="mine", table=table, path="plugins.mine", file="bot.toml")
    with pytest.raises(ConfigError) as caught:
        config.parse(PluginOptions)
    assert str(caught.value) == f"bot.toml: {message}"


def test_a_plugin_table_parses_into_its_dataclass() -> None:
    config = PluginConfig(name="mine", table={"mode": "slow", "steps": [{"say": "hi"}]},
                          path="plugins.mine", file="bot.toml")
    assert config.parse(PluginOptions) == PluginOptions(mode="slow", steps=(Step(say="hi"),))


def test_the_embedded_sandbox_takes_strictness_and_wire_variants() -> None:
    config = Config.from_text(
        "[sandbox]\nenabled = true\nlenient = true\nwire_variants = \"canonical\"\nseed = 3\n",
        environ={})
    sandbox = start_sandbox(config.sandbox)
    try:
        assert (sandbox.lenient, sandbox.wire_variants, sandbox.seed) == (True, "canonical", 3)
    finally:
        sandbox.stop()
