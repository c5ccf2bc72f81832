"""Prices as data: the pricing schema, loading a TOML file, merging overrides over the default."""

from __future__ import annotations

import copy
import itertools
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

Architecture = Literal["x86_64", "arm64"]
ARCHITECTURES: tuple[Architecture, ...] = ("x86_64", "arm64")
DEFAULT_PRICING_FILE = "aws-us-east-1.toml"


class PricingError(ValueError):
    """A pricing file or override that cannot be read or does not fit the schema."""


class _Model(BaseModel):
    # Unknown keys are errors: a misspelt override must not be silently ignored.
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Rate(_Model):
    """A flat rate: `price` buys `per` units of `unit`."""

    price: Decimal = Field(ge=0)
    per: int = Field(default=1, gt=0)
    unit: str
    source: str
    as_of: date

    @property
    def unit_price(self) -> Decimal:
        """The price of one unit."""
        return self.price / self.per


class SizedRate(Rate):
    """A rate whose unit covers up to `unit_kb` KB (DynamoDB request units)."""

    unit_kb: int = Field(gt=0)


class EphemeralStorageRate(Rate):
    """Lambda /tmp storage: billed per GB-second above the included size."""

    included_mb: int = Field(ge=0)


class Tier(_Model):
    """One price tier; `up_to` is the cumulative monthly usage where it ends (None: no end)."""

    up_to: int | None = Field(default=None, gt=0)
    price: Decimal = Field(ge=0)


class TieredRate(_Model):
    """A rate whose price per `per` units of `unit` falls as monthly usage grows."""

    tiers: list[Tier] = Field(min_length=1)
    per: int = Field(default=1, gt=0)
    unit: str
    source: str
    as_of: date

    @model_validator(mode="after")
    def _tiers_ascend_and_end_open(self) -> TieredRate:
        bounds = [tier.up_to for tier in self.tiers]
        if bounds[-1] is not None:
            raise ValueError("the last tier must have no up_to (it covers all usage above)")
        closed = [bound for bound in bounds[:-1] if bound is not None]
        if len(closed) != len(bounds) - 1:
            raise ValueError("only the last tier may omit up_to")
        if any(lower >= upper for lower, upper in itertools.pairwise(closed)):
            raise ValueError("tier up_to bounds must increase")
        return self


class LambdaCompute(_Model):
    """Lambda compute (GB-seconds) rates by architecture."""

    x86_64: TieredRate
    arm64: TieredRate


class LambdaFreeTier(_Model):
    """The monthly always-free Lambda allowance (shared by both architectures)."""

    requests: int = Field(ge=0)
    gb_seconds: int = Field(ge=0)
    source: str
    as_of: date


class LambdaPricing(_Model):
    """AWS Lambda rates."""

    requests: Rate
    compute: LambdaCompute
    ephemeral_storage: EphemeralStorageRate
    free_tier: LambdaFreeTier

    def compute_rate(self, architecture: Architecture) -> TieredRate:
        """The GB-second rate for one architecture."""
        return self.compute.arm64 if architecture == "arm64" else self.compute.x86_64


class ApiGatewayWebSocketPricing(_Model):
    """API Gateway WebSocket API rates."""

    metered_in_kb: int = Field(gt=0)
    messages: TieredRate
    connection_minutes: Rate


class DynamoDbPricing(_Model):
    """DynamoDB on-demand request rates."""

    write_request_units: SizedRate
    read_request_units: SizedRate


class FargatePricing(_Model):
    """AWS Fargate (Linux, x86) rates."""

    vcpu_hours: Rate
    gb_hours: Rate


class LoadBalancerCapacityUnit(_Model):
    """What one LCU includes, per dimension; an hour is billed for its largest dimension."""

    new_connections_per_s: Decimal = Field(gt=0)
    active_connections: Decimal = Field(gt=0)
    processed_gb_per_hour: Decimal = Field(gt=0)
    rule_evaluations_per_s: Decimal = Field(gt=0)
    free_rules: int = Field(ge=0)
    source: str
    as_of: date


class LoadBalancerPricing(_Model):
    """An Application Load Balancer: hours plus LCU-hours."""

    hours: Rate
    lcu_hours: Rate
    lcu: LoadBalancerCapacityUnit


class Pricing(_Model):
    """Every rate the cost model uses, for one region."""

    region: str
    currency: str
    lambda_: LambdaPricing = Field(alias="lambda")
    apigw_websocket: ApiGatewayWebSocketPricing
    dynamodb: DynamoDbPricing
    fargate: FargatePricing
    alb: LoadBalancerPricing
    data_transfer_out: TieredRate


def default_pricing_data() -> dict[str, Any]:
    """The bundled us-east-1 price file, parsed but not validated."""
    # The data lives in cost_model/pricing/ beside this module (a directory, not a package).
    text = resources.files("cost_model").joinpath("pricing", DEFAULT_PRICING_FILE).read_text()
    return _parse_toml(text, DEFAULT_PRICING_FILE)


def read_pricing_file(path: Path) -> dict[str, Any]:
    """Parse a pricing TOML file (full or partial) without validating it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PricingError(f"{path}: cannot read pricing file: {exc.strerror}") from None
    return _parse_toml(text, str(path))


def _parse_toml(text: str, origin: str) -> dict[str, Any]:
    # Decimal floats: 0.0000166667 must stay exactly that, not the nearest binary fraction.
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PricingError(f"{origin}: not valid TOML: {exc}") from None


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge `override` over `base`: tables merge key by key, other values replace."""
    merged = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def parse_rate_assignment(assignment: str) -> tuple[list[str], Any]:
    """Split `PATH=VALUE` (e.g. `lambda.requests.price=0.25`) into its keys and parsed value."""
    path, sep, raw_value = assignment.partition("=")
    keys = [key.strip() for key in path.split(".")]
    if not sep or not all(keys):
        raise PricingError(f"{assignment!r}: expected PATH=VALUE, e.g. lambda.requests.price=0.25")
    return keys, _parse_value(raw_value.strip())


def _parse_value(raw: str) -> Any:
    # A TOML value (number, date, quoted string, array); anything else is taken as plain text.
    try:
        return tomllib.loads(f"value = {raw}", parse_float=Decimal)["value"]
    except tomllib.TOMLDecodeError:
        return raw


def set_path(data: Mapping[str, Any], keys: Sequence[str], value: Any) -> dict[str, Any]:
    """A copy of `data` with the value at the dotted `keys` set; digits index lists (tiers.0)."""
    updated = copy.deepcopy(dict(data))
    node: Any = updated
    for depth, key in enumerate(keys):
        last = depth == len(keys) - 1
        if isinstance(node, list):
            if not key.isdigit() or int(key) >= len(node):
                where = ".".join(keys[:depth])
                raise PricingError(f"{where}: {key!r} is not an index of its {len(node)} items")
            slot: int | str = int(key)
        elif isinstance(node, dict):
            slot = key
            if not last:
                node.setdefault(key, {})
        else:
            raise PricingError(f"{'.'.join(keys[:depth])}: is a value, not a table")
        if last:
            node[slot] = value
        else:
            node = node[slot]
    return updated


def build_pricing(data: Mapping[str, Any], origin: str = "pricing") -> Pricing:
    """Validate parsed pricing data, naming the field and the expected type on error."""
    try:
        return Pricing.model_validate(data)
    except ValidationError as exc:
        raise PricingError(f"{origin}: invalid pricing\n" + describe_errors(exc)) from None


def describe_errors(exc: ValidationError) -> str:
    """One line per problem: dotted field path, what was expected, what was given."""
    lines = []
    for error in exc.errors():
        field = _dotted(error["loc"])
        # A whole table as input (a failed table-level check) says nothing the message doesn't.
        shown = error["type"] != "missing" and not isinstance(error["input"], Mapping)
        given = f" (got {error['input']!r})" if shown else ""
        lines.append(f"  {field or '(top level)'}: {error['msg']}{given}")
    return "\n".join(lines)


def _dotted(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        parts.append(f"[{item}]" if isinstance(item, int) else ("." if parts else "") + item)
    return "".join(parts)


def load_pricing(path: Path | None = None, rates: Sequence[str] = ()) -> Pricing:
    """The default prices, with a (partial) pricing file and then `PATH=VALUE` rates merged over."""
    data = default_pricing_data()
    origin = DEFAULT_PRICING_FILE
    if path is not None:
        data = merge(data, read_pricing_file(path))
        origin = str(path)
    for assignment in rates:
        data = set_path(data, *parse_rate_assignment(assignment))
    if rates:
        origin = f"{origin} with --rate {', '.join(rates)}"
    return build_pricing(data, origin)


def iter_rates(pricing: Pricing) -> Iterator[tuple[str, Rate | TieredRate]]:
    """Every rate with its dotted path (for listing and for `--rate PATH=VALUE`)."""
    yield from _walk(pricing, "")


def _walk(model: BaseModel, prefix: str) -> Iterator[tuple[str, Rate | TieredRate]]:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        path = f"{prefix}{field.alias or name}"
        if isinstance(value, Rate | TieredRate):
            yield path, value
        elif isinstance(value, BaseModel):
            yield from _walk(value, f"{path}.")
