"""The price table file: prices by model, defaults, and one-line errors naming file, model and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracelake.errors import ConfigError
from tracelake.transforms.pricing import ModelPrice, PriceTableError, estimate_cost, load_prices


def test_price_table_loads_with_cached_input_defaulting_to_input(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text('[models."gpt-small-2026-06"]\ninput = 0.15\ncached_input = 0.015\noutput = 0.6\n'
                    '[models.big]\ninput = 3\noutput = 15\n')
    prices = load_prices(path)
    assert prices == {"gpt-small-2026-06": ModelPrice(0.15, 0.015, 0.6), "big": ModelPrice(3.0, 3.0, 15.0)}
    assert estimate_cost(prices, "big", 1_000_000, 0, 1_000_000) == 18.0
    assert load_prices(None) == {}


def test_empty_file_is_an_empty_table(tmp_path: Path) -> None:
    path = tmp_path / "prices.toml"
    path.write_text("# nothing priced yet\n")
    assert load_prices(path) == {}


@pytest.mark.parametrize(("text", "expected"), [
    ('[models."a"\n', "not valid TOML: "),
    ('[models.a]\ninput = 1\noutput = 1\n[models."gpt-4.1"]\ninput = "0.15"\noutput = 1\n',
     'models."gpt-4.1".input: Input should be a valid number'),
    ('[models.a]\ninput = 1\n', "models.a.output: Field required"),
    ('[models.a]\ninput = 1\noutput = -1\n', "models.a.output: Input should be greater than or equal to 0"),
    ('[models.a]\ninput = 1\noutput = nan\n', "models.a.output: Input should be a finite number"),
    ('[models.a]\ninput = 1\noutput = 1\nouput = 2\n',
     "models.a: unknown key 'ouput' (known: input, cached_input, output)"),
    ('[prices.a]\ninput = 1\n', "unknown section 'prices' (known: models)"),
    ('models = ["a"]\n', "models: Input should be a table"),
])
def test_bad_price_tables_name_file_model_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(PriceTableError) as error:
        load_prices(path)
    assert str(error.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(error.value)


def test_missing_price_table_is_a_config_error_and_a_value_error(tmp_path: Path) -> None:
    # ValueError: the ingest commands catch that when they build the pipeline.
    with pytest.raises(ConfigError, match=r"nope\.toml: price table does not exist"):
        load_prices(tmp_path / "nope.toml")
    with pytest.raises(ValueError):
        load_prices(tmp_path / "nope.toml")
