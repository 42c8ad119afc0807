"""Resident identity numbers, ages and masking, against check characters computed here from the published weights."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import ValidationFailed
from ledger.parties.identity import (
    ResidentId,
    age_on,
    check_resident_id,
    mask_id,
    mask_name,
    mask_phone,
    resident_id_check_char,
)

TODAY = date(2025, 6, 1)
# GB 11643-1999 as published: the weights of the 17 digits and the character for each remainder mod 11.
PUBLISHED_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
REMAINDER_TO_CHECK = {0: "1", 1: "0", 2: "X", 3: "9", 4: "8", 5: "7", 6: "6", 7: "5", 8: "4", 9: "3", 10: "2"}
PUBLISHED_EXAMPLE = "11010519491231002X"


def reference_check(first17: str) -> str:
    return REMAINDER_TO_CHECK[sum(int(d) * w for d, w in zip(first17, PUBLISHED_WEIGHTS, strict=True)) % 11]


def make_id(area: str, birth: date, sequence: str) -> str:
    first17 = area + birth.strftime("%Y%m%d") + sequence
    return first17 + reference_check(first17)


def check(value: object, on: date = TODAY) -> ResidentId:
    return check_resident_id(value, field="insured.id_number", on=on)


def refusal(value: object, on: date = TODAY) -> str:
    with pytest.raises(ValidationFailed) as caught:
        check(value, on)
    assert caught.value.field == "insured.id_number"
    return caught.value.message


def test_the_published_example_is_a_woman_born_on_31_december_1949() -> None:
    assert reference_check(PUBLISHED_EXAMPLE[:17]) == "X"
    assert check(PUBLISHED_EXAMPLE) == ResidentId(number=PUBLISHED_EXAMPLE, birth_date=date(1949, 12, 31), sex="F")


def test_a_lowercase_x_and_surrounding_spaces_are_normalised() -> None:
    assert check(" 11010519491231002x ").number == PUBLISHED_EXAMPLE


@pytest.mark.parametrize(
    ("area", "birth", "sequence", "sex"),
    [
        ("110105", date(1990, 2, 28), "123", "M"),
        ("440305", date(2000, 2, 29), "040", "F"),
        ("310115", date(1900, 1, 1), "001", "M"),
        ("820000", TODAY, "998", "F"),
        ("654321", date(1975, 10, 9), "457", "M"),
    ],
)
def test_numbers_built_with_the_published_weights_pass(
    area: str, birth: date, sequence: str, sex: Literal["M", "F"]
) -> None:
    number = make_id(area, birth, sequence)
    assert check(number) == ResidentId(number=number, birth_date=birth, sex=sex)


@given(
    area=st.from_regex(r"[1-8][0-9]{5}", fullmatch=True),
    birth=st.dates(min_value=date(1900, 1, 1), max_value=TODAY),
    sequence=st.from_regex(r"[0-9]{3}", fullmatch=True),
)
def test_the_check_character_matches_the_published_weights(area: str, birth: date, sequence: str) -> None:
    number = make_id(area, birth, sequence)
    assert resident_id_check_char(number[:17]) == number[17]
    assert check(number).birth_date == birth
    for wrong in "0123456789X":
        if wrong != number[17]:
            assert refusal(number[:17] + wrong).endswith(f"the check character should be {number[17]}, not {wrong}")


def test_the_message_names_the_expected_and_the_given_check_character() -> None:
    number = make_id("110105", date(1985, 7, 14), "321")
    wrong = "3" if number[17] != "3" else "4"
    assert refusal(number[:17] + wrong) == (
        f"insured.id_number: the check character should be {number[17]}, not {wrong}")


def test_every_single_digit_change_is_caught() -> None:
    number = make_id("110105", date(1985, 7, 14), "321")
    for position in range(17):
        for digit in "0123456789":
            if digit != number[position]:
                with pytest.raises(ValidationFailed):
                    check(number[:position] + digit + number[position + 1 :])


def test_every_swap_of_two_adjacent_different_digits_is_caught() -> None:
    number = make_id("110105", date(1985, 7, 14), "321")
    for position in range(16):
        a, b = number[position], number[position + 1]
        if a != b:
            with pytest.raises(ValidationFailed):
                check(number[:position] + b + a + number[position + 2 :])


@pytest.mark.parametrize(
    ("value", "part"),
    [
        (PUBLISHED_EXAMPLE[:17], "must have 18 characters, not 17"),
        (PUBLISHED_EXAMPLE + "1", "must have 18 characters, not 19"),
        ("", "must have 18 characters, not 0"),
        ("1101051949123100 X", "character 17 must be a digit, not ' '"),
        ("11010519491231X02X", "character 15 must be a digit, not 'X'"),
        ("\uff11" + "10105194912310021", "character 1 must be a digit, not '\uff11'"),  # a full-width 1
        ("11010519491231002A", "the check character (18th) must be a digit or X, not 'A'"),
        ("0" + PUBLISHED_EXAMPLE[1:], "the area code must start with a digit from 1 to 8, not 0"),
        ("9" + PUBLISHED_EXAMPLE[1:], "the area code must start with a digit from 1 to 8, not 9"),
    ],
)
def test_each_malformation_is_named(value: str, part: str) -> None:
    assert part in refusal(value)


def test_a_number_that_is_not_a_string_is_refused() -> None:
    assert "not int" in refusal(110105194912310021)


@pytest.mark.parametrize(
    ("digits", "part"),
    [
        ("19490230", "the birth date 19490230 (YYYYMMDD) is not a real date"),
        ("19491301", "the birth date 19491301 (YYYYMMDD) is not a real date"),
        ("19490000", "the birth date 19490000 (YYYYMMDD) is not a real date"),
        ("20230229", "the birth date 20230229 (YYYYMMDD) is not a real date"),
        ("18991231", "the birth date 1899-12-31 is before 1900"),
        ("20250602", "the birth date 2025-06-02 is after 2025-06-01"),
    ],
)
def test_a_wrong_birth_date_is_named_even_with_a_right_check_character(digits: str, part: str) -> None:
    first17 = "110105" + digits + "002"
    assert part in refusal(first17 + reference_check(first17))


def test_a_birth_date_is_judged_against_the_date_given() -> None:
    number = make_id("110105", date(2025, 6, 2), "002")
    assert "after" in refusal(number, on=date(2025, 6, 1))
    assert check(number, on=date(2025, 6, 2)).birth_date == date(2025, 6, 2)


def test_the_seventeenth_digit_gives_the_sex() -> None:
    for digit in "0123456789":
        number = make_id("110105", date(1985, 7, 14), "32" + digit)
        assert check(number).sex == ("M" if int(digit) % 2 else "F")


@pytest.mark.parametrize(
    ("birth", "on", "age"),
    [
        (date(1990, 6, 15), date(2025, 6, 14), 34),
        (date(1990, 6, 15), date(2025, 6, 15), 35),
        (date(1990, 6, 15), date(2025, 12, 31), 35),
        (date(1990, 12, 31), date(2025, 1, 1), 34),
        (date(2025, 6, 1), date(2025, 6, 1), 0),
        (date(2000, 2, 29), date(2023, 2, 28), 22),
        (date(2000, 2, 29), date(2023, 3, 1), 23),
        (date(2000, 2, 29), date(2024, 2, 28), 23),
        (date(2000, 2, 29), date(2024, 2, 29), 24),
        (date(2000, 2, 28), date(2023, 2, 28), 23),
        (date(2000, 3, 1), date(2024, 2, 29), 23),
    ],
)
def test_age_last_birthday(birth: date, on: date, age: int) -> None:
    assert age_on(birth, on) == age


def test_age_goes_up_by_one_on_each_birthday_only() -> None:
    birth = date(1996, 2, 29)
    day, previous = birth, 0
    while day < date(2030, 1, 1):
        day += timedelta(days=1)
        current = age_on(birth, day)
        assert current in (previous, previous + 1)
        if current == previous + 1:
            assert (day.month, day.day) in ((2, 29), (3, 1))
            assert (day.month, day.day) == ((2, 29) if day.year % 4 == 0 else (3, 1))
        previous = current
    assert previous == 33


def test_age_before_birth_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        age_on(date(2000, 1, 2), date(2000, 1, 1))


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("李", "*"),
        ("Li Lei", "L* L**"),
        ("  Li Lei ", "L* L**"),
        ("Jean-Luc Picard", "J***-L** P*****"),
        ("阿依古丽·买买提", "阿***·买**"),
    ],
)
def test_mask_name(name: str, masked: str) -> None:
    assert mask_name(name) == masked


def test_mask_name_never_keeps_more_than_the_first_character_of_a_part() -> None:
    for name in ("王小明", "司马相如", "Maximilian"):
        masked = mask_name(name)
        assert len(masked) == len(name)
        assert masked[0] == name[0]
        assert not set(masked[1:]) & set(name)


def test_an_empty_name_is_refused() -> None:
    with pytest.raises(ValidationFailed):
        mask_name("  ")


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("11010519491231123X", "110***********123X"),
        (PUBLISHED_EXAMPLE, "110***********002X"),
        ("E12345678", "E12**5678"),
        ("1234567", "*******"),
    ],
)
def test_mask_id(number: str, masked: str) -> None:
    assert mask_id(number) == masked


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("13812345678", "138****5678"),
        ("138 1234 5678", "138****5678"),
        ("138-1234-5678", "138****5678"),
        ("12345", "*****"),
    ],
)
def test_mask_phone(number: str, masked: str) -> None:
    assert mask_phone(number) == masked
