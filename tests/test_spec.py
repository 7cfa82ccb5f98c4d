import pytest

from longbench_suite.errors import UserError
from longbench_suite.spec import parse_spec


def test_parse_forms():
    s = parse_spec("openai:gpt-x,base_url=http://127.0.0.1:8000/v1,temperature=0")
    assert (s.kind, s.model, s.options["base_url"], s.options["temperature"]) == ("openai", "gpt-x", "http://127.0.0.1:8000/v1", "0")
    assert parse_spec("oracle").kind == "oracle"
    assert parse_spec("oracle,delay=0.5").options == {"delay": "0.5"}
    wrapped = parse_spec("no-context:embedded,base_url=http://127.0.0.1:1/v1")
    assert wrapped.kind == "no-context" and wrapped.inner.kind == "embedded"
    assert str(wrapped) == "no-context:embedded,base_url=http://127.0.0.1:1/v1"


@pytest.mark.parametrize(
    "bad",
    ["", "  ", "no-context", "Bad Kind", "openai:m,api_key=sk-123", "openai:m,token=abc",
     "openai:m,base_url=http://user:pw@host/v1", "openai:m,x"],
)
def test_bad_specs(bad):
    with pytest.raises(UserError):
        parse_spec(bad)


def test_secret_from_env_name_is_allowed():
    assert parse_spec("openai:m,api_key_env=MY_KEY").options["api_key_env"] == "MY_KEY"
