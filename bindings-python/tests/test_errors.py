"""Bad input from Python: typed errors, never a crash."""

from __future__ import annotations

from typing import Any

import pytest

import keel
from keel import _native


@pytest.mark.parametrize("bad", [42, b"sqlite::memory:", ["x"]])
async def test_wrong_url_type_is_type_error(bad: Any) -> None:
    with pytest.raises(TypeError):
        await keel.connect(bad)


async def test_wrong_option_types_are_type_errors() -> None:
    with pytest.raises(TypeError):
        await keel.connect("sqlite::memory:", max_connections="ten")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await keel.connect("sqlite::memory:", connect_timeout="soon")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [-1, 2**40])
async def test_out_of_range_integer_is_rejected(bad: int) -> None:
    with pytest.raises(keel.InvalidInputError):
        await keel.connect("sqlite::memory:", max_connections=bad)


async def test_out_of_range_values_are_invalid_input() -> None:
    with pytest.raises(keel.InvalidInputError) as info:
        await keel.connect("sqlite::memory:", max_connections=0)
    assert info.value.code == "invalid_input"
    assert info.value.field == "max_connections"
    assert isinstance(info.value, ValueError)
    with pytest.raises(keel.InvalidInputError) as info:
        await keel.connect("sqlite::memory:", connect_timeout=float("nan"))
    assert info.value.field == "connect_timeout"


def test_lone_surrogate_is_rejected_not_crashed() -> None:
    with pytest.raises(keel.InvalidInputError) as info:
        keel.mask_url("postgres://u:\udcff@h/db")
    assert isinstance(info.value.__cause__, UnicodeEncodeError)


@pytest.mark.parametrize("bad", [42, None, b"postgres://h/db", "\udcff", 2**70])
def test_an_argument_of_the_wrong_type_is_a_keel_error(bad: Any) -> None:
    """PyO3's own TypeError, OverflowError and UnicodeEncodeError become InvalidInputError."""
    with pytest.raises(keel.InvalidInputError) as info:
        keel.parse_database_url(bad)
    assert info.value.code == "invalid_input"
    if not isinstance(bad, int):  # an int is a valid float
        with pytest.raises(keel.InvalidInputError):
            keel.check_agent_budget("agent", bad)


def test_invalid_url_error_names_the_field() -> None:
    with pytest.raises(keel.InvalidUrlError) as info:
        keel.parse_database_url("ftp://u:secret@h")
    assert info.value.field == "url"
    assert "secret" not in str(info.value)
    assert isinstance(info.value, ValueError)


def test_sync_panic_becomes_internal_error() -> None:
    with pytest.raises(keel.InternalError) as info:
        _native._probe.panic_sync("sync boom")
    assert info.value.code == "internal"
    assert "sync boom" in str(info.value)


async def test_async_panic_becomes_internal_error() -> None:
    with pytest.raises(keel.InternalError) as info:
        await _native._probe.panic_async("async boom")
    assert "async boom" in str(info.value)
    # The runtime survives the panic.
    handle = await keel.connect()
    await handle.ping()
    await handle.close()


def test_roundtrip_rejects_malformed_struct() -> None:
    with pytest.raises((KeyError, TypeError)):
        _native._probe.roundtrip({"id": 1})  # type: ignore[typeddict-item]
    assert _native._probe.roundtrip({"id": 1, "name": "n", "score": 0.5, "tags": []}) == {
        "id": 2,
        "name": "n",
        "score": 1.0,
        "tags": [],
    }
