#!/usr/bin/env python3
"""Runs manifests/crtoken-spec.schema.json through a real JSON Schema validator, as an editor would.

Every RegistryToken document of the examples and of tests/daemon/specs/corpus/good must pass;
every file of tests/daemon/specs/corpus/bad must be rejected by the schema or be unreadable as
YAML, except the cases listed in SCHEMA_CANNOT_SEE (rules the schema cannot express, documented
in manifests/README.md).
Usage: schema_check.py SOURCE_DIR. Exit 0 when all of that holds.
"""
import glob
import json
import os
import sys

import jsonschema
import yaml

# Problems only `crtoken validate` sees: duplicate fields and merge keys (the YAML library resolves
# them silently), duplicate scopes, cross-file and cross-document duplicates (of names, and of
# Secrets in overlapping namespace sets), documents that are
# not RegistryTokens at all, and YAML 1.1 booleans (PyYAML reads `yes` as true; YAML 1.2 editors
# read a string, which the schema rejects); and durations compared by value (a lifetime of at least
# 1h in whole seconds, renewBefore shorter than lifetime, the bounds of overlap) and the names of
# overlap's slot tokens (their length, and clashes with other specs).
SCHEMA_CANNOT_SEE = {
    "lifetime-too-short.yaml", "lifetime-fraction-of-a-second.yaml",
    "renew-before-not-shorter.yaml", "overlap-not-shorter-than-renew-before.yaml",
    "overlap-too-short.yaml", "overlap-after-next-renewal.yaml", "overlap-slot-name-too-long.yaml",
    "overlap-slot-clash.yaml",
    "adopt-not-bool.yaml", "document-is-list.yaml", "duplicate-in-one-file.yaml",
    "duplicate-key-metadata-name.yaml", "duplicate-key.yaml", "duplicate-scope.yaml",
    "merge-key.yaml", "dup-across-files/a.yaml",
    "dup-across-files/b.yaml", "same-secret-across-files/x.yaml", "same-secret-across-files/y.yaml",
    "fanout-overlap-across-files/x.yaml", "fanout-overlap-across-files/y.yaml",
}


class Yaml12Loader(yaml.SafeLoader):
    """YAML 1.2 has no timestamp type: editors see dates as strings, and so does this loader."""


Yaml12Loader.yaml_implicit_resolvers = {
    key: [r for r in resolvers if r[0] != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def token_documents(path):
    with open(path, "rb") as f:
        text = f.read().decode("utf-8")
    out = []
    for doc in yaml.load_all(text, Loader=Yaml12Loader):
        # The loader's rule: crtoken.io documents, and anything of kind RegistryToken or with
        # "crtoken" in its apiVersion (likely typos).
        if isinstance(doc, dict):
            version = str(doc.get("apiVersion", ""))
            if "crtoken" in version.lower() or doc.get("kind") == "RegistryToken":
                out.append(doc)
    return out


def main(root):
    with open(os.path.join(root, "manifests/crtoken-spec.schema.json")) as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    cannot_see = set(SCHEMA_CANNOT_SEE)
    if "date-time" not in jsonschema.FormatChecker.checkers:
        # Without a date-time format checker (Debian 12's jsonschema lacks rfc3339-validator)
        # only the schema's pattern applies, and it cannot know that February has no 30th.
        cannot_see.add("expiry-impossible-date.yaml")
    failures = []
    good = glob.glob(os.path.join(root, "manifests/examples/**/*.yaml"), recursive=True)
    good += glob.glob(
        os.path.join(root, "tests/daemon/specs/corpus/good/**/*.y*ml"), recursive=True)
    checked = 0
    for path in sorted(good):
        for doc in token_documents(path):
            checked += 1
            for error in validator.iter_errors(doc):
                failures.append(f"{path}: schema rejects a valid document: {error.message}")
    if checked < 15:
        failures.append(f"only {checked} good documents found")
    bad_root = os.path.join(root, "tests/daemon/specs/corpus/bad")
    bad = sorted(glob.glob(os.path.join(bad_root, "**/*.y*ml"), recursive=True))
    if len(bad) < 30:
        failures.append(f"only {len(bad)} bad files found")
    for path in bad:
        name = os.path.relpath(path, bad_root)
        try:
            docs = token_documents(path)
        except (yaml.YAMLError, UnicodeDecodeError):
            continue  # not YAML an editor could read either
        rejected = any(True for doc in docs for _ in validator.iter_errors(doc))
        if name in cannot_see:
            if rejected:
                failures.append(f"{name}: listed as invisible to the schema but rejected; unlist it")
        elif not rejected:
            failures.append(f"{name}: the schema accepts a spec crtoken rejects")
    for failure in failures:
        print(failure)
    print(f"schema_check: {checked} good documents, {len(bad)} bad files, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
