"""Parsing what callers send the claims service: choices, dates, text, accounts, uploads, invoices, ICD-10 codes
and medical history. Each function returns clean values or raises ``ValidationFailed`` naming the field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from ledger.errors import ValidationFailed
from ledger.log.identifiers import parse_timestamp


def choice(raw: Mapping[str, Any], name: str, options: Sequence[str], default: str | None = None) -> str:
    value = raw.get(name, default)
    if value not in options:
        raise ValidationFailed(f"{name} must be one of {', '.join(options)}, got {value!r}", field=name)
    return str(value)


def date_field(raw: Mapping[str, Any], name: str) -> date:
    value = raw.get(name)
    try:
        return date.fromisoformat(str(value))
    except (TypeError, ValueError):
        raise ValidationFailed(f"{name} must be a date YYYY-MM-DD, got {value!r}", field=name) from None


def text(raw: Mapping[str, Any], name: str, *, limit: int, required: bool = True) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str) or len(value) > limit or (required and not value.strip()):
        raise ValidationFailed(f"{name} must be text of at most {limit} characters", field=name)
    return value


def account(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise ValidationFailed("account must be an object {bank, number, name}", field="account")
    out = {}
    for name in ("bank", "number", "name"):
        value = raw.get(name)
        if not isinstance(value, str) or not value.strip() or len(value) > 64:
            raise ValidationFailed(f"account.{name} is required (text, at most 64 characters)",
                                   field=f"account.{name}")
        out[name] = value.strip()
    if not out["number"].replace(" ", "").isdigit():
        raise ValidationFailed("account.number must be digits", field="account.number")
    return out


def uploads(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise ValidationFailed("documents must map document codes to upload digests", field="documents")
    return dict(raw)


def money_field(raw: Mapping[str, Any], name: str, *, field: str) -> str:
    value = raw.get(name, "0")
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise ValidationFailed(f"{field}.{name} must be a decimal amount, got {value!r}", field=f"{field}.{name}") \
            from None
    if not amount.is_finite() or amount < 0 or amount >= MAX_AMOUNT or amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValidationFailed(f"{field}.{name} must be zero or more and below {MAX_AMOUNT}, in whole cents, got "
                               f"{value!r}", field=f"{field}.{name}")
    return str(amount.quantize(Decimal("0.01")))


MAX_AMOUNT = Decimal(10) ** 12  # no single medical bill reaches a trillion


def date_or_time(value: str, *, field: str) -> None:
    """Raise ``ValidationFailed`` naming ``field`` unless ``value`` is a date YYYY-MM-DD or an RFC 3339 time."""
    try:
        if len(value) == 10:
            date.fromisoformat(value)
        else:
            parse_timestamp(value, field=field)
    except ValueError:
        raise ValidationFailed(f"{field} must be a date YYYY-MM-DD or an RFC 3339 time, got {value!r}",
                               field=field) from None


def invoice_facts(raw: Mapping[str, Any], *, field: str, currency: str) -> dict[str, Any]:
    number = raw.get("invoice_no")
    hospital = raw.get("hospital")
    if not isinstance(number, str) or not number.strip() or len(number) > 64:
        raise ValidationFailed(f"{field}.invoice_no is required", field=f"{field}.invoice_no")
    if not isinstance(hospital, str) or not hospital.strip() or len(hospital) > 64:
        raise ValidationFailed(f"{field}.hospital is required (the hospital's code)", field=f"{field}.hospital")
    admitted = date_field(raw, "admitted") if raw.get("admitted") else None
    discharged = date_field(raw, "discharged") if raw.get("discharged") else None
    if admitted and discharged and discharged < admitted:
        raise ValidationFailed(f"{field}.discharged is before admitted", field=f"{field}.discharged")
    total = money_field(raw, "total", field=field)
    ineligible = money_field(raw, "ineligible", field=field)
    social = money_field(raw, "social_insurance_paid", field=field)
    if Decimal(ineligible) + Decimal(social) > Decimal(total):
        raise ValidationFailed(f"{field}: ineligible items and social insurance exceed the total",
                               field=f"{field}.total")
    categories = raw.get("categories") or {}
    if not isinstance(categories, Mapping):
        raise ValidationFailed(f"{field}.categories must map categories to amounts", field=f"{field}.categories")
    return {"invoice_no": number.strip(), "hospital": hospital.strip(),
            "admitted": admitted.isoformat() if admitted else None,
            "discharged": discharged.isoformat() if discharged else None, "total": total, "ineligible": ineligible,
            "social_insurance_paid": social,
            "categories": {str(k): money_field(categories, k, field=f"{field}.categories") for k in categories},
            "currency": _currency(raw, field=field, expected=currency)}


def _currency(raw: Mapping[str, Any], *, field: str, expected: str) -> str:
    given = str(raw.get("currency") or expected)
    if given != expected:
        raise ValidationFailed(f"{field}.currency: claims are paid in {expected}, got {given!r}",
                               field=f"{field}.currency")
    return given


def codes(raw: Any) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(c, str) and 2 < len(c) <= 8 for c in raw):
        raise ValidationFailed("diagnoses must be a list of ICD-10 codes", field="diagnoses")
    return [c.upper() for c in raw]


def history_raw(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ValidationFailed("history must be a list of {code, since}", field="history")
    out = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or not isinstance(item.get("code"), str):
            raise ValidationFailed(f"history[{index}] must be {{code, since}}", field=f"history[{index}]")
        since = date_field(item, "since")
        out.append({"code": item["code"].upper(), "since": since.isoformat()})
    return out
