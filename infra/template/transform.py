"""Print a SAM template after the SAM transform, as CloudFormation sees it.

Usage: python3 transform.py template.yaml > transformed.json

It uses cfn-lint's own wrapper of the SAM translator, so the result is the
template cfn-lint lints; trivy scans it too, since trivy knows only some of
SAM's resource types and none of what SAM generates from them (roles,
permissions, rules, stages).
"""

import json
import sys

from cfnlint.decode import decode
from cfnlint.template.transforms._sam import Transform


def main(path):
    template, matches = decode(path)
    if matches:
        for m in matches:
            print(m, file=sys.stderr)
        return 1
    t = Transform(path, template, "us-east-1")
    matches = t.transform_template()
    if matches:
        for m in matches:
            print(m, file=sys.stderr)
        return 1
    json.dump(t.template(), sys.stdout, indent=1, sort_keys=False, default=str)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
