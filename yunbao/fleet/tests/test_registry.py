"""Device lookup for the gateway: the cache, auth codes, unknown devices refused or
registered by the setting, inactive devices refused, every refusal logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from django.test import override_settings

from yunbao.fleet.models import Device, DeviceKind, Protocol
from yunbao.fleet.registry import Refused, Registry, normalise


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    logger = logging.getLogger("yunbao.fleet.registry")
    logger.addHandler(caplog.handler)  # the yunbao logger does not propagate to the root
    caplog.set_level(logging.INFO, logger="yunbao.fleet.registry")
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)


def terminal(identifier: str = "13800000001", **kw: object) -> Device:
    return Device.objects.create(
        kind=DeviceKind.VEHICLE, protocol=Protocol.JT808, identifier=identifier, **kw
    )


def test_phone_numbers_lose_their_leading_zeros() -> None:
    assert normalise(Protocol.JT808, "013800000001") == "13800000001"
    assert normalise(Protocol.JT808, "00000000000000000000") == "0"
    # OsmAnd ids are opaque: only trimmed.
    assert normalise(Protocol.OSMAND, " 007 ") == "007"


@pytest.mark.django_db
def test_a_known_device_is_found_and_then_cached(
    django_assert_num_queries: object,
) -> None:
    truck = terminal()
    registry = Registry("refuse")
    assert registry.cached(Protocol.JT808, "13800000001") is None

    known = registry.resolve(Protocol.JT808, "013800000001")

    assert known.id == truck.pk
    assert known.auth_code == truck.auth_code
    assert registry.cached(Protocol.JT808, "13800000001") == known
    with django_assert_num_queries(0):  # type: ignore[operator]
        assert registry.resolve(Protocol.JT808, "13800000001") == known


@pytest.mark.django_db
def test_unknown_device_is_refused_and_logged(logged: pytest.LogCaptureFixture) -> None:
    registry = Registry("refuse")

    with pytest.raises(Refused, match="unknown device"):
        registry.resolve(Protocol.OSMAND, "phone-9", peer="10.0.0.9:4711")

    assert not Device.objects.exists()
    assert "refused osmand device 'phone-9' from 10.0.0.9:4711: unknown device" in logged.text
    # The "no such device" answer is cached too: a refused tracker retrying costs no query.
    assert registry.is_cached(Protocol.OSMAND, "phone-9")
    assert registry.cached(Protocol.OSMAND, "phone-9") is None


@pytest.mark.django_db
def test_unknown_device_is_registered_when_the_setting_says_so(
    logged: pytest.LogCaptureFixture,
) -> None:
    registry = Registry("register")

    known = registry.resolve(
        Protocol.JT808, "013900000002", details={"maker": "YUNBA"}, plate="粤A12345"
    )

    device = Device.objects.get(pk=known.id)
    assert device.identifier == "13900000002"
    assert device.kind == DeviceKind.VEHICLE
    assert device.registered_automatically is True
    assert device.details == {"maker": "YUNBA"}
    assert device.plate == "粤A12345"
    assert len(device.auth_code) >= 16
    assert "registered jt808 device 13900000002 automatically" in logged.text
    badge = registry.resolve(Protocol.OSMAND, "traccar-1")
    assert Device.objects.get(pk=badge.id).kind == DeviceKind.BADGE


@pytest.mark.django_db
def test_demo_mode_registers_by_default_and_production_refuses() -> None:
    with override_settings(YUNBAO_FLEET_UNKNOWN_DEVICES="register"):
        assert Registry().unknown == "register"
    with override_settings(YUNBAO_FLEET_UNKNOWN_DEVICES="refuse"):
        assert Registry().unknown == "refuse"
    with pytest.raises(ValueError, match="refuse or register"):
        Registry("maybe")


def test_the_setting_defaults_to_register_only_in_demo_mode() -> None:
    from yunbao import conf

    setting = conf.BY_NAME["FLEET_UNKNOWN_DEVICES"]
    assert setting.read({}) == ""  # then settings.py picks by YUNBAO_DEMO
    assert setting.read({"FLEET_UNKNOWN_DEVICES": "Register"}) == "register"
    with pytest.raises(ValueError, match="FLEET_UNKNOWN_DEVICES"):
        setting.read({"FLEET_UNKNOWN_DEVICES": "accept"})


@pytest.mark.django_db
def test_inactive_device_is_refused_even_when_registering(
    logged: pytest.LogCaptureFixture,
) -> None:
    terminal(active=False)
    registry = Registry("register")

    with pytest.raises(Refused, match="inactive"):
        registry.resolve(Protocol.JT808, "13800000001")

    assert Device.objects.count() == 1
    assert "device inactive" in logged.text


@pytest.mark.django_db
def test_auth_code_is_checked(logged: pytest.LogCaptureFixture) -> None:
    truck = terminal(auth_code="right-code")
    registry = Registry("refuse")

    assert registry.authenticate(Protocol.JT808, "13800000001", "right-code").id == truck.pk
    with pytest.raises(Refused, match="wrong auth code"):
        registry.authenticate(Protocol.JT808, "13800000001", "wrong-code", peer="1.2.3.4:5")
    assert "wrong auth code" in logged.text
    with pytest.raises(Refused, match="unknown"):
        registry.authenticate(Protocol.JT808, "13800000009", "right-code")


@pytest.mark.django_db
def test_an_unknown_terminal_that_authenticates_keeps_its_code_when_registering() -> None:
    # A terminal that got its code from another platform goes straight to 0x0102.
    registry = Registry("register")

    known = registry.authenticate(Protocol.JT808, "13800000003", "from-elsewhere")

    assert Device.objects.get(pk=known.id).auth_code == "from-elsewhere"


@pytest.mark.django_db
def test_changes_in_the_admin_reach_the_gateway_when_the_cache_expires() -> None:
    truck = terminal()
    registry = Registry("refuse", cache_seconds=0)
    registry.resolve(Protocol.JT808, "13800000001")

    Device.objects.filter(pk=truck.pk).update(active=False)

    with pytest.raises(Refused, match="inactive"):
        registry.resolve(Protocol.JT808, "13800000001")


@pytest.mark.django_db
def test_registering_a_device_someone_else_just_made_returns_theirs() -> None:
    registry = Registry("register")
    theirs = terminal()

    known = registry.register(Protocol.JT808, "13800000001")

    assert known.id == theirs.pk
    assert Device.objects.count() == 1


@pytest.mark.django_db
def test_preload_caches_every_device_and_forget_drops_them() -> None:
    truck = terminal()
    terminal("13800000002")
    registry = Registry("refuse")

    assert registry.preload() == 2

    assert registry.cached(Protocol.JT808, "13800000001") is not None
    registry.forget_device(truck.pk)
    assert registry.cached(Protocol.JT808, "13800000001") is None
    assert registry.cached(Protocol.JT808, "13800000002") is not None
    registry.forget()
    assert registry.cached(Protocol.JT808, "13800000002") is None


@pytest.mark.django_db
def test_details_are_merged() -> None:
    truck = terminal(details={"maker": "A", "model": "M1"})
    registry = Registry("refuse")
    known = registry.resolve(Protocol.JT808, "13800000001")

    registry.update_details(known, {"model": "M2", "imei": "860000000000001"})

    truck.refresh_from_db()
    assert truck.details == {"maker": "A", "model": "M2", "imei": "860000000000001"}


@pytest.mark.django_db
def test_an_empty_identifier_is_refused() -> None:
    with pytest.raises(Refused, match="no identifier"):
        Registry("register").resolve(Protocol.OSMAND, "   ")
    assert not Device.objects.exists()
