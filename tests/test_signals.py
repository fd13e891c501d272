"""signals_deferred: a stop signal waits for the block, then is handled as before."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from fercls._signals import signals_deferred


class Stopped(Exception):
    pass


@pytest.fixture
def raising_sigterm():
    def stop(signum, frame):
        raise Stopped(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    yield stop
    signal.signal(signal.SIGTERM, previous)


def test_a_signal_inside_the_block_is_raised_after_it(raising_sigterm):
    finished = []
    with pytest.raises(Stopped):
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            finished.append("the block ran to its end")
    assert finished == ["the block ran to its end"]
    assert signal.getsignal(signal.SIGTERM) is raising_sigterm


def test_a_signal_repeated_inside_the_block_is_delivered_once():
    # A handler that counts (one that raises would end the delivery loop at the first).
    delivered = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: delivered.append(signum))
    try:
        with signals_deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
            assert delivered == []
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert delivered == [signal.SIGTERM]


def test_ctrl_c_waits_for_the_block_too():
    # Python's own Ctrl-C handler, set here: pytest-xdist workers ignore SIGINT.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    finished = []
    try:
        with pytest.raises(KeyboardInterrupt):
            with signals_deferred():
                os.kill(os.getpid(), signal.SIGINT)
                finished.append("done")
    finally:
        signal.signal(signal.SIGINT, previous)
    assert finished == ["done"]


def test_without_a_signal_nothing_changes(raising_sigterm):
    with signals_deferred():
        pass
    assert signal.getsignal(signal.SIGTERM) is raising_sigterm


def test_an_ignored_signal_stays_ignored():
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        with signals_deferred():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_other_threads_run_the_block_untouched(raising_sigterm):
    seen = []

    def work():
        with signals_deferred():
            seen.append(signal.getsignal(signal.SIGTERM))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert seen == [raising_sigterm]


def test_a_stop_while_the_handlers_are_set_restores_those_already_set(monkeypatch):
    # A pending signal's handler may run (and raise) while the handlers are set;
    # faked here: setting SIGTERM's raises, as such a stop would.
    real = signal.signal
    ctrl_c = real(signal.SIGINT, signal.default_int_handler)

    def signal_raising_for_sigterm(signum, handler):
        if signum == signal.SIGTERM:
            raise KeyboardInterrupt("pending")
        return real(signum, handler)

    monkeypatch.setattr(signal, "signal", signal_raising_for_sigterm)
    try:
        with pytest.raises(KeyboardInterrupt, match="pending"):
            with signals_deferred():
                pass  # pragma: no cover - never entered
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        real(signal.SIGINT, ctrl_c)
