"""Personal data in what customers say: found, and masked before anything is logged or stored."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kbassist.privacy import find_personal_data, mask_personal_data, remove_personal_data


@pytest.mark.parametrize(
    ("text", "kind", "masked"),
    [
        ("13812345678", "mobile", "138****5678"),
        ("138 1234 5678", "mobile", "138****5678"),
        ("138-1234-5678", "mobile", "138****5678"),
        ("+86 13912345678", "mobile", "+86 139****5678"),
        ("１３８１２３４５６７８", "mobile", "138****5678"),
        ("010-65529988", "landline", "010-****9988"),
        ("(0755)8888 6666", "landline", "0755-****6666"),
        ("0571 8765 4321", "landline", "0571-****4321"),
        ("110101199003071234", "id_card", "110101********1234"),
        ("11010119900307123X", "id_card", "110101********123X"),
        ("110101 19900307 1234", "id_card", "110101********1234"),
        ("6222021234567890", "bank_card", "****7890"),
        ("6222 0212 3456 7890 123", "bank_card", "****0123"),
        ("6222-0212-3456-7890", "bank_card", "****7890"),
        ("wang.li@example.com", "email", "w***@example.com"),
        ("13812345678@qq.com", "email", "1***@qq.com"),
    ],
)
def test_each_kind_is_found_and_masked(text: str, kind: str, masked: str) -> None:
    sentence = f"客户说：{text}，麻烦查一下"
    found = find_personal_data(sentence)
    assert [(f.kind, f.text) for f in found] == [(kind, text.removeprefix("+86 "))]
    assert sentence[found[0].start : found[0].end] == found[0].text
    assert mask_personal_data(sentence) == f"客户说：{masked}，麻烦查一下"


def test_several_items_in_one_question_keep_the_words_around_them() -> None:
    text = "我手机13812345678，身份证110101199003071234，卡号6222021234567890123，邮箱a@b.cn，退款呢？"
    assert mask_personal_data(text) == (
        "我手机138****5678，身份证110101********1234，卡号****0123，邮箱a***@b.cn，退款呢？"
    )
    assert [f.kind for f in find_personal_data(text)] == ["mobile", "id_card", "bank_card", "email"]


@pytest.mark.parametrize(
    "text",
    [
        "空调KFR-35GW/BP3DN8Y-PH200(B1)怎么装",
        "订单2025-11-22下的，3天了",
        "客服热线400-800-8888打不通",
        "1.5匹的3500W够不够20平米",
        "退款1399元多久到账",
        "12345678901",  # eleven digits but not a mobile number (second digit 2)
        "138123456789",  # twelve digits: not a mobile number
    ],
)
def test_ordinary_numbers_are_left_alone(text: str) -> None:
    assert find_personal_data(text) == []
    assert mask_personal_data(text) == text


def test_a_date_that_cannot_be_a_birthday_is_a_card_number_not_an_id() -> None:
    assert [f.kind for f in find_personal_data("编号 110101199013071234")] == ["bank_card"]


def test_removing_personal_data_groups_two_customers_asking_the_same() -> None:
    assert remove_personal_data("我13812345678退款多久到账").replace(" ", "") == "我退款多久到账"
    assert remove_personal_data("我13987654321退款多久到账").replace(" ", "") == "我退款多久到账"


_mobile = st.builds(
    lambda second, rest: f"1{second}{rest}",
    st.sampled_from("3456789"),
    st.text(alphabet="0123456789", min_size=9, max_size=9),
)
_card = st.text(alphabet="0123456789", min_size=16, max_size=19).map(lambda s: "6" + s[1:])
_filler = st.text(alphabet=st.characters(categories=["Lo", "Po", "Zs"]), max_size=12)


@settings(max_examples=200, deadline=None)
@given(_filler, st.one_of(_mobile, _card), _filler)
def test_no_number_survives_masking(before: str, number: str, after: str) -> None:
    masked = mask_personal_data(before + number + after)
    assert number not in masked
    # Not even most of it: no run of more than 4 of its digits in a row stays.
    assert not re.search(r"\d{5,}", masked)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_masking_never_fails_and_is_stable(text: str) -> None:
    masked = mask_personal_data(text)
    assert mask_personal_data(masked) == masked
    for item in find_personal_data(text):
        assert text[item.start : item.end] == item.text
