"""template.yaml read as data: table schema and route map, one source for AWS and the emulator."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

TEMPLATE_PATH = Path(__file__).with_name("template.yaml")
TABLE_RESOURCE = "ConnectionsTable"
SCHEMA_KEYS = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")


class _TemplateLoader(yaml.SafeLoader):
    """A YAML loader that reads CloudFormation's short-form tags (`!Ref`, `!Sub`...)."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    """`!Ref X` -> {"Ref": X}; `!Sub s` -> {"Fn::Sub": s}: the long form of a short tag."""
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(
            None, None, f"unexpected node {node!r}", node.start_mark
        )
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


_TemplateLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    """Parse the SAM template into plain data (intrinsic functions in their long form)."""
    with path.open(encoding="utf-8") as stream:
        template: dict[str, Any] = yaml.load(stream, Loader=_TemplateLoader)
    return template


def table_definition(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """The connections table's `create_table` arguments (all but the name)."""
    properties = (template or load_template())["Resources"][TABLE_RESOURCE]["Properties"]
    return {key: properties[key] for key in SCHEMA_KEYS if key in properties}


def time_to_live_attribute(template: dict[str, Any] | None = None) -> str | None:
    """The attribute DynamoDB's TTL sweeps on, if the template enables it."""
    properties = (template or load_template())["Resources"][TABLE_RESOURCE]["Properties"]
    spec = properties.get("TimeToLiveSpecification") or {}
    return spec.get("AttributeName") if spec.get("Enabled") else None


def create_table(client: DynamoDBClient, name: str, template: dict[str, Any] | None = None) -> None:
    """Create the connections table (schema from the template) and wait until it is active."""
    template = template or load_template()
    client.create_table(TableName=name, **table_definition(template))
    client.get_waiter("table_exists").wait(
        TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30}
    )
    ttl_attribute = time_to_live_attribute(template)
    if ttl_attribute is None:
        return
    try:
        client.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl_attribute, "Enabled": True},
        )
    except ClientError as exc:
        # dynalite has no TTL (nor does moto sweep): locally every $disconnect runs anyway.
        if exc.response.get("Error", {}).get("Code") != "UnknownOperationException":
            raise


@dataclass(frozen=True, slots=True)
class RouteFunction:
    """The Lambda function behind one WebSocket route, as the template configures it."""

    route_key: str
    function_id: str  # the template's logical id, e.g. "SendMessageFunction"
    handler: str  # the attribute of the handler module, e.g. "send_message"
    memory_mb: int
    timeout_s: float


def route_functions(template: dict[str, Any] | None = None) -> dict[str, RouteFunction]:
    """Route key -> function, following Route.Target -> Integration.IntegrationUri -> Function."""
    template = template or load_template()
    resources: dict[str, Any] = template["Resources"]
    defaults = template.get("Globals", {}).get("Function", {})
    routes: dict[str, RouteFunction] = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::ApiGatewayV2::Route":
            continue
        properties = resource["Properties"]
        integration_id = _sub_reference(properties["Target"], prefix="integrations/")
        integration = resources[integration_id]["Properties"]
        if integration.get("IntegrationType") != "AWS_PROXY":
            raise ValueError(f"route {properties['RouteKey']}: only AWS_PROXY is emulated")
        function_id = _sub_reference(integration["IntegrationUri"], prefix="", suffix=".Arn")
        function = {**defaults, **resources[function_id]["Properties"]}
        routes[properties["RouteKey"]] = RouteFunction(
            route_key=properties["RouteKey"],
            function_id=function_id,
            handler=function["Handler"].rsplit(".", 1)[1],
            memory_mb=int(_resolve(function.get("MemorySize", 128), template)),
            timeout_s=float(_resolve(function.get("Timeout", 3), template)),
        )
    return routes


def _sub_reference(value: Any, prefix: str, suffix: str = "") -> str:
    """The logical id a `!Sub "...${Id}..."` refers to (after `prefix`, before `suffix`)."""
    text: str = value["Fn::Sub"] if isinstance(value, dict) else value
    for start in range(len(text)):
        if text.startswith("${", start) and text[:start].endswith(prefix):
            reference = text[start + 2 : text.index("}", start)]
            if reference.endswith(suffix) and not reference.startswith("AWS::"):
                return reference.removesuffix(suffix)
    raise ValueError(f"no ${{...{suffix}}} reference in {text!r}")


def _resolve(value: Any, template: dict[str, Any]) -> Any:
    """A literal, or a `!Ref` to a parameter (its default)."""
    if isinstance(value, dict) and "Ref" in value:
        return template["Parameters"][value["Ref"]]["Default"]
    return value
