"""Counts the requests schemathesis VCR cassettes hold per API operation, and fails when an
operation of the contract got fewer than the minimum.

usage: count_cases.py CONTRACT.yaml MINIMUM CASSETTE.yaml...
       count_cases.py CONTRACT.yaml --operation OPERATION_ID CASSETTE.yaml...
       (prints how many of the cassettes' requests that operation got, as counted for the minimum)
"""

import re
import sys
from collections import Counter
from urllib.parse import urlsplit

import yaml


def template_matcher(path_template):
    parts = [("[^/]+" if part.startswith("{") else re.escape(part)) for part in path_template.split("/")]
    return re.compile("^" + "/".join(parts) + "$")


def main():
    if sys.argv[2] == "--operation":
        contract_path, operation_id, cassette_paths = sys.argv[1], sys.argv[3], sys.argv[4:]
    else:
        operation_id = None
        contract_path, minimum, cassette_paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    contract = yaml.safe_load(open(contract_path))
    operations = [
        (method.upper(), path, template_matcher(path))
        for path, item in contract["paths"].items()
        for method in item
    ]
    interactions = [
        interaction
        for path in cassette_paths
        for interaction in yaml.safe_load(open(path))["http_interactions"]
    ]
    counts = Counter()
    for interaction in interactions:
        request = interaction["request"]
        path = urlsplit(request["uri"]).path
        for method, template, matcher in operations:
            if request["method"] == method and matcher.match(path):
                counts[(method, template)] += 1
                break
    if operation_id is not None:
        print(sum(
            counts[(method.upper(), path)]
            for path, item in contract["paths"].items()
            for method, operation in item.items()
            if operation["operationId"] == operation_id
        ))
        return
    short = []
    print(f"{len(interactions)} cases in all")
    for method, template, _ in operations:
        count = counts[(method, template)]
        print(f"{count:6d}  {method} {template}")
        if count < minimum:
            short.append(f"{method} {template}")
    if short:
        sys.exit(f"fewer than {minimum} cases: {', '.join(short)}")


if __name__ == "__main__":
    main()
