import contextlib

import pytest

from scoring.model.conditions import ConditionError, parse_condition

LISTS = {"free_mail": frozenset({"gmail.com", "GMX.de"})}


def holds(raw, **fields) -> bool:
    return parse_condition(raw, LISTS)(fields)


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [
        ({"field": "x", "equals": "Pricing"}, {"x": "pricing"}, True),
        ({"field": "x", "equals": "Pricing", "case_sensitive": True}, {"x": "pricing"}, False),
        ({"field": "x", "equals": 5}, {"x": 5}, True),
        ({"field": "x", "not_equals": "a"}, {"x": "b"}, True),
        ({"field": "x", "not_equals": "a"}, {}, True),
        ({"field": "x", "in": ["finance", "Banking"]}, {"x": "banking"}, True),
        ({"field": "x", "in": ["finance"]}, {"x": "retail"}, False),
        ({"field": "x", "in_list": "free_mail"}, {"x": "gmx.de"}, True),
        ({"field": "x", "in_list": "free_mail"}, {"x": "acme.com"}, False),
        ({"field": "x", "contains": "student"}, {"x": "PhD Student"}, True),
        ({"field": "x", "starts_with": "/pricing"}, {"x": "/pricing/enterprise"}, True),
        ({"field": "x", "starts_with": "/pricing"}, {"x": "/blog/pricing"}, False),
        ({"field": "x", "ends_with": ".pdf"}, {"x": "guide.PDF"}, True),
        ({"field": "x", "matches": "financial (advisor|adviser)"}, {"x": "Senior Financial Adviser"}, True),
        ({"field": "x", "matches": "^cto$"}, {"x": "vp cto"}, False),
        ({"field": "x", "gt": 10}, {"x": 11}, True),
        ({"field": "x", "gt": 10}, {"x": 10}, False),
        ({"field": "x", "gte": 2000}, {"x": "2000"}, True),
        ({"field": "x", "lt": 5}, {"x": "4.5"}, True),
        ({"field": "x", "lte": 5}, {"x": "lots"}, False),
        ({"field": "x", "gte": 1}, {"x": "nan"}, False),
        ({"field": "x", "gte": 1}, {}, False),
        ({"field": "x", "exists": True}, {"x": "y"}, True),
        ({"field": "x", "exists": True}, {"x": ""}, False),
        ({"field": "x", "exists": False}, {}, True),
        ({"field": "x", "equals": "a"}, {}, False),
        ({"all": [{"field": "x", "equals": "a"}, {"field": "y", "gt": 1}]}, {"x": "a", "y": 2}, True),
        ({"all": [{"field": "x", "equals": "a"}, {"field": "y", "gt": 1}]}, {"x": "a", "y": 0}, False),
        ({"any": [{"field": "x", "equals": "a"}, {"field": "y", "gt": 1}]}, {"x": "b", "y": 2}, True),
        ({"any": [{"field": "x", "equals": "a"}, {"field": "y", "gt": 1}]}, {"x": "b", "y": 0}, False),
        ({"not": {"field": "x", "equals": "a"}}, {"x": "a"}, False),
    ],
)
def test_operators(condition, fields, expected):
    assert holds(condition, **fields) is expected


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ("pricing", "expected a mapping"),
        ({"field": "x"}, "expected exactly one operator"),
        ({"field": "x", "equals": "a", "contains": "b"}, "expected exactly one operator"),
        ({"field": "x", "startswith": "a"}, "expected exactly one operator"),
        ({"equals": "a"}, "field: required"),
        ({"field": "x", "gt": "ten"}, "gt: expected a number"),
        ({"field": "x", "gt": True}, "gt: expected a number"),
        ({"field": "x", "in": []}, "in: expected a non-empty list"),
        ({"field": "x", "in_list": "nope"}, "in_list: no list named 'nope' in the file's lists (free_mail)"),
        ({"field": "x", "matches": "(unclosed"}, "matches: invalid regular expression"),
        ({"field": "x", "matches": "a" * 201}, "longer than 200"),
        ({"field": "x", "exists": "yes"}, "exists: expected true or false"),
        ({"field": "x", "equals": ["a"]}, "equals: expected text or a number"),
        ({"all": []}, "all: expected a non-empty list"),
        ({"all": [{"field": "x", "equals": "a"}, {"field": "y", "gte": "z"}]}, "all[1].gte: expected a number"),
        ({"not": {"field": "x", "equals": "a"}, "field": "y"}, "unexpected key(s)"),
    ],
)
def test_malformed_conditions_name_their_path(condition, message):
    with pytest.raises(ConditionError) as error:
        parse_condition(condition, LISTS)
    assert message in str(error.value)


@pytest.mark.parametrize(
    "payload",
    [
        "__import__('os').system('touch {sentinel}')",
        "open('{sentinel}', 'w').write('x')",
        "{{ 7 * 7 }}",
        "${jndi:ldap://x}",
        "os.system('id')",
    ],
)
def test_conditions_never_execute_their_text(payload, tmp_path):
    sentinel = tmp_path / "pwned"
    payload = payload.format(sentinel=sentinel) if "{sentinel}" in payload else payload
    for operator in ("equals", "contains", "matches", "in"):
        operand = [payload] if operator == "in" else payload
        with contextlib.suppress(ConditionError):  # a payload may not even be a valid regex
            parse_condition({"field": "x", operator: operand}, LISTS)({"x": payload})
    assert not sentinel.exists()
    condition = parse_condition({"field": "x", "equals": payload}, LISTS)
    assert condition({"x": payload}) is True
    assert condition({"x": "49"}) is False
    with pytest.raises(ConditionError):
        parse_condition({"field": "x", payload: 1}, LISTS)
