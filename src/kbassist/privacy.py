"""Find and mask personal data (phone, ID-card, bank-card numbers, e-mail) in free text.

Customers read their phone or card number out and agents paste it into the search box. The search may
use the text as typed, but what is logged, stored or reported goes through ``mask_personal_data`` first.
Detection leans towards masking: an order number that looks like a bank card is masked too.

    >>> mask_personal_data("我手机 138 1234 5678，卡号 6222021234567890123")
    '我手机 138****5678，卡号 ****0123'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

PersonalKind = Literal["email", "id_card", "bank_card", "mobile", "landline"]

# One separator a person may put between digit groups: spaces (incl. the ideographic one) and dashes.
_SEP = r"[ \t\u3000\-‐‑‒–—－]"
_D = r"\d"  # Unicode digits: full-width ０-９ typed with a Chinese IME count too.
# Not glued to more digits, directly or across one separator: a longer number is not a phone number.
_START = rf"(?<!\d)(?<!\d{_SEP})"
_END = rf"(?!{_SEP}?\d)"


def _digits(count: int) -> str:
    """``count`` digits with at most one separator between any two."""
    return rf"{_D}(?:{_SEP}?{_D}){{{count - 1}}}"


_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])(?P<local>[A-Za-z0-9._%+-]+)@(?P<domain>[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24})"
)
_ID_CARD = re.compile(rf"{_START}(?P<number>(?:{_D}{_SEP}?){{17}}[\dXx]){_END}")
_BANK_CARD = re.compile(rf"{_START}(?P<number>{_D}(?:{_SEP}?{_D}){{15,18}}){_END}")
_MOBILE = re.compile(
    rf"{_START}(?P<prefix>(?:\+|00)?86{_SEP}?)?(?P<number>[1１]{_SEP}?[3-9３-９](?:{_SEP}?{_D}){{9}}){_END}"
)
_LANDLINE = re.compile(
    rf"{_START}(?P<number>[(（]?[0０][1-9１-９]{_D}{{1,2}}[)）]?{_SEP}?[2-9２-９]{_D}{{2,3}}{_SEP}?{_D}{{4}}){_END}"
)


@dataclass(frozen=True)
class PersonalData:
    """One piece of personal data: its kind and where it is in the text (``text[start:end]``)."""

    kind: PersonalKind
    start: int
    end: int
    text: str


def _only_digits(text: str) -> str:
    """ASCII digits (full-width ones converted), X kept for ID cards."""
    out = []
    for char in text:
        if char in "Xx":
            out.append("X")
        elif char.isdigit():
            out.append(str(int(char)))
    return "".join(out)


def _plausible_id_card(digits: str) -> bool:
    """Region code and a birth date that exists on a calendar (checksums are often mistyped, so not checked)."""
    if digits[0] == "0":
        return False
    year, month, day = int(digits[6:10]), int(digits[10:12]), int(digits[12:14])
    return 1800 <= year <= 2199 and 1 <= month <= 12 and 1 <= day <= 31


def find_personal_data(text: str) -> list[PersonalData]:
    """Every phone / ID-card / bank-card number and e-mail address in ``text``, in order, not overlapping."""
    found: list[PersonalData] = []
    taken: list[tuple[int, int]] = []

    def free(start: int, end: int) -> bool:
        return all(end <= s or start >= e for s, e in taken)

    def add(kind: PersonalKind, start: int, end: int) -> None:
        found.append(PersonalData(kind, start, end, text[start:end]))
        taken.append((start, end))

    for match in _EMAIL.finditer(text):
        add("email", match.start(), match.end())
    for match in _ID_CARD.finditer(text):
        start, end = match.span("number")
        if free(start, end) and _plausible_id_card(_only_digits(match["number"])):
            add("id_card", start, end)
    for match in _BANK_CARD.finditer(text):
        start, end = match.span("number")
        if free(start, end):
            add("bank_card", start, end)
    for match in _MOBILE.finditer(text):
        start, end = match.span("number")
        if free(start, end):
            add("mobile", start, end)
    for match in _LANDLINE.finditer(text):
        start, end = match.span("number")
        if free(start, end):
            add("landline", start, end)
    return sorted(found, key=lambda item: item.start)


def mask(item: PersonalData) -> str:
    """How one item is shown once masked: enough left to tell two apart, not enough to call or pay."""
    if item.kind == "email":
        local, _, domain = item.text.partition("@")
        return f"{local[0]}***@{domain}"
    digits = _only_digits(item.text)
    if item.kind == "mobile":
        return f"{digits[:3]}****{digits[-4:]}"
    if item.kind == "id_card":
        return f"{digits[:6]}********{digits[-4:]}"
    if item.kind == "landline":
        area = 3 if digits[1] in "12" else 4  # 010, 02x are three digits; the rest four
        return f"{digits[:area]}-****{digits[-4:]}"
    return f"****{digits[-4:]}"


def _replace(text: str, replacement: Callable[[PersonalData], str], items: Sequence[PersonalData] | None = None) -> str:
    items = find_personal_data(text) if items is None else items
    if not items:
        return text
    parts: list[str] = []
    position = 0
    for item in items:
        parts.append(text[position : item.start])
        parts.append(replacement(item))
        position = item.end
    parts.append(text[position:])
    return "".join(parts)


def mask_personal_data(text: str) -> str:
    """``text`` with every item ``find_personal_data`` finds replaced by its masked form."""
    return _replace(text, mask)


def remove_personal_data(text: str) -> str:
    """``text`` without the personal data: two customers asking the same question group together."""
    return _replace(text, _blank)


def mask_and_remove_personal_data(text: str) -> tuple[str, str]:
    """``mask_personal_data`` and ``remove_personal_data`` of one text, scanning it once."""
    items = find_personal_data(text)
    return _replace(text, mask, items), _replace(text, _blank, items)


def _blank(item: PersonalData) -> str:
    return " "
