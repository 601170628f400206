"""``Wakeup``: the daemon's main-thread sleep (signals on other threads: test_shutdown.py)."""

from __future__ import annotations

import signal
import threading

import pytest

from lpbot.wakeup import Wakeup


def test_set_from_another_thread_ends_the_wait() -> None:
    with Wakeup() as wake:
        setter = threading.Thread(target=wake.set, name="test-setter")
        setter.start()
        assert wake.wait(timeout=10) is True
        setter.join()
        assert wake.is_set()


def test_a_wait_without_set_times_out() -> None:
    with Wakeup() as wake:
        assert wake.wait(timeout=0.05) is False
        assert not wake.is_set()


def test_leaving_restores_the_previous_wakeup_fd() -> None:
    before = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before)
    with Wakeup():
        assert signal.set_wakeup_fd(-1) not in (before, -1)  # this one's; leaving restores
    assert signal.set_wakeup_fd(before) == before


def test_clear_makes_the_next_wait_sleep_again() -> None:
    with Wakeup() as wake:
        wake.set()
        assert wake.wait(timeout=10) is True
        wake.clear()
        assert wake.wait(timeout=0.05) is False


def test_handle_installs_a_handler_until_leaving() -> None:
    def handler(signum: int, frame: object) -> None:
        """Never called: only installed and taken down."""

    before = signal.getsignal(signal.SIGUSR1)
    with Wakeup() as wake:
        wake.handle(handler, [signal.SIGUSR1])
        assert signal.getsignal(signal.SIGUSR1) is handler
    assert signal.getsignal(signal.SIGUSR1) is before



def test_watching_runs_the_handler_of_a_signal_given_to_another_thread_at_once() -> None:
    """The main thread sleeps in Event.wait, which a signal to another thread does not end."""
    handled = threading.Event()
    handled_on: list[str] = []

    def handler(signum: int, frame: object) -> None:
        handled_on.append(threading.current_thread().name)
        handled.set()

    parked = threading.Event()
    other = threading.Thread(target=parked.wait, name="test-other")
    other.start()
    try:
        with Wakeup() as wake:
            wake.handle(handler, [signal.SIGUSR1])
            with wake.watching([signal.SIGUSR1]):
                assert "lpbot-signal-watch" in [t.name for t in threading.enumerate()]
                signal.pthread_kill(other.ident or 0, signal.SIGUSR1)
                assert handled.wait(timeout=10)  # without the watch: False after 10 s
    finally:
        parked.set()
        other.join()
    assert handled_on == ["MainThread"]


def test_leaving_the_watch_joins_its_thread_and_puts_sigurg_back() -> None:
    before = signal.getsignal(signal.SIGURG)
    with Wakeup() as wake:
        with wake.watching():
            assert signal.getsignal(signal.SIGURG) is not before
        assert "lpbot-signal-watch" not in [t.name for t in threading.enumerate()]
        assert signal.getsignal(signal.SIGURG) is before


def test_watching_is_for_the_main_thread_only() -> None:
    errors: list[BaseException] = []

    def enter(wake: Wakeup) -> None:
        try:
            with wake.watching():
                pass
        except RuntimeError as exc:
            errors.append(exc)

    with Wakeup() as wake:
        thread = threading.Thread(target=enter, args=(wake,), name="test-not-main")
        thread.start()
        thread.join()
    assert [str(e) for e in errors] == ["Wakeup.watching() is for the main thread"]


def test_without_sigurg_nothing_is_watched_and_the_body_still_runs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has neither SIGURG nor pthread_kill: the daemon must run the same."""
    monkeypatch.delattr(signal, "SIGURG")
    ran = False
    with Wakeup() as wake, wake.watching():
        assert "lpbot-signal-watch" not in [t.name for t in threading.enumerate()]
        ran = True
    assert ran
