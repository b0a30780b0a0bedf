"""Network and hardware identifiers: IP and MAC addresses, device ids, vehicle ids."""

from __future__ import annotations

import ipaddress

from vaultline.classify.recognizer import Recognizer

# ISO 3779 VIN check digit (position 9): letter values and position weights.
_VIN_VALUES = dict(
    zip(
        "ABCDEFGHJKLMNPRSTUVWXYZ",
        [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9],
        strict=True,
    )
)
_VIN_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


class IpAddress(Recognizer):
    entity = "IP_ADDRESS"
    candidate = r"[0-9]{1,3}(\.[0-9]{1,3}){3}|[0-9A-Fa-f:]*:[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*"
    keywords = ("ip", "ipaddress", "ipv4", "ipv6", "client", "remote", "host")
    validator = "ipaddress.ip_address"

    def validate(self, value: str) -> bool:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return False
        return True


class MacAddress(Recognizer):
    entity = "MAC_ADDRESS"
    candidate = r"[0-9A-Fa-f]{2}([:-][0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
    keywords = ("mac", "macaddress", "hwaddr", "ethernet")
    validator = "stdnum.mac (layout, no manufacturer lookup)"

    def validate(self, value: str) -> bool:
        from stdnum import mac

        if "." in value:  # Cisco's 0123.4567.89ab: stdnum reads the colon form
            digits = value.replace(".", "")
            value = ":".join(digits[i : i + 2] for i in range(0, 12, 2))
        # The registered-manufacturer lookup is a linear scan of the OUI table (9 ms a value) and
        # randomised (locally administered) addresses have no manufacturer: the layout decides.
        return bool(mac.is_valid(value, validate_manufacturer=False))


class Vin(Recognizer):
    entity = "VEHICLE_ID"
    candidate = r"(?i)[A-HJ-NPR-Z0-9]{17}"
    keywords = ("vin", "vehicle", "chassis")
    validator = "ISO 3779 check digit"

    def validate(self, value: str) -> bool:
        text = value.upper()
        total = sum(
            (int(c) if c.isdigit() else _VIN_VALUES[c]) * w for c, w in zip(text, _VIN_WEIGHTS, strict=True)
        )
        check = total % 11
        return text[8] == ("X" if check == 10 else str(check)) and any(c.isalpha() for c in text)


class LicensePlate(Recognizer):
    """A vehicle registration plate (Safe Harbor lists plates with vehicle ids): only under a plate name."""

    entity = "VEHICLE_ID"
    candidate = r"(?i)[A-Z0-9]{1,4}[ -]?[A-Z0-9]{1,5}"
    keywords = ("plate", "licenseplate", "numberplate", "registrationplate", "tag", "vrm")
    needs_context = True
    validator = "2-9 letters and digits with both, with a plate keyword"

    def validate(self, value: str) -> bool:
        text = value.replace(" ", "").replace("-", "")
        return 2 <= len(text) <= 9 and any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


class DeviceId(Recognizer):
    entity = "DEVICE_ID"
    candidate = r"(?i)[A-Z0-9][A-Z0-9:_-]{5,63}"
    keywords = ("device", "imei", "udid", "serial", "idfa", "gaid", "android", "meid", "hardware")
    needs_context = True
    validator = "identifier layout, with a device keyword"
