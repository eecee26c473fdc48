"""Which devices may report, for the gateway: lookup by protocol identity, auth codes, and
the registration of devices nobody entered beforehand.

Every position the gateway receives names its device by protocol identity (the JT/T 808
terminal phone number, the OsmAnd `id`); looking that up in the database each time would
cost a query per position. `Registry` keeps the devices in an in-process cache, filled at
start and refreshed entry by entry after `CACHE_SECONDS`, so a device deactivated or
re-coded in the admin is refused within that time without a restart.

A device that is not known is refused or registered according to FLEET_UNKNOWN_DEVICES
(`register` by default in demo mode, so any terminal or Traccar Client pointed at the
demo appears on the map at once). Inactive devices are always refused. Every refusal is
logged with its reason, since a refused terminal keeps trying and someone must notice.

The methods that touch the database are synchronous: the gateway calls them on its one
database thread. `cached()` never touches the database and is safe on the event loop.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction

from yunbao.fleet.models import Device, DeviceKind, Protocol

log = logging.getLogger(__name__)

# How long a cached device (or a cached "no such device") is trusted.
CACHE_SECONDS = 60.0
# Unknown identities remembered (as unknown) at most; a scan of random ids must not grow
# the cache without bound.
MAX_NEGATIVE = 10_000


class Refused(Exception):
    """The device may not report; `reason` says why (for the log and the reply)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Known:
    """What the gateway needs of a device."""

    id: int
    protocol: str
    identifier: str
    auth_code: str
    active: bool


def normalise(protocol: str, identifier: str) -> str:
    """The stored form of an identity: JT/T 808 phone numbers without leading zeros (the
    2013 and 2019 headers pad them differently), OsmAnd ids as sent, trimmed."""
    identifier = identifier.strip()
    if protocol == Protocol.JT808:
        identifier = identifier.lstrip("0") or "0"
    return identifier


def _known(device: Device) -> Known:
    return Known(device.pk, device.protocol, device.identifier, device.auth_code, device.active)


class Registry:
    """Device lookup with an in-process cache, auth-code checks and registration."""

    def __init__(self, unknown: str | None = None, cache_seconds: float = CACHE_SECONDS) -> None:
        self.unknown: str = unknown or settings.YUNBAO_FLEET_UNKNOWN_DEVICES
        if self.unknown not in {"refuse", "register"}:
            raise ValueError(f"unknown-device policy must be refuse or register: {self.unknown}")
        self.cache_seconds = cache_seconds
        self._cache: dict[tuple[str, str], tuple[float, Known | None]] = {}
        self._negative = 0

    # --- cache (no database) ---

    def cached(self, protocol: str, identifier: str) -> Known | None:
        """The device if it is cached and fresh, else None (then call `lookup`)."""
        entry = self._cache.get((protocol, normalise(protocol, identifier)))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def is_cached(self, protocol: str, identifier: str) -> bool:
        """Whether `cached` has a fresh answer (a device, or that there is none)."""
        entry = self._cache.get((protocol, normalise(protocol, identifier)))
        return entry is not None and entry[0] >= time.monotonic()

    def _remember(self, protocol: str, identifier: str, known: Known | None) -> None:
        key = (protocol, identifier)
        if known is None:
            if self._negative >= MAX_NEGATIVE:
                self._forget_negatives()
            self._negative += 1
        elif (old := self._cache.get(key)) is not None and old[1] is None:
            self._negative -= 1
        self._cache[key] = (time.monotonic() + self.cache_seconds, known)

    def _forget_negatives(self) -> None:
        self._cache = {key: entry for key, entry in self._cache.items() if entry[1] is not None}
        self._negative = 0

    def forget(self, protocol: str | None = None, identifier: str | None = None) -> None:
        """Drop one cached identity, or everything."""
        if protocol is None or identifier is None:
            self._cache.clear()
            self._negative = 0
        else:
            entry = self._cache.pop((protocol, normalise(protocol, identifier)), None)
            if entry is not None and entry[1] is None:
                self._negative -= 1

    def forget_device(self, device_id: int) -> None:
        """Drop the cached entries of a device (deleted meanwhile)."""
        for key, entry in list(self._cache.items()):
            if entry[1] is not None and entry[1].id == device_id:
                self._cache.pop(key, None)

    # --- database (the gateway's database thread) ---

    def preload(self) -> int:
        """Cache every device (at gateway start, so thousands of terminals reconnecting
        after a restart authenticate without a query each); returns how many."""
        count = 0
        for device in Device.objects.only(
            "id", "protocol", "identifier", "auth_code", "active"
        ).iterator(chunk_size=2000):
            self._remember(device.protocol, device.identifier, _known(device))
            count += 1
        return count

    def lookup(self, protocol: str, identifier: str) -> Known | None:
        """The device with this identity, from the cache or the database."""
        identifier = normalise(protocol, identifier)
        entry = self._cache.get((protocol, identifier))
        if entry is not None and entry[0] >= time.monotonic():
            return entry[1]
        device = (
            Device.objects.filter(protocol=protocol, identifier=identifier)
            .only("id", "protocol", "identifier", "auth_code", "active")
            .first()
        )
        known = _known(device) if device is not None else None
        self._remember(protocol, identifier, known)
        return known

    def resolve(
        self,
        protocol: str,
        identifier: str,
        *,
        peer: str = "",
        details: dict[str, Any] | None = None,
        auth_code: str | None = None,
        plate: str = "",
    ) -> Known:
        """The active device with this identity, registering it if it is unknown and the
        setting allows; raises `Refused` (logged) otherwise. `details` and `plate` describe
        a device registered now; `auth_code` becomes its code (a terminal that brings its
        own code from another platform keeps it)."""
        identifier = normalise(protocol, identifier)
        if not identifier:
            raise self._refuse(protocol, identifier, peer, "no identifier")
        known = self.lookup(protocol, identifier)
        if known is None:
            if self.unknown != "register":
                raise self._refuse(protocol, identifier, peer, "unknown device")
            known = self.register(
                protocol, identifier, peer=peer, details=details, auth_code=auth_code, plate=plate
            )
        if not known.active:
            raise self._refuse(protocol, identifier, peer, "device inactive")
        return known

    def register(
        self,
        protocol: str,
        identifier: str,
        *,
        peer: str = "",
        details: dict[str, Any] | None = None,
        auth_code: str | None = None,
        plate: str = "",
    ) -> Known:
        """Create the device (or return the one another process created meanwhile)."""
        identifier = normalise(protocol, identifier)
        kind = DeviceKind.VEHICLE if protocol == Protocol.JT808 else DeviceKind.BADGE
        fields: dict[str, Any] = {
            "kind": kind,
            "protocol": protocol,
            "identifier": identifier[:64],
            "registered_automatically": True,
            "details": details or {},
            "plate": plate[:16],
        }
        if auth_code:
            fields["auth_code"] = auth_code[:64]
        try:
            with transaction.atomic():
                device = Device.objects.create(**fields)
        except IntegrityError:
            # The web admin or another gateway registered it a moment ago.
            device = Device.objects.get(protocol=protocol, identifier=identifier)
        else:
            log.info("registered %s device %s automatically (from %s)", protocol, identifier, peer)
        known = _known(device)
        self._remember(protocol, identifier, known)
        return known

    def authenticate(self, protocol: str, identifier: str, code: str, *, peer: str = "") -> Known:
        """The device whose auth code is `code`; raises `Refused` (logged) for a wrong code,
        an inactive device, or an unknown one the setting does not let register (one that
        may register keeps the code it brings)."""
        known = self.resolve(protocol, identifier, peer=peer, auth_code=code)
        if not hmac.compare_digest(known.auth_code.encode(), code.encode()):
            raise self._refuse(protocol, known.identifier, peer, "wrong auth code")
        return known

    def update_details(self, known: Known, details: dict[str, Any]) -> None:
        """Merge what a terminal told about itself (register, authenticate) into its
        device's details."""
        device = Device.objects.filter(pk=known.id).only("details").first()
        if device is None:
            return
        merged = {**(device.details or {}), **details}
        if merged != device.details:
            Device.objects.filter(pk=known.id).update(details=merged)

    def _refuse(self, protocol: str, identifier: str, peer: str, reason: str) -> Refused:
        log.warning("refused %s device %r from %s: %s", protocol, identifier, peer, reason)
        return Refused(reason)
