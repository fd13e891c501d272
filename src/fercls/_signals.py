"""Hold off the signals that stop a process while code that must finish runs.

Keras's save and load make a temporary folder and remove it afterwards, in
code that an exception raised by a signal handler can skip: the CLI turns
SIGTERM and SIGHUP into exceptions, and Python turns Ctrl-C into one, so a
stop at the wrong moment left a ``tmp…`` folder in the user's temporary
directory. Inside :func:`signals_deferred` these signals are only recorded;
when the block ends the previous handlers come back and each recorded signal
is raised again, so it is handled as it would have been, just after the block.
"""

from __future__ import annotations

import contextlib
import signal
import threading

__all__ = ["signals_deferred"]

_DEFERRED = ("SIGINT", "SIGTERM", "SIGHUP")


@contextlib.contextmanager
def signals_deferred():
    """Record SIGINT, SIGTERM and SIGHUP inside the block; deliver them after it.

    Only the main thread can set handlers (and receives the signals), so in any
    other thread this does nothing. Ignored signals stay ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = {}
    try:
        for name in _DEFERRED:
            signum = getattr(signal, name, None)
            # None: a handler not set from Python, which Python cannot restore.
            if signum is None or signal.getsignal(signum) in (signal.SIG_IGN, None):
                continue
            # A pending signal's handler may run (and raise) while these are set:
            # the handlers set so far are restored by the finally below.
            previous[signum] = signal.signal(signum, lambda number, _frame: received.append(number))
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        for signum in dict.fromkeys(received):
            signal.raise_signal(signum)
