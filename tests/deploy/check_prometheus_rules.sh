#!/bin/sh
# The alert rules are valid and behave as their unit tests say, and the PrometheusRule holds the
# same rules as the plain rules file.
#
# Usage: check_prometheus_rules.sh SOURCE_DIR PROMTOOL PYTHON3
set -eu
src=${1:?usage: check_prometheus_rules.sh SOURCE_DIR PROMTOOL PYTHON3}
promtool=${2:?}
python=${3:?}
"$promtool" check rules "$src/deploy/prometheus/crtoken-rules.yaml"
"$promtool" test rules "$src/tests/deploy/crtoken-rules.test.yaml"
"$python" "$src/deploy/prometheus/make_prometheusrule.py" --check
echo "prometheusrule.yaml holds the rules of crtoken-rules.yaml"
