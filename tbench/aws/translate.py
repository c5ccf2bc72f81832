"""servers/lambda_ws/template.yaml as plain CloudFormation: its SAM part translated here.

The template uses one SAM feature: `AWS::Serverless::Function` with `Globals`, an S3-bound
`CodeUri` and inline policy statements. aws-sam-translator would do this, but it pins a pydantic
older than the one this project needs, so the subset is translated locally, and anything
beyond it is refused rather than half-translated. Per function: an `AWS::IAM::Role` Lambda can
assume (basic execution for logs, plus the function's own statements) and an
`AWS::Lambda::Function` whose code is the run's archive in S3. Every resource that takes tags
gets the run's (the stack's tags propagate on AWS too; these also name them in a listing).
"""

from __future__ import annotations

import copy
from typing import Any

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
SAM_FUNCTION = "AWS::Serverless::Function"
# What a SAM function may carry here; anything else (Events, Layers...) is not translated.
FUNCTION_PROPERTIES = {
    "Runtime",
    "CodeUri",
    "Handler",
    "MemorySize",
    "Timeout",
    "Architectures",
    "Environment",
    "Policies",
}
PASSED_THROUGH = ("Runtime", "Handler", "MemorySize", "Timeout", "Architectures", "Environment")
BASIC_EXECUTION = "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
ASSUME_BY_LAMBDA = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}
# Resource types whose Tags are a list of {Key, Value}; ApiGatewayV2::Api's are a map.
LIST_TAGGED = {
    "AWS::IAM::Role",
    "AWS::Lambda::Function",
    "AWS::Logs::LogGroup",
    "AWS::DynamoDB::Table",
}
MAP_TAGGED = {"AWS::ApiGatewayV2::Api"}


class TranslationError(ValueError):
    """The template uses SAM beyond what this translation covers."""


def role_id(function_id: str) -> str:
    """The logical id of a function's execution role."""
    return f"{function_id}Role"


def translate(
    template: dict[str, Any], code_bucket: str, code_key: str, tags: dict[str, str]
) -> dict[str, Any]:
    """Plain CloudFormation from the SAM template; TranslationError on SAM it does not cover."""
    result = copy.deepcopy(template)
    if result.pop("Transform", SAM_TRANSFORM) != SAM_TRANSFORM:
        raise TranslationError("only the AWS::Serverless-2016-10-31 transform is translated")
    globals_ = result.pop("Globals", {})
    if set(globals_) - {"Function"}:
        raise TranslationError(f"Globals beyond Function: {sorted(set(globals_) - {'Function'})}")
    defaults = globals_.get("Function", {})
    resources: dict[str, Any] = result["Resources"]
    for logical_id, resource in list(resources.items()):
        if resource["Type"] == SAM_FUNCTION:
            properties = {**defaults, **resource.get("Properties", {})}
            role, function = _function(logical_id, properties, code_bucket, code_key)
            resources[role_id(logical_id)] = role
            resources[logical_id] = {**resource, **function}
        elif resource["Type"].startswith("AWS::Serverless::"):
            raise TranslationError(f"{logical_id}: {resource['Type']} is not translated")
    for resource in resources.values():
        _tag(resource, tags)
    return result


def _function(
    logical_id: str, properties: dict[str, Any], code_bucket: str, code_key: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The execution role and the `AWS::Lambda::Function` of one SAM function."""
    if unknown := set(properties) - FUNCTION_PROPERTIES:
        raise TranslationError(f"{logical_id}: SAM properties not translated: {sorted(unknown)}")
    statements = []
    for index, policy in enumerate(properties.get("Policies", [])):
        if not isinstance(policy, dict) or "Statement" not in policy:
            raise TranslationError(f"{logical_id}: only inline policy statements are translated")
        statements.append(
            {
                "PolicyName": f"{logical_id}Policy{index}",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": policy["Statement"]},
            }
        )
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": ASSUME_BY_LAMBDA,
            "ManagedPolicyArns": [{"Fn::Sub": BASIC_EXECUTION}],
            "Policies": statements,
        },
    }
    function_properties = {key: properties[key] for key in PASSED_THROUGH if key in properties}
    function_properties["Code"] = {"S3Bucket": code_bucket, "S3Key": code_key}
    function_properties["Role"] = {"Fn::GetAtt": [role_id(logical_id), "Arn"]}
    return role, {"Type": "AWS::Lambda::Function", "Properties": function_properties}


def _tag(resource: dict[str, Any], tags: dict[str, str]) -> None:
    """Add the run's tags to a resource that takes them."""
    properties = resource.setdefault("Properties", {})
    if resource["Type"] in LIST_TAGGED:
        properties["Tags"] = [
            *properties.get("Tags", []),
            *({"Key": key, "Value": value} for key, value in tags.items()),
        ]
    elif resource["Type"] in MAP_TAGGED:
        properties["Tags"] = {**properties.get("Tags", {}), **tags}
