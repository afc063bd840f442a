"""scratchcnn.parallel's block sizing: balanced_step gives every core the same number of blocks."""
from __future__ import annotations

import pytest

from scratchcnn import parallel


@pytest.fixture
def threads():
    old = parallel.get_num_threads()
    yield parallel.set_num_threads
    parallel.set_num_threads(old)


@pytest.mark.parametrize("count, step, n_threads, expected", [
    (64, 9, 2, 8),        # 8 blocks of 8 instead of 7 of 9 and one of 1
    (6144, 873, 2, 768),  # 8 row blocks of 768 instead of 7 of 873 and one of 33
    (64, 64, 2, 64),      # one block: nothing to balance
    (64, 9, 1, 9),        # one thread: unchanged
    (10, 3, 4, 3),        # 4 blocks already a multiple of 4
    (10, 4, 4, 3),        # 3 blocks -> 4 blocks of <= 3
    (5, 1, 2, 1),         # 5 blocks of 1 cannot be split further
])
def test_balanced_step(threads, count, step, n_threads, expected):
    threads(n_threads)
    got = parallel.balanced_step(count, step)
    assert got == expected and got <= step
    blocks = -(-count // got)
    assert blocks == 1 or n_threads == 1 or blocks % n_threads == 0 or got == 1


@pytest.mark.parametrize("value", ["abc", "1.5", "0", "-3"])
def test_bad_thread_count_in_the_environment_is_named(monkeypatch, value):
    monkeypatch.setenv("SCRATCHCNN_NUM_THREADS", value)
    with pytest.raises(ValueError, match=f"SCRATCHCNN_NUM_THREADS must be a positive whole number of threads, "
                                         f"got '{value}'; set it to e.g. 2, or unset it"):
        parallel._default_threads()


def test_thread_count_from_the_environment(monkeypatch):
    monkeypatch.setenv("SCRATCHCNN_NUM_THREADS", " 3 ")
    assert parallel._default_threads() == 3
