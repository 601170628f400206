"""State on PostgreSQL: migrations, clear connection errors, the store, and fencing."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from lpbot.client.state import StoredIdentity
from lpbot.client.state_pg import SCHEMA_VERSION, Fence, PgStateStore, connect, migrate
from lpbot.errors import ConfigError, LeaseLost, StateError
from lpbot.runtime.config import Config
from lpbot.testing.harness import DaemonProcess

from .postgres import PASSWORD, PostgresServer


def test_migrations_are_versioned_and_idempotent(state_url: str) -> None:
    with connect(state_url) as conn:
        assert migrate(conn) == SCHEMA_VERSION
        assert migrate(conn) == 0
        versions = [row[0] for row in conn.execute("SELECT version FROM lpbot_schema_version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))


def test_a_newer_schema_is_refused(state_url: str) -> None:
    with connect(state_url) as conn:
        migrate(conn)
        conn.execute("INSERT INTO lpbot_schema_version (version) VALUES (%s)",
                     (SCHEMA_VERSION + 1,))
        with pytest.raises(StateError, match="upgrade lpbot"):
            migrate(conn)


@pytest.mark.parametrize(("change", "expected"), [
    ("password", "login refused"),
    ("user", "login refused"),
    ("database", "does not exist"),
    ("port", "connection refused"),
    ("garbage", "not a valid PostgreSQL URL"),
])
def test_connection_errors_are_one_line_without_the_password(
        postgres: PostgresServer, change: str, expected: str) -> None:
    url = {
        "password": postgres.url("postgres", password="wrong-password"),
        "user": postgres.url("postgres", user="nobody_here"),
        "database": postgres.url("no_such_database"),
        "port": postgres.url("postgres").replace(f":{postgres.port}/", ":1/"),
        "garbage": "postgresql://[bad",
    }[change]
    with pytest.raises(StateError) as caught:
        connect(url, timeout=2)
    message = str(caught.value)
    assert expected in message
    assert "\n" not in message
    assert PASSWORD not in message
    assert "wrong-password" not in message


def test_the_store_keeps_identities_and_forward_only_sequences(state_url: str) -> None:
    with connect(state_url) as conn:
        migrate(conn)
        conn.execute("INSERT INTO lpbot_leases VALUES ('bot', 'consumer:a', 'me', 1, now(), "
                     "now(), now() + interval '1 minute')")
    with PgStateStore(state_url, bot="bot", fence=Fence(lease="consumer:a", epoch=1)) as store:
        identity = StoredIdentity(consumer_id="c1", token="t0k3n", authenticated=False)
        store.save_identity("acct/a", identity)
        assert store.load_identity("acct/a") == identity
        assert "t0k3n" not in repr(store) + store.path
        assert store.commit_sequence("c1", "d1", 3)
        assert not store.commit_sequence("c1", "d1", 2)
        assert store.sequences("c1") == {"d1": 3}
        assert store.last_sequence("c1", "d1") == 3
        assert store.forget_sequences("c1", ["d1"]) == 1
        assert store.sequences("c1") == {}
        store.forget_identity("acct/a")
        assert store.load_identity("acct/a") is None
    with PgStateStore(state_url, bot="other") as other:
        assert other.load_identity("acct/a") is None


def test_the_database_refuses_a_commit_from_an_older_epoch(state_url: str) -> None:
    with connect(state_url) as conn:
        migrate(conn)
        conn.execute("INSERT INTO lpbot_leases VALUES ('bot', 'consumer:a', 'old', 1, now(), "
                     "now(), now() + interval '1 minute')")
        refused: list[bool] = []
        stale = PgStateStore(state_url, bot="bot", fence=Fence(
            lease="consumer:a", epoch=1, on_refused=lambda: refused.append(True)))
        with stale:
            assert stale.commit_sequence("c1", "d1", 1)
            conn.execute("UPDATE lpbot_leases SET epoch = 2, owner = 'new'")
            with pytest.raises(LeaseLost):
                stale.commit_sequence("c1", "d1", 5)
        assert refused == [True]
        # the refusal is the database's own: a raw INSERT with the old epoch fails too
        with pytest.raises(psycopg.Error, match="epoch 2"):
            conn.execute("INSERT INTO lpbot_job_runs (bot, job_id, scheduled_at, lease, epoch, "
                         "owner) VALUES ('bot', 'j', now(), 'consumer:a', 1, 'old')")
        assert conn.execute("SELECT sequence FROM lpbot_sequences").fetchall() == [(1,)]


def test_the_store_reconnects_after_a_database_restart(postgres: PostgresServer,
                                                       state_url: str) -> None:
    with connect(state_url) as conn:
        migrate(conn)
    with PgStateStore(state_url, bot="bot") as store:
        store.save_identity("k", StoredIdentity(consumer_id="c", token="t", authenticated=False))
        postgres.restart()
        assert store.load_identity("k") is not None


def test_lpbot_run_with_an_unreachable_database_exits_3_with_one_line(
        postgres: PostgresServer, tmp_path: Path) -> None:
    url = postgres.url("postgres").replace(f":{postgres.port}/", ":1/")
    config = tmp_path / "bad.toml"
    config.write_text(f'[bot]\nstate_url = "{url}"\n[account]\nid = "1"\n', encoding="utf-8")
    with DaemonProcess("--config", str(config), "--state-dir", str(tmp_path / "s")) as daemon:
        record = daemon.wait_for("cannot connect", timeout=30)
        assert daemon.wait(timeout=10) == 3
    assert "connection refused" in record["message"]
    assert PASSWORD not in " ".join(daemon.messages())


def test_the_cluster_keys_are_checked_and_the_url_password_is_a_secret() -> None:
    config = Config.from_text(
        '[bot]\nstate_url = "postgresql://lpbot:s3cret-pw@db:5432/lpbot"\nmax_consumers = 2\n'
        'lease_ttl = 4\n[account]\nid = "1"\n', file="c.toml")
    assert config.bot.max_consumers == 2
    assert config.bot.lease_ttl == 4
    assert "s3cret-pw" not in repr(config)
    assert "s3cret-pw" in config.secrets()
    with pytest.raises(ConfigError, match=r"bot\.lease_ttl"):
        Config.from_text("[bot]\nlease_ttl = 0\n", file="c.toml")
    with pytest.raises(ConfigError, match=r"bot\.lease_renew_interval"):
        Config.from_text('[bot]\nlease_ttl = 2\nlease_renew_interval = 1.5\n[account]\nid = "1"\n',
                         file="c.toml")
    with pytest.raises(ConfigError, match=r"bot\.max_consumers"):
        Config.from_text("[bot]\nmax_consumers = -1\n", file="c.toml")
