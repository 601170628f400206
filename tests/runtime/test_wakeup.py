"""``Wakeup``: the daemon's main-thread sleep (signals on other threads: test_shutdown.py)."""

from __future__ import annotations

import signal
import threading

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
