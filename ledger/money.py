"""Money: a ``Decimal`` amount with its currency, rounded half-up to the cent only where a rule says so."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from ledger.errors import ValidationFailed

__all__ = ["CENT", "DEFAULT_CURRENCY", "Money", "parse_decimal", "round_cent"]

DEFAULT_CURRENCY = "CNY"
MAX_DIGITS = 15  # no amount, rate or factor this ledger handles reaches 10^15
MIN_EXPONENT = -12
MAX_TEXT = 100  # characters of a decimal string: far more than any amount needs (28 significant digits at most)
CENT = Decimal("0.01")


def parse_decimal(value: object, *, field: str) -> Decimal:
    """A finite ``Decimal`` from a string, an int or a Decimal (never a float, whose value is not what was meant).

    Raises ``ValidationFailed`` naming ``field``.
    """
    if isinstance(value, bool | float):
        raise ValidationFailed(f"{field} must be a decimal string such as \"123.45\", not {value!r}", field=field)
    if isinstance(value, Decimal):
        parsed = value
    elif isinstance(value, int | str):
        if isinstance(value, str) and len(value) > MAX_TEXT:  # its digits would cost time and could underflow
            raise ValidationFailed(f"{field} is too long for a decimal number: {len(value)} characters, at most "
                                   f"{MAX_TEXT}", field=field)
        try:
            parsed = Decimal(value)
        except InvalidOperation:
            raise ValidationFailed(f"{field} is not a decimal number: {value!r}", field=field) from None
    else:
        raise ValidationFailed(f"{field} must be a decimal string, not {type(value).__name__}", field=field)
    if not parsed.is_finite():
        raise ValidationFailed(f"{field} must be a finite number, not {value!r}", field=field)
    if parsed != 0 and not MIN_EXPONENT <= parsed.adjusted() < MAX_DIGITS:
        raise ValidationFailed(f"{field} is out of range: amounts have at most {MAX_DIGITS} digits before the "
                               f"point and none below 10^{MIN_EXPONENT}", field=field)
    return parsed


def round_cent(amount: Decimal) -> Decimal:
    """Round half-up to 0.01 (the rule for every amount that is paid or shown)."""
    return amount.quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Money:
    """An amount in one currency. Arithmetic keeps full precision; ``rounded()`` applies the cent rule."""

    amount: Decimal
    currency: str = DEFAULT_CURRENCY

    def __post_init__(self) -> None:
        if not isinstance(self.amount, Decimal) or not self.amount.is_finite():
            raise ValueError(f"Money needs a finite Decimal amount, not {self.amount!r}")
        if len(self.currency) != 3 or not self.currency.isascii() or not self.currency.isupper():
            raise ValueError(f"currency must be an ISO 4217 code such as CNY, not {self.currency!r}")

    @classmethod
    def of(cls, value: object, currency: str = DEFAULT_CURRENCY, *, field: str = "amount") -> Money:
        """Parse an amount (decimal string or int); raises ``ValidationFailed`` naming ``field``."""
        if not isinstance(currency, str) or len(currency) != 3 or not currency.isascii() or not currency.isupper():
            raise ValidationFailed(f"currency must be an ISO 4217 code such as CNY, not {currency!r}",
                                   field="currency")
        return cls(parse_decimal(value, field=field), currency)

    @classmethod
    def zero(cls, currency: str = DEFAULT_CURRENCY) -> Money:
        return cls(Decimal(0), currency)

    def rounded(self) -> Money:
        return Money(round_cent(self.amount), self.currency)

    def _same(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot combine {self.currency} with {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: Decimal | int) -> Money:
        if isinstance(factor, float):
            raise TypeError("multiply Money by a Decimal or an int, not a float")
        return Money(self.amount * factor, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def to_json(self) -> dict[str, str]:
        """``{"amount": "123.45", "currency": "CNY"}``: amounts travel as strings, never as JSON numbers."""
        return {"amount": str(self.amount), "currency": self.currency}

    @classmethod
    def from_json(cls, value: object, *, field: str = "amount") -> Money:
        if not isinstance(value, dict) or set(value) != {"amount", "currency"}:
            raise ValidationFailed(f"{field} must be {{\"amount\": \"…\", \"currency\": \"CNY\"}}", field=field)
        return cls.of(value["amount"], value["currency"], field=f"{field}.amount")

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"
