"""The SAM template: cfn-lint clean, and consistent with the handlers it deploys."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from servers.lambda_ws.template import (
    TEMPLATE_PATH,
    load_template,
    route_functions,
    table_definition,
)

pytestmark = pytest.mark.timeout(120)

HANDLERS_PATH = TEMPLATE_PATH.with_name("handlers.py")


def resources(kind: str) -> dict[str, dict[str, Any]]:
    """The template's resources of one type, by logical id."""
    return {
        name: resource
        for name, resource in load_template()["Resources"].items()
        if resource["Type"] == kind
    }


def handler_constant(name: str) -> Any:
    """A module-level constant of handlers.py, read without importing it (no AWS env here)."""
    for node in ast.parse(HANDLERS_PATH.read_text()).body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == name for target in node.targets
        ):
            return ast.literal_eval(node.value)
    raise LookupError(name)


def handler_functions() -> set[str]:
    """Public functions defined in handlers.py."""
    tree = ast.parse(HANDLERS_PATH.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}


def test_cfn_lint_passes() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(TEMPLATE_PATH)], capture_output=True, text=True, timeout=100
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_websocket_api_routes_on_the_action_field() -> None:
    (api,) = resources("AWS::ApiGatewayV2::Api").values()
    assert api["Properties"]["ProtocolType"] == "WEBSOCKET"
    assert api["Properties"]["RouteSelectionExpression"] == "$request.body.action"


def test_every_route_reaches_a_handler_that_exists() -> None:
    routes = {key: (route.function_id, route.handler) for key, route in route_functions().items()}
    assert routes == {
        "$connect": ("ConnectFunction", "connect"),
        "$disconnect": ("DisconnectFunction", "disconnect"),
        "sendMessage": ("SendMessageFunction", "send_message"),
        "$default": ("DefaultFunction", "default"),
    }
    assert {handler for _, handler in routes.values()} <= handler_functions()
    for route in route_functions().values():
        assert (route.memory_mb, route.timeout_s) == (256, 10.0)


def test_table_has_the_room_index_the_handlers_query() -> None:
    definition = table_definition()
    assert definition["BillingMode"] == "PAY_PER_REQUEST"
    assert [index["IndexName"] for index in definition["GlobalSecondaryIndexes"]] == [
        handler_constant("ROOM_INDEX")
    ]


def test_functions_are_python_312_with_a_256_mb_default_and_a_chosen_architecture() -> None:
    template = load_template()
    globals_ = template["Globals"]["Function"]
    assert globals_["Runtime"] == "python3.12"
    assert template["Parameters"]["MemorySize"]["Default"] == 256
    assert globals_["Architectures"] == [{"Ref": "Architecture"}]
    # the emulator's durations are priced at x86_64: a plain deploy runs what is priced
    assert template["Parameters"]["Architecture"]["Default"] == "x86_64"


def test_permissions_are_least_privilege() -> None:
    for name, function in resources("AWS::Serverless::Function").items():
        for policy in function["Properties"]["Policies"]:
            for statement in policy["Statement"]:
                resource = statement["Resource"]
                text = str(resource)
                assert "*" not in text.replace("@connections/*", ""), (name, resource)
                if statement["Action"] == "execute-api:ManageConnections":
                    assert "${WebSocketApi}/${StageName}/POST/@connections/*" in text
                else:
                    assert "ConnectionsTable" in text, (name, resource)
    for permission in resources("AWS::Lambda::Permission").values():
        properties = permission["Properties"]
        assert properties["Principal"] == "apigateway.amazonaws.com"
        assert "${WebSocketApi}/*/" in properties["SourceArn"]["Fn::Sub"]


def test_outputs_give_the_wss_url() -> None:
    url = load_template()["Outputs"]["WebSocketURL"]["Value"]["Fn::Sub"]
    assert url.startswith("wss://${WebSocketApi}.execute-api.")
    assert url.endswith("/${StageName}")
