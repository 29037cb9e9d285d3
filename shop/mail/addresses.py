"""Every address that goes into an SMTP envelope or a header passes through here.

An internationalised domain becomes its A-label (IDNA 2008), and a non-ASCII local
part goes only to a relay that offers SMTPUTF8 (RFC 6531); anything else is refused
with an ``AddressError`` that says why.
"""

from __future__ import annotations

import contextlib
import re
from email.header import Header
from email.utils import parseaddr
from functools import lru_cache

import idna

# Characters that make a display name a quoted string (RFC 5322 "specials").
_SPECIALS = re.compile(r'[][\\()<>@,:;".]')


class AddressError(OSError):
    """An address no message can be sent to as it stands; the text says why."""

    # An OSError, as smtplib's own errors are, because it is raised where the message is
    # handed to SMTP: callers that report "could not be sent" report this too. It is
    # permanent: sending the same message to the same address again cannot succeed.


def _parts(address: str) -> tuple[str, str, str]:
    """(display name, local part, domain) of ``Name <local@domain>`` or ``local@domain``."""
    if "\r" in address or "\n" in address:
        raise AddressError(f"{address!r} is not an email address: it holds a line break")
    name, addr_spec = parseaddr(address)
    local, at, domain = addr_spec.rpartition("@")
    if not (at and local and domain):
        raise AddressError(f"{address!r} is not an email address")
    return name, local, domain


@lru_cache(maxsize=4096)
def ascii_domain(domain: str) -> str:
    """The domain as every mail server takes it: each non-ASCII label as its A-label."""
    if domain.isascii():
        return domain
    try:
        # IDNA 2008 with the UTS 46 mapping (what browsers and mail providers use):
        # Python's own "idna" codec is IDNA 2003, which turns faß.example into
        # fass.example, somebody else's domain.
        return str(idna.encode(domain, uts46=True).decode("ascii"))
    except idna.IDNAError as exc:
        raise AddressError(
            f"the domain {domain!r} is not a valid internationalised domain name ({exc})"
        ) from exc


def needs_smtputf8(address: str) -> bool:
    """Whether the address's local part is non-ASCII, which only SMTPUTF8 can carry."""
    if address.isascii():
        return False  # the common case: no part of it can be anything else
    local = parseaddr(address)[1].rpartition("@")[0]
    return not local.isascii()


def envelope_address(address: str, *, smtputf8: bool = False) -> str:
    """The address for MAIL FROM or RCPT TO: the A-label domain; UTF-8 only with SMTPUTF8."""
    _, local, domain = _parts(address)
    if not local.isascii() and not smtputf8:
        raise AddressError(
            f"{local}@{domain} has non-ASCII characters before the @: only a mail server "
            "that offers SMTPUTF8 takes it, and this one does not"
        )
    return f"{local}@{ascii_domain(domain)}"


def header_address(address: str) -> str:
    """The address for a To or From header (RFC 5322): RFC 2047 name, A-label domain.

    A non-ASCII local part stays UTF-8 (RFC 6532); such a message is sent only over
    SMTPUTF8, which ``envelope_address`` decides. A domain with no A-label is kept as
    written here and refused by ``envelope_address`` when the message is sent.
    """
    if address.isascii() and "\r" not in address and "\n" not in address:
        return address  # the common case, left exactly as configured or typed
    name, local, domain = _parts(address)
    with contextlib.suppress(AddressError):
        domain = ascii_domain(domain)
    addr_spec = f"{local}@{domain}"
    if not name:
        return addr_spec
    if not name.isascii():
        shown = Header(name, "utf-8").encode()  # an RFC 2047 encoded word
    elif _SPECIALS.search(name):
        shown = '"{}"'.format(name.replace("\\", "\\\\").replace('"', '\\"'))
    else:
        shown = name
    # Not formataddr: it refuses the UTF-8 local part that RFC 6532 allows.
    return f"{shown} <{addr_spec}>"
