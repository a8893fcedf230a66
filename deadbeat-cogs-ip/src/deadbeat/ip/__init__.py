"""IP address cogs: parsing and validation, anonymisation, CIDR tagging.

================  ============  =====================================================
name              class         what it does
================  ============  =====================================================
``ip.parse``      IPParse       validates addresses, networks and ranges, writes them
                                in canonical form
``ip.anonymise``  Anonymise     truncation, keyed prefix-preserving Crypto-PAn, or a
                                keyed hash
``ip.cidr``       CIDRTag       tags or filters by named network lists, longest prefix
                                wins, reloaded on SIGHUP and file change
``ip.geoip``      GeoIP         country, city and ASN from MaxMind DB files, reloaded
                                on SIGHUP and file change
================  ============  =====================================================

Crypto-PAn needs the ``cryptopan`` extra (``pip install deadbeat-cogs-ip[cryptopan]``),
GeoIP the ``geoip`` extra (``pip install deadbeat-cogs-ip[geoip]``).
"""

from ._address import Address, AddressError, format_address, normalise, parse_address
from ._anonymise import Anonymise, anonymise_base_config
from ._cidr import CIDRTag, PrefixTable, load_lists
from ._fields import FieldShapeError, MissingFieldError
from ._geoip import GEOIP_PROPERTIES, GeoIP
from ._keys import KeyFileError
from ._parse import IPParse

__all__ = [
    "Address",
    "AddressError",
    "Anonymise",
    "CIDRTag",
    "FieldShapeError",
    "GEOIP_PROPERTIES",
    "GeoIP",
    "IPParse",
    "KeyFileError",
    "MissingFieldError",
    "PrefixTable",
    "anonymise_base_config",
    "format_address",
    "load_lists",
    "normalise",
    "parse_address",
]
