from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from cost_model.pricing import PricingError, iter_rates, load_pricing


def test_default_prices_have_every_rate_with_unit_source_and_date(pricing):
    assert pricing.region == "us-east-1"
    assert pricing.lambda_.requests.unit_price == D("0.0000002")
    assert [t.price for t in pricing.lambda_.compute.x86_64.tiers] == [
        D("0.0000166667"),
        D("0.000015"),
        D("0.0000133334"),
    ]
    assert [t.up_to for t in pricing.lambda_.compute.arm64.tiers] == [
        7_500_000_000,
        18_750_000_000,
        None,
    ]
    assert pricing.lambda_.ephemeral_storage.price == D("0.0000000309")
    assert pricing.lambda_.free_tier.requests == 1_000_000
    assert pricing.lambda_.free_tier.gb_seconds == 400_000
    assert pricing.apigw_websocket.metered_in_kb == 32
    assert pricing.apigw_websocket.connection_minutes.unit_price == D("0.00000025")
    assert pricing.dynamodb.write_request_units.unit_price == D("0.000000625")
    assert pricing.dynamodb.read_request_units.unit_kb == 4
    assert pricing.fargate.vcpu_hours.price == D("0.04048")
    assert pricing.fargate.gb_hours.price == D("0.004445")
    rates = dict(iter_rates(pricing))
    assert len(rates) == 13
    assert {"alb.hours", "alb.lcu_hours", "data_transfer_out"} <= set(rates)
    for path, rate in rates.items():
        assert rate.source.startswith("https://aws.amazon.com/"), path
        assert isinstance(rate.as_of, date), path
        assert rate.unit, path


def test_partial_override_file_replaces_only_what_it_names(tmp_path):
    override = tmp_path / "prices.toml"
    override.write_text('region = "eu-west-1"\n[lambda.requests]\nprice = 0.25\n')
    pricing = load_pricing(override)
    assert pricing.region == "eu-west-1"
    assert pricing.lambda_.requests.price == D("0.25")
    assert pricing.lambda_.requests.per == 1_000_000  # kept from the default
    assert pricing.lambda_.compute.x86_64.tiers[0].price == D("0.0000166667")


def test_override_replaces_a_tier_list_whole(tmp_path):
    override = tmp_path / "flat.toml"
    override.write_text("[lambda.compute.x86_64]\ntiers = [{ price = 0.00001 }]\n")
    tiers = load_pricing(override).lambda_.compute.x86_64.tiers
    assert [(t.up_to, t.price) for t in tiers] == [(None, D("0.00001"))]


def test_rate_flags_set_one_value_including_inside_tier_lists(tmp_path):
    pricing = load_pricing(
        rates=["lambda.requests.price=0.3", "lambda.compute.arm64.tiers.1.price=0.00001"]
    )
    assert pricing.lambda_.requests.price == D("0.3")
    assert pricing.lambda_.compute.arm64.tiers[1].price == D("0.00001")
    assert pricing.lambda_.compute.arm64.tiers[0].price == D("0.0000133334")


def test_malformed_file_names_the_field_and_the_expected_type(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[lambda.requests]\nprice = "cheap"\n[fargate.gb_hours]\nas_of = "soon"\n')
    with pytest.raises(PricingError) as caught:
        load_pricing(bad)
    message = str(caught.value)
    assert str(bad) in message
    assert "lambda.requests.price: Input should be a valid decimal (got 'cheap')" in message
    assert "fargate.gb_hours.as_of: Input should be a valid date" in message


def test_wrong_type_deep_in_a_tier_list_is_located(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(
        "[apigw_websocket.messages]\ntiers = [{ up_to = 1.5, price = 1 }, { price = 0.8 }]\n"
    )
    with pytest.raises(
        PricingError, match=r"apigw_websocket\.messages\.tiers\[0\]\.up_to: .*integer"
    ):
        load_pricing(bad)


def test_misspelt_key_is_an_error_not_silently_ignored(tmp_path):
    bad = tmp_path / "typo.toml"
    bad.write_text("[lambda.request]\nprice = 0.25\n")
    with pytest.raises(PricingError, match=r"lambda\.request: Extra inputs are not permitted"):
        load_pricing(bad)


def test_tiers_must_end_open_and_ascend(tmp_path):
    bad = tmp_path / "tiers.toml"
    bad.write_text("[lambda.compute.x86_64]\ntiers = [{ up_to = 10, price = 1 }]\n")
    with pytest.raises(PricingError, match=r"lambda\.compute\.x86_64: .*last tier"):
        load_pricing(bad)


def test_toml_syntax_error_names_the_file_and_line(tmp_path):
    bad = tmp_path / "broken.toml"
    bad.write_text("[lambda.requests\nprice = 1\n")
    with pytest.raises(PricingError, match=r"broken\.toml: not valid TOML: .*line 1"):
        load_pricing(bad)


def test_bad_rate_flag_is_explained():
    with pytest.raises(PricingError, match="expected PATH=VALUE"):
        load_pricing(rates=["lambda.requests.price"])
    with pytest.raises(PricingError, match="not an index"):
        load_pricing(rates=["lambda.compute.arm64.tiers.9.price=1"])
