"""Runs getmail (the script given first) with its lost-wakeup race fixed.

getmail6 (6.18) forks a child for every Maildir delivery, reaps it in a SIGCHLD
handler that notifies a Condition, and only then waits on that Condition: when
the child exits before the wait starts (a loaded machine), the notification is
lost and getmail waits its 60-second timeout, then fails the delivery. The wait
here first checks whether the child was already reaped.

    getmail_wrapper.py /usr/bin/getmail ARGS...
"""
import runpy
import sys
import threading

import getmailcore.baseclasses as base


class Latch:
    """The Condition getmail uses, whose wait() does not miss an early notify."""

    def __init__(self, owner):
        self.owner = owner
        self.cond = threading.Condition()

    def acquire(self):
        self.cond.acquire()

    def release(self):
        self.cond.release()

    def notify_all(self):
        self.cond.notify_all()

    def wait(self, timeout=None):
        return self.cond.wait_for(
            lambda: self.owner._ForkingBase__child_pid != 0, timeout
        )


_prepare = base.ForkingBase._prepare_child


def _prepare_child(self):
    _prepare(self)
    self._ForkingBase__child_exited = Latch(self)


base.ForkingBase._prepare_child = _prepare_child

script = sys.argv[1]
sys.argv = [script] + sys.argv[2:]
runpy.run_path(script, run_name="__main__")
