#!/usr/bin/env python3
"""The alert rules and the Grafana dashboard hold together with what crtoken exports.

- every crtoken_* metric a rule or a panel queries is one that reconciler/metrics.cc defines
  (read from its Build...().Name("...") definitions; a histogram also has _bucket, _sum, _count);
- every metric defined there has a row in the table of docs/metrics.md;
- every alert has a severity, a summary, a description and a runbook_url that is a heading of
  docs/runbook.md; an alert on a per-token metric (a `token` label in docs/metrics.md) names the
  token and the registry;
- the dashboard is importable: a schemaVersion, a `datasource` variable of type datasource, and
  every panel, target and query variable uses it (no data source of its own).

Usage: check_observability.py SOURCE_DIR. Prints every problem; exit 1 when there is one.
"""
import json
import os
import re
import sys

import yaml

PROBLEMS = []


def problem(where, text):
    PROBLEMS.append(f"{where}: {text}")


def defined_metrics(source_dir):
    path = os.path.join(source_dir, "reconciler", "metrics.cc")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    names = set()
    for kind, name in re.findall(r'Build(Counter|Gauge|Histogram)\(\)\s*\.Name\("([^"]+)"\)', text):
        names.add(name)
        if kind == "Histogram":
            names.update({name + "_bucket", name + "_sum", name + "_count"})
    if len(names) < 5:
        problem(path, f"found only {len(names)} metric definitions; has their form changed?")
    return names


def documented_labels(source_dir, defined):
    """Each metric of the table in docs/metrics.md, with its labels column."""
    path = os.path.join(source_dir, "docs", "metrics.md")
    rows = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^\|\s*`(crtoken_[a-z0-9_]+)`\s*\|[^|]*\|([^|]*)\|", line)
            if m:
                rows[m.group(1)] = m.group(2)
    for name in sorted(defined):
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if base not in rows and name not in rows:
            problem(path, f"{name} has no row in the metrics table")
    return rows


def slugs(markdown_path):
    """GitHub's anchor of each heading (as tests/repo/docs_links_test.sh computes them)."""
    out = set()
    fenced = False
    with open(markdown_path, encoding="utf-8") as f:
        for line in f:
            if re.match(r"^\s*(```|~~~)", line):
                fenced = not fenced
                continue
            m = None if fenced else re.match(r"^#+\s+(.*?)\s*#*\s*$", line)
            if m:
                out.add(re.sub(r"[^a-z0-9 _-]", "", m.group(1).lower()).replace(" ", "-"))
    return out


def check_expr(where, expr, exported):
    # Label values and matchers may hold anything: only metric names outside them count.
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    names = set(re.findall(r"\b(crtoken_[a-z0-9_]+)\b", bare))
    if not names and not re.search(r"\bup\b", bare):
        problem(where, f"queries no crtoken metric: {expr!r}")
    for name in sorted(names - exported):
        problem(where, f"queries {name}, which crtoken does not export")
    return names


def check_rules(source_dir, exported, labels):
    path = os.path.join(source_dir, "deploy", "prometheus", "crtoken-rules.yaml")
    runbook = os.path.join(source_dir, "docs", "runbook.md")
    headings = slugs(runbook)
    with open(path, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    alerts = 0
    for group in doc["groups"]:
        for rule in group["rules"]:
            name = rule.get("alert") or rule.get("record")
            where = f"{path}: {name}"
            names = check_expr(where, rule["expr"], exported)
            if "alert" not in rule:
                continue
            alerts += 1
            if rule.get("labels", {}).get("severity") not in ("warning", "critical"):
                problem(where, "severity must be warning or critical")
            ann = rule.get("annotations", {})
            for key in ("summary", "description", "runbook_url"):
                if not ann.get(key):
                    problem(where, f"no {key}")
            url = ann.get("runbook_url", "")
            expected = "docs/runbook.md#" + name.lower()
            if url != expected:
                problem(where, f"runbook_url is {url!r}, expected {expected!r}")
            elif name.lower() not in headings:
                problem(where, f"docs/runbook.md has no section '## {name}'")
            if any("`token`" in labels.get(n, "") for n in names):
                for label in ("$labels.token", "$labels.registry"):
                    if label not in ann.get("description", ""):
                        problem(where, f"the description of a per-token alert must name {label}")
    if alerts == 0:
        problem(path, "no alert")


def walk_datasources(node, where, out):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                out.append((where, value))
            walk_datasources(value, where + "." + str(key), out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            walk_datasources(value, f"{where}[{i}]", out)


def check_dashboard(source_dir, exported):
    path = os.path.join(source_dir, "deploy", "grafana", "crtoken.json")
    with open(path, encoding="utf-8") as f:
        dash = json.load(f)
    if not isinstance(dash.get("schemaVersion"), int):
        problem(path, "no schemaVersion")
    variables = dash.get("templating", {}).get("list", [])
    ds_vars = [v for v in variables if v.get("name") == "datasource"]
    if len(ds_vars) != 1 or ds_vars[0].get("type") != "datasource" or \
            ds_vars[0].get("query") != "prometheus":
        problem(path, "needs one variable `datasource` of type datasource, query prometheus")
    wanted = {"type": "prometheus", "uid": "${datasource}"}
    found = []
    walk_datasources(dash, "dashboard", found)
    for where, value in found:
        if value != wanted and not (where.startswith("dashboard.templating") and
                                    where.endswith(".list[0]")):
            problem(path, f"{where}.datasource is {value!r}, expected {wanted!r}")
    for v in variables:
        if v.get("type") == "query":
            if v.get("datasource") != wanted:
                problem(path, f"variable {v.get('name')} does not use the datasource variable")
            query = v.get("query")
            check_expr(f"{path}: variable {v.get('name')}",
                       query.get("query", "") if isinstance(query, dict) else query, exported)
    panels = []

    def collect(items):
        for p in items:
            panels.append(p)
            collect(p.get("panels", []))
    collect(dash.get("panels", []))
    ids = [p.get("id") for p in panels]
    if len(ids) != len(set(ids)):
        problem(path, "panel ids are not unique")
    queried = set()
    for p in panels:
        if p.get("type") == "row":
            continue
        where = f"{path}: panel {p.get('title')!r}"
        if p.get("datasource") != wanted:
            problem(where, "does not use the datasource variable")
        targets = p.get("targets", [])
        if not targets:
            problem(where, "has no query")
        for t in targets:
            if t.get("datasource") != wanted:
                problem(where, f"target {t.get('refId')} does not use the datasource variable")
            queried |= check_expr(where, t.get("expr", ""), exported)
    return queried


def main(argv):
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    source_dir = argv[0]
    exported = defined_metrics(source_dir)
    labels = documented_labels(source_dir, exported)
    check_rules(source_dir, exported, labels)
    check_dashboard(source_dir, exported)
    for p in PROBLEMS:
        print(p)
    if PROBLEMS:
        return 1
    print(f"rules and dashboard: every query uses one of the {len(exported)} names crtoken exports")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
