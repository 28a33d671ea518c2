"""Prints template.yaml (argv[1]) after the SAM transform, as JSON.

CodeUri is local in the template (sam build packages it); the transform
wants an S3 location, so each local CodeUri is given a placeholder one, as
cfn-lint does. Managed policies by name would need IAM to resolve: none is
allowed here, so the loader knows none.
"""
import json
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    def load(self):
        return {}


def main(path):
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    with open(path, encoding="utf-8") as f:
        template = yaml_parse(f.read())
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties") or {}
        if resource.get("Type") == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            props["CodeUri"] = "s3://local-placeholder/" + props["CodeUri"]
    json.dump(transform(template, {}, NoManagedPolicies()), sys.stdout, indent=1, sort_keys=True)


if __name__ == "__main__":
    main(sys.argv[1])
