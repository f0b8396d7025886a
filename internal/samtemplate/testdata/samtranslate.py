#!/usr/bin/env python3
"""Translate SAM templates to CloudFormation with the AWS SAM translator,
the library `sam deploy` (through CloudFormation's transform) and cfn-lint use.

usage: samtranslate.py REGION:IN.json:OUT.json ...
       samtranslate.py --policy-templates   (print the path of SAM's policy templates)

Each input is a rendered template (JSON). CodeUri is replaced by an S3 URI,
as `sam package` does, and the translation runs in REGION so partition-aware
ARNs come out as they would there. A template SAM rejects prints its errors
on stderr, names the input, and makes the exit status 1.
"""

import json
import os
import sys

import samtranslator
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser import parser
from samtranslator.translator.translator import Translator


def translate(region, template):
    os.environ["AWS_DEFAULT_REGION"] = region
    for res in template.get("Resources", {}).values():
        props = res.get("Properties") or {}
        if res.get("Type") == "AWS::Serverless::Function" and "CodeUri" in props:
            props["CodeUri"] = "s3://bucket/wxcentral.zip"
    # wxcentral attaches no AWS managed policy by name, so the map is empty:
    # a name would fail the translation instead of passing unchecked.
    translator = Translator(managed_policy_map={}, sam_parser=parser.Parser())
    params = {
        name: str(p["Default"])
        for name, p in template.get("Parameters", {}).items()
        if "Default" in p
    }
    return translator.translate(sam_template=template, parameter_values=params)


def main(args):
    if args == ["--policy-templates"]:
        base = os.path.dirname(samtranslator.__file__)
        print(os.path.join(base, "policy_templates_data", "policy_templates.json"))
        return 0
    failed = 0
    for arg in args:
        region, src, dst = arg.split(":", 2)
        with open(src, encoding="utf-8") as f:
            template = json.load(f)
        try:
            out = translate(region, template)
        except InvalidDocumentException as e:
            failed = 1
            for cause in e.causes:
                print(f"{src}: {cause.message}", file=sys.stderr)
            continue
        except Exception as e:  # any translator failure fails that template
            failed = 1
            print(f"{src}: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        with open(dst, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1, sort_keys=True)
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
