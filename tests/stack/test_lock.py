"""The lock file that keeps one embedded stack per state directory."""

from app.stack.lock import StackLock, running_stack


def test_stack_lock_is_exclusive_and_describes_the_running_stack(tmp_path):
    first, second = StackLock(tmp_path), StackLock(tmp_path)
    assert running_stack(tmp_path) is None
    assert first.acquire()
    assert not second.acquire()
    first.describe({"api_url": "http://127.0.0.1:1", "pid": 1})
    assert running_stack(tmp_path) == {"api_url": "http://127.0.0.1:1", "pid": 1}
    first.release()
    assert running_stack(tmp_path) is None and second.acquire()
    second.release()
