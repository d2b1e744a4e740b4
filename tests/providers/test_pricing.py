"""The per-model price table: built-ins, registered prices, and ResultMessage cost/usage."""

from __future__ import annotations

from pathlib import Path

import pytest

from threadline.providers import (
    ModelPrice,
    cost_usd,
    model_price,
    price_for,
    register_model_price,
)
from threadline.testing._fake_anthropic import FakeAnthropicServer
from threadline.testing._fake_openai import FakeOpenAIServer

from ._helpers import openai_options, options, run


def test_built_in_prices_and_unknown_models() -> None:
    assert price_for("claude-sonnet-4-6") == (3.0, 15.0)
    assert price_for("claude-some-future-model") == (5.0, 25.0)  # over- not under-estimate
    assert price_for("gpt-4o-mini-2024-07-18") == (0.15, 0.6)  # longest prefix wins
    assert price_for("llama3.2:3b") == (0.0, 0.0)  # local models are free until priced
    usage = {"input_tokens": 1000, "cache_read_input_tokens": 1000, "output_tokens": 1000}
    # OpenAI's cached-token rate, Anthropic's 0.1x default
    assert cost_usd("gpt-4o", usage) == pytest.approx((1000 * 2.5 + 1000 * 1.25 + 1000 * 10) / 1e6)
    assert cost_usd("claude-sonnet-4", usage) == pytest.approx(
        (1000 * 3 + 1000 * 0.3 + 1000 * 15) / 1e6
    )


@pytest.mark.usefixtures("price_table")
def test_register_model_price() -> None:
    register_model_price("llama3", ModelPrice(input=0.1, output=0.2))
    register_model_price("llama3.2", ModelPrice(input=1.0, output=2.0, cache_read=0.5))
    assert model_price("llama3.1:8b") == ModelPrice(input=0.1, output=0.2)
    assert price_for("llama3.2:3b") == (1.0, 2.0)
    usage = {"input_tokens": 100, "cache_read_input_tokens": 100, "output_tokens": 10}
    assert cost_usd("llama3.2", usage) == pytest.approx((100 * 1.0 + 100 * 0.5 + 10 * 2.0) / 1e6)
    register_model_price("claude-sonnet", ModelPrice(input=6.0, output=30.0))  # override
    assert price_for("claude-sonnet-4-6") == (6.0, 30.0)
    with pytest.raises(ValueError, match="prefix"):
        register_model_price("", ModelPrice(input=1.0, output=1.0))


@pytest.mark.anyio
@pytest.mark.usefixtures("price_table")
async def test_result_cost_on_both_providers(
    fake_anthropic: FakeAnthropicServer, fake_openai: FakeOpenAIServer, project: Path
) -> None:
    register_model_price("fake-gpt", ModelPrice(input=1.0, output=2.0, cache_read=0.5))
    fake_openai.script(
        [
            {
                "text": "x",
                "usage": {"prompt_tokens": 1000, "completion_tokens": 100, "cached_tokens": 200},
            }
        ]
    )
    result = (await run("cost", openai_options(fake_openai)))[-1]
    assert result.usage["input_tokens"] == 800 and result.usage["cache_read_input_tokens"] == 200
    expected = (800 * 1.0 + 200 * 0.5 + 100 * 2.0) / 1e6
    assert result.total_cost_usd == pytest.approx(expected)
    assert result.model_usage["fake-gpt"]["costUSD"] == pytest.approx(expected)

    register_model_price("claude-house", ModelPrice(input=10.0, output=20.0))
    fake_anthropic.script([{"text": "y", "usage": {"input_tokens": 1000, "output_tokens": 100}}])
    result = (await run("cost", options(model="claude-house-1")))[-1]
    assert result.total_cost_usd == pytest.approx((1000 * 10 + 100 * 20) / 1e6)
