"""Identity numbers and masking: check a Chinese resident identity number, compute ages, mask personal text.

Pure functions: no clock (the date to judge against is an argument), no I/O.

A resident identity number (GB 11643-1999) has 18 characters: a 6-digit area code, the birth date as YYYYMMDD,
a 3-digit sequence (odd for men, even for women) and a check character computed with ISO 7064 MOD 11-2 over the
first 17 digits. Error messages name the part that is wrong (and that part only, never the whole number, since
error messages end up in logs and the number is personal data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from ledger.errors import ValidationFailed

__all__ = ["ResidentId", "age_on", "check_resident_id", "mask_id", "mask_name", "mask_phone", "resident_id_check_char"]

_LENGTH = 18
_EARLIEST_BIRTH = date(1900, 1, 1)
# ISO 7064 MOD 11-2: digit i (0-based, from the left) weighs 2**(17 - i) mod 11; remainder r gives _CHECK_CHARS[r].
_WEIGHTS = tuple(pow(2, _LENGTH - 1 - i, 11) for i in range(_LENGTH - 1))
_CHECK_CHARS = "10X98765432"
_DIGITS = frozenset("0123456789")
# Characters that separate the parts of a name ("Li Lei", "阿依古丽·买买提", "Jean-Luc"): kept when masking.
_NAME_SEPARATORS = frozenset(" \t·•‧・-.")
_MASK = "*"


@dataclass(frozen=True)
class ResidentId:
    """A resident identity number that passed ``check_resident_id``: the normalised number and what it encodes."""

    number: str
    birth_date: date
    sex: Literal["M", "F"]


def resident_id_check_char(first17: str) -> str:
    """The MOD 11-2 check character ("0"-"9" or "X") for the first 17 digits of a resident identity number.

    Requires exactly 17 ASCII digits; raises ``ValueError`` otherwise (callers validate input first).
    """
    if len(first17) != _LENGTH - 1 or not set(first17) <= _DIGITS:
        raise ValueError("the check character is computed over exactly 17 digits")
    total = sum(int(ch) * weight for ch, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def check_resident_id(value: object, *, field: str, on: date) -> ResidentId:
    """Check a resident identity number and return it normalised (surrounding spaces dropped, ``x`` as ``X``).

    ``on`` is the date the birth date must not be after (the business date of the request). Raises
    ``ValidationFailed(field=field)`` whose message names the first part that is wrong: the type, the length, a
    character that is not a digit (or X in the last place), the area code's first digit (1 to 8), the birth date
    (not a real date, before 1900 or after ``on``) or the check character ("should be 7, not 3"). Whether the area
    code names a real area is not checked.
    """
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string of 18 characters, not {type(value).__name__}", field=field)
    number = value.strip().upper()
    if len(number) != _LENGTH:
        raise ValidationFailed(f"{field} must have 18 characters, not {len(number)}", field=field)
    for position, ch in enumerate(number[:-1], start=1):
        if ch not in _DIGITS:
            raise ValidationFailed(f"{field}: character {position} must be a digit, not {ch!r}", field=field)
    if number[-1] not in _DIGITS and number[-1] != "X":
        raise ValidationFailed(f"{field}: the check character (18th) must be a digit or X, not {number[-1]!r}",
                               field=field)
    if number[0] not in "12345678":
        raise ValidationFailed(f"{field}: the area code must start with a digit from 1 to 8, not {number[0]}",
                               field=field)
    birth = _birth_date(number[6:14], field=field, on=on)
    expected = resident_id_check_char(number[:-1])
    if number[-1] != expected:
        raise ValidationFailed(f"{field}: the check character should be {expected}, not {number[-1]}", field=field)
    sex: Literal["M", "F"] = "M" if int(number[16]) % 2 == 1 else "F"
    return ResidentId(number=number, birth_date=birth, sex=sex)


def _birth_date(text: str, *, field: str, on: date) -> date:
    try:
        birth = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        raise ValidationFailed(f"{field}: the birth date {text} (YYYYMMDD) is not a real date", field=field) from None
    if birth < _EARLIEST_BIRTH:
        raise ValidationFailed(f"{field}: the birth date {birth.isoformat()} is before 1900", field=field)
    if birth > on:
        raise ValidationFailed(f"{field}: the birth date {birth.isoformat()} is after {on.isoformat()}", field=field)
    return birth


def age_on(birth: date, on: date) -> int:
    """Age last birthday (周岁) on ``on``: whole years since ``birth``, going up on each birthday.

    Someone born on 29 February has their birthday on 1 March in common years (they have not lived the whole
    year until 28 February has passed). Requires ``on`` not before ``birth``; raises ``ValidationFailed``
    otherwise.
    """
    if on < birth:
        raise ValidationFailed(f"the date {on.isoformat()} is before the birth date {birth.isoformat()}",
                               field="on")
    years = on.year - birth.year
    # Comparing (month, day) pairs puts a 29 February birthday after 28 February and before 1 March, which is
    # the rule above in common years and the plain rule in leap years.
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def mask_name(name: str) -> str:
    """Keep the first character of each part of a name and replace every other character with one ``*``.

    张三 -> 张*, 欧阳娜娜 -> 欧***, "Li Lei" -> "L* L**", 阿依古丽·买买提 -> 阿***·买**. Parts are separated by
    spaces, middle dots, hyphens and full stops, which are kept. A name of a single character is masked whole
    (keeping it would show it unmasked). Surrounding spaces are dropped. Raises ``ValidationFailed`` for an empty
    or blank name.
    """
    text = name.strip()
    if not text:
        raise ValidationFailed("a name to mask must not be empty", field="name")
    if len(text) == 1:
        return _MASK
    masked: list[str] = []
    at_part_start = True
    for ch in text:
        if ch in _NAME_SEPARATORS:
            masked.append(ch)
            at_part_start = True
        else:
            masked.append(ch if at_part_start else _MASK)
            at_part_start = False
    return "".join(masked)


def _keep_ends(text: str) -> str:
    """The first 3 and last 4 characters kept and the rest starred; all starred when fewer than 8 characters."""
    if len(text) < 8:
        return _MASK * len(text)
    return text[:3] + _MASK * (len(text) - 7) + text[-4:]


def mask_id(number: str) -> str:
    """An identity number with its first 3 and last 4 characters kept: 110***********123X.

    Surrounding spaces are dropped. A number shorter than 8 characters is starred whole, since keeping 7 of
    fewer characters would show most or all of it.
    """
    return _keep_ends(number.strip())


def mask_phone(number: str) -> str:
    """A phone number with its first 3 and last 4 digits kept: 13812345678 -> 138****5678.

    Spaces and hyphens are dropped first ("138 1234 5678" gives the same result). A number shorter than 8
    characters is starred whole.
    """
    return _keep_ends("".join(ch for ch in number if ch not in " -"))
