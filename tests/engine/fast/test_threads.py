"""The engine's thread helpers: every part runs once, the first on the calling thread, and
blocks of a range cover it once, each within its step."""

from __future__ import annotations

import threading

import pytest

from cnncli.engine.fast.threads import even_parts, num_threads, run_blocks, run_parts


@pytest.mark.parametrize("long", [False, True])
@pytest.mark.parametrize("count", [0, 1, 2, 5])
def test_every_part_runs_once_on_a_thread_of_its_own(count: int, long: bool) -> None:
    seen: list[tuple[int, int]] = []
    lock = threading.Lock()

    def work(part: int) -> None:
        with lock:
            seen.append((part, threading.get_ident()))

    run_parts(work, list(range(count)), long=long)
    assert sorted(p for p, _ in seen) == list(range(count))
    threads = {t for _, t in seen}
    if count == 1:  # one part runs here, without a thread
        assert threads == {threading.get_ident()}
    if count > 1:  # (a finished thread's ident may be handed to the next one)
        assert threading.get_ident() not in threads


@pytest.mark.parametrize("long", [False, True])
@pytest.mark.parametrize("failing", [0, 2])
def test_an_error_in_any_part_is_raised_after_all_parts_end(failing: int, long: bool) -> None:
    done: list[int] = []

    def work(part: int) -> None:
        if part == failing:
            raise ValueError(f"part {part}")
        done.append(part)

    with pytest.raises(ValueError, match=f"part {failing}"):
        run_parts(work, [0, 1, 2], long=long)
    assert sorted(done) == [p for p in (0, 1, 2) if p != failing]


def test_the_thread_count_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNCLI_NUM_THREADS", "3")
    assert num_threads() == 3
    monkeypatch.delenv("CNNCLI_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert num_threads() == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "zero")  # not a count: ignored
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    assert num_threads() >= 1


@pytest.mark.parametrize(
    ("total", "step", "workers"), [(10, 3, 1), (10, 3, 2), (7, 10, 3), (1, 1, 2)]
)
def test_blocks_cover_the_range_once_within_their_step(total: int, step: int, workers: int) -> None:
    blocks: list[tuple[int, int]] = []
    lock = threading.Lock()

    def block(a: int, b: int) -> None:
        with lock:
            blocks.append((a, b))

    run_blocks(total, step, workers, block)
    covered = sorted(i for a, b in blocks for i in range(a, b))
    assert covered == list(range(total))
    assert all(0 < b - a <= step for a, b in blocks)


@pytest.mark.parametrize(("total", "parts"), [(0, 1), (7, 1), (7, 2), (10, 3), (2, 5)])
def test_even_parts_cover_the_range_in_order_within_one_of_each_other(
    total: int, parts: int
) -> None:
    cuts = even_parts(total, parts)
    assert len(cuts) == parts
    assert [i for a, b in cuts for i in range(a, b)] == list(range(total))
    sizes = [b - a for a, b in cuts]
    assert max(sizes) - min(sizes) <= 1


def test_limited_sets_the_count_inside_and_nested_blocks_unwind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cnncli.engine.fast.threads import limited

    monkeypatch.setenv("CNNCLI_NUM_THREADS", "3")
    with limited(1):
        assert num_threads() == 1
        with limited(2):
            assert num_threads() == 2
        assert num_threads() == 1
        with pytest.raises(RuntimeError), limited(0):  # at least one
            assert num_threads() == 1
            raise RuntimeError("inside")
        assert num_threads() == 1
    assert num_threads() == 3
