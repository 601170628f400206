from __future__ import annotations

import sqlite3
import threading

from lpbot.client.state import DB_NAME, StateStore, StoredIdentity


def test_identity_round_trip_and_repr_hides_token(tmp_path):
    with StateStore(tmp_path) as store:
        identity = StoredIdentity(consumer_id="c1", token="secret.jwt.value", authenticated=False)
        store.save_identity("acct/default", identity)
        assert store.load_identity("acct/default") == identity
        assert store.load_identity("acct/other") is None
        assert "secret" not in repr(identity)
        store.forget_identity("acct/default")
        assert store.load_identity("acct/default") is None


def test_sequences_only_move_forward_and_survive_reopen(tmp_path):
    with StateStore(tmp_path) as store:
        assert store.commit_sequence("c1", "d1", 5) is True
        assert store.commit_sequence("c1", "d1", 3) is False
        assert store.commit_sequence("c1", "d2", 0) is True
        assert store.commit_sequence("c2", "d1", 9) is True
    with StateStore(tmp_path) as store:
        assert store.sequences("c1") == {"d1": 5, "d2": 0}
        assert store.last_sequence("c2", "d1") == 9
        assert store.last_sequence("c2", "nope") is None


def test_database_is_in_wal_mode(tmp_path):
    with StateStore(tmp_path):
        db = sqlite3.connect(tmp_path / DB_NAME)
        try:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            db.close()


def test_concurrent_commits_keep_the_maximum(tmp_path):
    with StateStore(tmp_path) as store:
        def commit(offset: int) -> None:
            for seq in range(offset, 400, 4):
                store.commit_sequence("c", "d", seq)

        threads = [threading.Thread(target=commit, args=(n,), name=f"test-commit-{n}")
                   for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert store.last_sequence("c", "d") == 399


def test_close_is_idempotent(tmp_path):
    store = StateStore(tmp_path)
    store.close()
    store.close()


def test_sequences_of_forgotten_dialogs_are_deleted(tmp_path):
    with StateStore(tmp_path) as store:
        for dialog, sequence in (("a", 1), ("b", 2), ("c", 3)):
            store.commit_sequence("consumer", dialog, sequence)
        store.commit_sequence("other", "a", 9)
        assert store.forget_sequences("consumer", ["a", "c", "never-seen"]) == 2
        assert store.sequences("consumer") == {"b": 2}
        assert store.sequences("other") == {"a": 9}


def test_many_stores_opened_at_once_on_a_new_directory_all_open(tmp_path):
    # A bot adding consumers from several threads opens one store per client on the same new
    # file; switching a new file to WAL while another connection has it open fails at once
    # with "database is locked" (no busy wait), so opening must not race on it.
    threads = 16
    for attempt in range(40):
        directory = tmp_path / f"state-{attempt}"
        start = threading.Barrier(threads)
        stores: list[StateStore] = []
        errors: list[BaseException] = []

        def open_one(directory=directory, start=start, stores=stores, errors=errors) -> None:
            start.wait(10)
            try:
                stores.append(StateStore(directory))
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(exc)

        workers = [threading.Thread(target=open_one, name=f"test-open-{n}")
                   for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(30)
        for store in stores:
            store.close()
        assert errors == []
        assert len(stores) == threads
