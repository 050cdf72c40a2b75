#!/usr/bin/env python3
"""Writes prometheusrule.yaml (a PrometheusRule for the Prometheus Operator) from crtoken-rules.yaml.

The rules file is the one source: its groups are copied under `spec:` line for line, comments
included, so both files hold the same rules.

Usage: make_prometheusrule.py [--check]
  --check  write nothing; exit 1 (saying so) when prometheusrule.yaml differs from what this
           script would write, or when the two files do not parse to the same groups.
"""
import os
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "crtoken-rules.yaml")
TARGET = os.path.join(HERE, "prometheusrule.yaml")

HEADER = """\
# Generated from crtoken-rules.yaml by make_prometheusrule.py: edit that file, then run
#   python3 deploy/prometheus/make_prometheusrule.py
# The crtoken alerts for the Prometheus Operator: kubectl apply -f deploy/prometheus/prometheusrule.yaml
# Add the labels your Prometheus selects rules by (its ruleSelector, e.g. `release: ...`).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: crtoken
  namespace: crtoken
  labels:
    app.kubernetes.io/name: crtoken
    app.kubernetes.io/part-of: crtoken
spec:
"""


def render(source_text):
    lines = source_text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("groups:"))
    body = ["  " + line if line else "" for line in lines[start:]]
    return HEADER + "\n".join(body) + "\n"


def main(argv):
    with open(SOURCE, encoding="utf-8") as f:
        source_text = f.read()
    expected = render(source_text)
    if "--check" not in argv:
        with open(TARGET, "w", encoding="utf-8") as f:
            f.write(expected)
        return 0
    try:
        with open(TARGET, encoding="utf-8") as f:
            actual = f.read()
    except OSError as e:
        print(f"{TARGET}: {e.strerror}", file=sys.stderr)
        return 1
    ok = True
    if actual != expected:
        print(f"{TARGET} is not what make_prometheusrule.py writes from {SOURCE}: run it",
              file=sys.stderr)
        ok = False
    rule = yaml.safe_load(actual)
    if rule.get("kind") != "PrometheusRule" or rule.get("spec") != yaml.safe_load(source_text):
        print(f"{TARGET}: its spec does not hold the groups of {SOURCE}", file=sys.stderr)
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
