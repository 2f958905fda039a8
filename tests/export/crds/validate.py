"""Checks custom resources against the OpenAPI v3 schema their CRD publishes, as the API
server does with strict field validation (`kubectl apply --validate=strict`): types, enums,
required fields, and no field the schema does not list (a typo the server would otherwise
prune silently).

    python validate.py FILE...

Every document must be a kind whose schema is beside this file (see README.md); each one
that passes prints `passed: KIND NAME`. Exit 1 with the errors otherwise. Needs PyYAML and
jsonschema (both come with kubernetes-validate in the test bed's venv).
"""

import json
import os
import sys

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = {
    ("kubeflow.org/v1", "PyTorchJob"): "pytorchjob-kubeflow.org-v1.schema.json",
    ("jobset.x-k8s.io/v1alpha2", "JobSet"): "jobset-jobset.x-k8s.io-v1alpha2.schema.json",
}


def strict(schema):
    """No unknown fields in objects that list theirs (the API server's strict validation)."""
    if isinstance(schema, dict):
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)
    return schema


def main(files):
    failed = False
    for path in files:
        with open(path) as f:
            docs = [d for d in yaml.safe_load_all(f) if d is not None]
        if not docs:
            print(f"{path}: no document")
            failed = True
        for doc in docs:
            key = (doc.get("apiVersion"), doc.get("kind"))
            name = doc.get("metadata", {}).get("name")
            if key not in SCHEMAS:
                print(f"{path}: no schema for {key[1]} of {key[0]}")
                failed = True
                continue
            with open(os.path.join(HERE, SCHEMAS[key])) as f:
                schema = strict(json.load(f))
            errors = sorted(
                jsonschema.Draft7Validator(schema).iter_errors(doc), key=lambda e: list(e.path)
            )
            for e in errors:
                where = ".".join(str(p) for p in e.path) or "(root)"
                print(f"{path}: {key[1]} {name}: {where}: {e.message}")
            if errors:
                failed = True
            else:
                print(f"passed: {key[1]} {name}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
