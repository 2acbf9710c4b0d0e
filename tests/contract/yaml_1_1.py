"""The committed YAML documents read the same in a YAML 1.1 loader (PyYAML, which many
generators use) as the JSON document does: no string turns into a timestamp, boolean or number.

    python tests/contract/yaml_1_1.py openapi/task-operations.yaml DOCUMENT.json \
        openapi/error-responses.yaml
"""
import json
import sys

import yaml


def json_types_only(value, where="$"):
    """Every scalar is one JSON has: a string, number, boolean or null."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                sys.exit(f"{where}: key {key!r} is a {type(key).__name__}, not a string")
            json_types_only(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            json_types_only(item, f"{where}[{index}]")
    elif not isinstance(value, (str, int, float, bool, type(None))):
        sys.exit(f"{where}: {value!r} is read as a {type(value).__name__}")


operations_yaml, operations_json, *others = sys.argv[1:]
loaded = yaml.safe_load(open(operations_yaml))
json_types_only(loaded)
if loaded != json.load(open(operations_json)):
    sys.exit(f"{operations_yaml} read by a YAML 1.1 loader differs from the JSON document")
for other in others:
    json_types_only(yaml.safe_load(open(other)))
print(f"YAML 1.1: {', '.join([operations_yaml, *others])} read as the JSON document")
