"""Token counts from Python: exact counts, typed errors, and a large count that leaves the GIL
to other threads."""

from __future__ import annotations

import sys
import threading
import time

import pytest

import keel


def test_counts_and_errors() -> None:
    assert keel.count_tokens("hello world") == 2
    assert keel.count_tokens("hello world", "cl100k_base") == 2
    assert keel.count_tokens("a" * 1_000_000) == 125_000
    with pytest.raises(keel.KeelError) as info:
        keel.count_tokens("hello", "p50k_base")  # type: ignore[arg-type]
    assert (info.value.code, info.value.field) == ("invalid_input", "encoding")
    with pytest.raises(keel.KeelError) as info:
        keel.count_tokens(42)  # type: ignore[arg-type]
    assert info.value.code == "invalid_input"
    count = keel.count_message_tokens("gpt-4o", [{"role": "user", "content": "hello world"}])
    assert count == {"tokens": 9, "exact": True, "encoding": "o200k_base", "model": "gpt-4o", "factor": 1.0}


def test_a_large_count_does_not_hold_the_gil() -> None:
    # With a switch interval far longer than the count, another thread runs during the count
    # only if the count lets go of the GIL (the spinner gives it up at every turn).
    text = "The quick brown fox jumps over the lazy dog. " * 200_000
    ticks = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(2.0)
    try:
        thread = threading.Thread(target=spin)
        thread.start()
        while ticks == 0:
            time.sleep(0.001)
        before = ticks
        total = keel.count_tokens(text)
        during = ticks - before
        stop.set()
        thread.join()
    finally:
        sys.setswitchinterval(interval)
    assert total > 1_000_000
    assert during > 0, "the other thread never ran while counting"
