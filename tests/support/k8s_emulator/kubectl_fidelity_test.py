#!/usr/bin/env python3
"""The real kubectl against k8s_emulator.py must behave as against a cluster.

Run by ctest. Each test gets the same emulator (fresh per class) and a fresh --cache-dir, so
discovery is never served from an earlier run's cache.
"""

import base64
import copy
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "fidelity-token-6c1f0e"
NAMESPACED_TOKEN = "fidelity-namespaced-token-2d9e"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KubectlFidelityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("kubectl") is None:
            raise RuntimeError("kubectl is not installed (make deps installs it): the emulator's "
                               "fidelity cannot be checked without it")
        cls.dir = tempfile.mkdtemp(prefix="kubectl-fidelity-")
        cls.port = free_port()
        cls.kubeconfig = os.path.join(cls.dir, "kubeconfig")
        cls.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "k8s_emulator.py"), "--port", str(cls.port),
             "--tls-dir", os.path.join(cls.dir, "tls"), "--token", TOKEN,
             "--namespaced-token", NAMESPACED_TOKEN, "--namespace", "team-a", "--kubeconfig-out", cls.kubeconfig],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = cls.proc.stdout.readline()
        if "listening" not in line:
            cls.proc.kill()
            raise RuntimeError("emulator did not start: %s %s" % (line, cls.proc.stderr.read()))
        ctx = ssl.create_default_context(cafile=os.path.join(cls.dir, "tls", "ca.crt"))
        cls.ssl = ctx

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(timeout=10)
        cls.proc.stdout.close()
        cls.proc.stderr.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def setUp(self):
        self.cache = tempfile.mkdtemp(prefix="cache-", dir=self.dir)

    def kubectl(self, *args, input_text=None):
        env = dict(os.environ, KUBECONFIG=self.kubeconfig, HOME=self.dir)
        return subprocess.run(["kubectl", "--cache-dir", self.cache, "--request-timeout", "20s"]
                              + list(args), env=env, input=input_text, capture_output=True,
                              text=True, timeout=120)

    def api(self, path, method="GET", body=None, token=TOKEN):
        req = urllib.request.Request("https://127.0.0.1:%d%s" % (self.port, path), method=method,
                                     data=None if body is None else json.dumps(body).encode())
        if token:
            req.add_header("Authorization", "Bearer " + token)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ssl, timeout=10) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def watch(self, path, token=TOKEN):
        """Opens a watch; the response yields one event per line."""
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl, timeout=20)
        conn.request("GET", path, headers={"Authorization": "Bearer " + token})
        response = conn.getresponse()
        self.addCleanup(conn.close)
        return response

    def next_event(self, response):
        line = response.readline()
        self.assertTrue(line, "the watch ended")
        return json.loads(line)

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_apply_create_update_read_delete(self):
        manifest = ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: pull\n  namespace: team-a\n"
                    "  labels:\n    app: web\ntype: Opaque\ndata:\n  user: YWxpY2U=\n")
        path = self.write("pull.yaml", manifest)

        r = self.kubectl("apply", "--validate=false", "-f", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "secret/pull created")
        _, obj = self.api("/api/v1/namespaces/team-a/secrets/pull")
        rv_created = obj["metadata"]["resourceVersion"]
        self.assertEqual(base64.b64decode(obj["data"]["user"]), b"alice")
        self.assertIn("kubectl.kubernetes.io/last-applied-configuration",
                      obj["metadata"]["annotations"])

        # Unchanged: kubectl computes an empty patch and says so.
        r = self.kubectl("apply", "--validate=false", "-f", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "secret/pull unchanged")

        updated = manifest.replace("YWxpY2U=", "Ym9i").replace("app: web", "app: api")
        self.write("pull.yaml", updated)
        r = self.kubectl("apply", "--validate=false", "-f", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "secret/pull configured")

        r = self.kubectl("get", "secret", "pull", "-n", "team-a", "-o",
                         "jsonpath={.data.user}{\" \"}{.metadata.labels.app}{\" \"}{.type}")
        self.assertEqual(r.returncode, 0, r.stderr)
        b64, label, secret_type = r.stdout.split(" ")
        self.assertEqual(base64.b64decode(b64), b"bob")
        self.assertEqual((label, secret_type), ("api", "Opaque"))
        _, obj = self.api("/api/v1/namespaces/team-a/secrets/pull")
        self.assertGreater(int(obj["metadata"]["resourceVersion"]), int(rv_created))

        r = self.kubectl("get", "secret", "-n", "team-a")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.strip().splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "TYPE", "DATA", "AGE"])
        self.assertEqual(lines[1].split()[:3], ["pull", "Opaque", "1"])

        r = self.kubectl("get", "secrets", "-n", "team-a", "-l", "app=api", "-o", "name")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "secret/pull"), r.stderr)
        r = self.kubectl("get", "secrets", "-n", "team-a", "-l", "app=web", "-o", "name")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, ""), r.stderr)

        r = self.kubectl("delete", "secret", "pull", "-n", "team-a")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), 'secret "pull" deleted')
        status, _ = self.api("/api/v1/namespaces/team-a/secrets/pull")
        self.assertEqual(status, 404)

    def test_get_missing_secret_is_not_found(self):
        r = self.kubectl("get", "secret", "nope", "-n", "team-a")
        self.assertEqual(r.returncode, 1)
        self.assertIn('Error from server (NotFound): secrets "nope" not found', r.stderr)
        r = self.kubectl("delete", "secret", "nope", "-n", "team-a")
        self.assertEqual(r.returncode, 1)
        self.assertIn('secrets "nope" not found', r.stderr)
        r = self.kubectl("delete", "secret", "nope", "-n", "team-a", "--ignore-not-found")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_empty_namespace_lists_nothing(self):
        r = self.kubectl("get", "secret")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("No resources found in default namespace.", r.stderr)

    def test_dockerconfigjson_secret_round_trip(self):
        r = self.kubectl("create", "secret", "docker-registry", "pull-dcj", "-n", "team-a",
                         "--docker-server=reg.example", "--docker-username=u",
                         "--docker-password=p")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.kubectl("get", "secret", "pull-dcj", "-n", "team-a", "-o",
                         "jsonpath={.type} {.data.\\.dockerconfigjson}")
        self.assertEqual(r.returncode, 0, r.stderr)
        secret_type, b64 = r.stdout.split(" ")
        self.assertEqual(secret_type, "kubernetes.io/dockerconfigjson")
        got = json.loads(base64.b64decode(b64))
        self.assertEqual(got["auths"]["reg.example"]["username"], "u")
        self.assertEqual(got["auths"]["reg.example"]["password"], "p")
        # A dockerconfigjson Secret without its key is invalid, as on a real server.
        path = self.write("bad.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: bad\n"
                          "  namespace: team-a\ntype: kubernetes.io/dockerconfigjson\n"
                          "stringData:\n  other: x\n")
        r = self.kubectl("apply", "--validate=false", "-f", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn('Secret "bad" is invalid', r.stderr)
        self.assertIn("data[.dockerconfigjson]: Required value", r.stderr)

    def test_replace_with_stale_resource_version_conflicts(self):
        r = self.kubectl("create", "secret", "generic", "cas", "-n", "team-a",
                         "--from-literal=k=v1")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.kubectl("get", "secret", "cas", "-n", "team-a", "-o", "json")
        obj = json.loads(r.stdout)
        stale = json.loads(r.stdout)
        obj["data"]["k"] = base64.b64encode(b"v2").decode()
        r = self.kubectl("replace", "--validate=false", "-f", "-", input_text=json.dumps(obj))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "secret/cas replaced")
        stale["data"]["k"] = base64.b64encode(b"v3").decode()
        r = self.kubectl("replace", "--validate=false", "-f", "-", input_text=json.dumps(stale))
        self.assertEqual(r.returncode, 1)
        self.assertIn("the object has been modified", r.stderr)
        r = self.kubectl("patch", "secret", "cas", "-n", "team-a", "--type", "merge", "-p",
                         '{"stringData":{"k":"v4"}}')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.kubectl("patch", "secret", "cas", "-n", "team-a", "--type", "json", "-p",
                         '[{"op":"add","path":"/metadata/labels","value":{"x":"y"}}]')
        self.assertEqual(r.returncode, 0, r.stderr)
        _, got = self.api("/api/v1/namespaces/team-a/secrets/cas")
        self.assertEqual(base64.b64decode(got["data"]["k"]), b"v4")
        self.assertEqual(got["metadata"]["labels"], {"x": "y"})

    def test_string_data_is_folded_into_data(self):
        path = self.write("sd.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sd\n"
                          "  namespace: team-a\nstringData:\n  user: alice\n")
        r = self.kubectl("apply", "--validate=false", "-f", path)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "secret/sd created"), r.stderr)
        _, obj = self.api("/api/v1/namespaces/team-a/secrets/sd")
        self.assertNotIn("stringData", obj)
        self.assertEqual(base64.b64decode(obj["data"]["user"]), b"alice")
        # As on a cluster: the live object has no stringData, so kubectl sends it again and says
        # "configured", but the object does not change and keeps its resourceVersion.
        r = self.kubectl("apply", "--validate=false", "-f", path)
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "secret/sd configured"), r.stderr)
        _, again = self.api("/api/v1/namespaces/team-a/secrets/sd")
        self.assertEqual(again["metadata"]["resourceVersion"], obj["metadata"]["resourceVersion"])

    def test_server_side_apply(self):
        path = self.write("ssa.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ssa\n"
                          "  namespace: team-a\nstringData:\n  a: b\n")
        r = self.kubectl("apply", "--server-side", "--validate=false", "-f", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "secret/ssa serverside-applied")
        _, got = self.api("/api/v1/namespaces/team-a/secrets/ssa")
        self.assertEqual(base64.b64decode(got["data"]["a"]), b"b")

    def test_wrong_token_is_unauthorized(self):
        with open(self.kubeconfig) as f:
            kc = self.write("bad-kubeconfig", f.read().replace(TOKEN, "wrong"))
        env = dict(os.environ, KUBECONFIG=kc, HOME=self.dir)
        r = subprocess.run(["/usr/bin/kubectl", "--cache-dir", self.cache, "get", "secret"],
                           env=env, capture_output=True, text=True, timeout=120)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("error: You must be logged in to the server", r.stderr)
        status, body = self.api("/api/v1/namespaces/default/secrets", token=None)
        self.assertEqual((status, body["kind"], body["reason"]), (401, "Status", "Unauthorized"))

    def test_list_across_namespaces_in_chunks(self):
        # kubectl pages with limit and continue (--chunk-size); every page must chain to the next.
        want = []
        for ns in ("paged-a", "paged-b"):
            status, _ = self.api("/api/v1/namespaces", "POST", {"metadata": {"name": ns}})
            self.assertEqual(status, 201)
            for i in range(3):
                name = "s%d" % i
                status, _ = self.api("/api/v1/namespaces/%s/secrets" % ns, "POST",
                                     {"metadata": {"name": name, "labels": {"paged": "yes"}},
                                      "stringData": {"k": "v"}})
                self.assertEqual(status, 201)
                want.append("%s/secret/%s" % (ns, name))
        self.api("/_emulator/requests", "DELETE")
        r = self.kubectl("get", "secrets", "-A", "-l", "paged=yes", "--chunk-size=2", "-o",
                         "jsonpath={range .items[*]}{.metadata.namespace}/secret/"
                         "{.metadata.name}{\"\\n\"}{end}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), want)
        _, log = self.api("/_emulator/requests")
        pages = [e for e in log if e["path"] == "/api/v1/secrets"]
        self.assertEqual(len(pages), 3, pages)
        self.assertEqual(sum("continue=" in e["query"] for e in pages), 2, pages)
        # A continue token the server never made is refused.
        status, body = self.api("/api/v1/secrets?limit=2&continue=bm90LWEtdG9rZW4")
        self.assertEqual((status, body["reason"]), (400, "BadRequest"))

    def test_namespaced_token_cannot_list_at_cluster_scope(self):
        with open(self.kubeconfig) as f:
            kc = self.write("namespaced-kubeconfig", f.read().replace(TOKEN, NAMESPACED_TOKEN))
        env = dict(os.environ, KUBECONFIG=kc, HOME=self.dir)
        run = lambda *args: subprocess.run(["kubectl", "--cache-dir", self.cache] + list(args),
                                           env=env, capture_output=True, text=True, timeout=120)
        r = run("get", "secrets", "-A")
        self.assertEqual(r.returncode, 1)
        self.assertIn('Error from server (Forbidden): secrets is forbidden: User '
                      '"system:serviceaccount:crtoken:crtoken" cannot list resource "secrets" in '
                      'API group "" at the cluster scope', r.stderr)
        r = run("get", "secrets", "-n", "team-a")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_missing_namespace(self):
        r = self.kubectl("get", "secret", "x", "-n", "no-such-ns")
        self.assertEqual(r.returncode, 1)
        self.assertIn("NotFound", r.stderr)
        r = self.kubectl("create", "secret", "generic", "x", "-n", "no-such-ns",
                         "--from-literal=a=b")
        self.assertEqual(r.returncode, 1)
        self.assertIn('namespaces "no-such-ns" not found', r.stderr)

    # --- coordination.k8s.io/v1 Leases -------------------------------------------------------

    LEASE = ("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: %s\n"
             "  namespace: team-a\nspec:\n  holderIdentity: %s\n  leaseDurationSeconds: 15\n"
             "  acquireTime: \"2026-01-02T03:04:05.000000Z\"\n"
             "  renewTime: \"2026-01-02T03:04:06.123456Z\"\n  leaseTransitions: 2\n")

    def test_lease_create_get_list_apply_delete(self):
        path = self.write("lease.yaml", self.LEASE % ("ctl", "pod-a_0123456789"))
        r = self.kubectl("create", "--validate=false", "-f", path)
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (0, "lease.coordination.k8s.io/ctl created"), r.stderr)
        # kubectl finds the group by discovery and prints the server's table: the holder shows.
        r = self.kubectl("get", "lease", "-n", "team-a")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.strip().splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "HOLDER", "AGE"])
        self.assertEqual(lines[1].split()[:2], ["ctl", "pod-a_0123456789"])
        r = self.kubectl("get", "leases.coordination.k8s.io", "-A", "-o", "name")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("lease.coordination.k8s.io/ctl", r.stdout.split())
        r = self.kubectl("get", "lease", "ctl", "-n", "team-a", "-o",
                         "jsonpath={.spec.holderIdentity} {.spec.leaseDurationSeconds} "
                         "{.spec.leaseTransitions} {.spec.renewTime} {.kind}")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["pod-a_0123456789", "15", "2",
                                            "2026-01-02T03:04:06.123456Z", "Lease"])
        # apply (a strategic merge patch of the holder) changes it; the API reads it back.
        self.write("lease.yaml", self.LEASE % ("ctl", "pod-b_9876543210"))
        r = self.kubectl("apply", "--validate=false", "-f", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        status, obj = self.api("/apis/coordination.k8s.io/v1/namespaces/team-a/leases/ctl")
        self.assertEqual((status, obj["spec"]["holderIdentity"]), (200, "pod-b_9876543210"))
        r = self.kubectl("delete", "lease", "ctl", "-n", "team-a")
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (0, 'lease.coordination.k8s.io "ctl" deleted'), r.stderr)
        r = self.kubectl("get", "lease", "ctl", "-n", "team-a")
        self.assertEqual(r.returncode, 1)
        self.assertIn('Error from server (NotFound): leases.coordination.k8s.io "ctl" not found',
                      r.stderr)

    def test_lease_replace_with_stale_resource_version_conflicts(self):
        path = self.write("cas-lease.yaml", self.LEASE % ("cas-lease", "pod-a_1"))
        r = self.kubectl("create", "--validate=false", "-f", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.kubectl("get", "lease", "cas-lease", "-n", "team-a", "-o", "json")
        stale = json.loads(r.stdout)
        fresh = json.loads(r.stdout)
        fresh["spec"]["holderIdentity"] = "pod-b_2"
        fresh["spec"]["leaseTransitions"] = 3
        r = self.kubectl("replace", "--validate=false", "-f", "-", input_text=json.dumps(fresh))
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (0, "lease.coordination.k8s.io/cas-lease replaced"), r.stderr)
        stale["spec"]["holderIdentity"] = "pod-c_3"
        r = self.kubectl("replace", "--validate=false", "-f", "-", input_text=json.dumps(stale))
        self.assertEqual(r.returncode, 1)
        self.assertIn('Operation cannot be fulfilled on leases.coordination.k8s.io "cas-lease": '
                      "the object has been modified", r.stderr)
        _, got = self.api("/apis/coordination.k8s.io/v1/namespaces/team-a/leases/cas-lease")
        self.assertEqual(got["spec"]["holderIdentity"], "pod-b_2")
        # A second create of the same name is AlreadyExists, as a candidate racing another sees.
        r = self.kubectl("create", "--validate=false", "-f", path)
        self.assertEqual(r.returncode, 1)
        self.assertIn('leases.coordination.k8s.io "cas-lease" already exists', r.stderr)

    def test_lease_concurrent_writers_are_serialised(self):
        status, created = self.api("/apis/coordination.k8s.io/v1/namespaces/team-a/leases",
                                   "POST", {"metadata": {"name": "race"},
                                            "spec": {"holderIdentity": "",
                                                     "leaseDurationSeconds": 15}})
        self.assertEqual(status, 201)
        rv = created["metadata"]["resourceVersion"]
        results = []

        def take(i):
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": "race", "namespace": "team-a", "resourceVersion": rv},
                    "spec": {"holderIdentity": "candidate-%d" % i, "leaseDurationSeconds": 15,
                             "leaseTransitions": 1}}
            results.append((i, self.api(
                "/apis/coordination.k8s.io/v1/namespaces/team-a/leases/race", "PUT", body)[0]))

        threads = [threading.Thread(target=take, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        codes = sorted(code for _, code in results)
        self.assertEqual(codes, [200] + [409] * 11, results)
        winner = [i for i, code in results if code == 200][0]
        _, got = self.api("/apis/coordination.k8s.io/v1/namespaces/team-a/leases/race")
        self.assertEqual(got["spec"]["holderIdentity"], "candidate-%d" % winner)

    def test_lease_spec_is_validated(self):
        bad = (self.LEASE % ("bad-lease", "x")).replace("leaseDurationSeconds: 15",
                                                         "leaseDurationSeconds: 0")
        r = self.kubectl("create", "--validate=false", "-f", "-", input_text=bad)
        self.assertEqual(r.returncode, 1)
        # kubectl words a 422 from its details, as it does for a real server's.
        self.assertIn('The Lease "bad-lease" is invalid: spec.leaseDurationSeconds: Invalid '
                      'value: 0: must be greater than 0', r.stderr)
        status, body = self.api("/apis/coordination.k8s.io/v1/namespaces/team-a/leases", "POST",
                                {"metadata": {"name": "t"}, "spec": {"renewTime": "yesterday"}})
        self.assertEqual((status, body["reason"]), (400, "BadRequest"))

    # --- Namespaces with labels, selectors, watch, termination ------------------------------

    def test_namespace_labels_and_label_selectors(self):
        r = self.kubectl("create", "namespace", "sel-a")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "namespace/sel-a created"), r.stderr)
        for ns, labels in (("sel-b", {"team": "web", "tier": "1"}), ("sel-c", {"team": "db"})):
            status, _ = self.api("/api/v1/namespaces", "POST",
                                 {"metadata": {"name": ns, "labels": labels}})
            self.assertEqual(status, 201)
        r = self.kubectl("label", "ns", "sel-a", "team=web", "fanout=yes")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "namespace/sel-a labeled"), r.stderr)
        r = self.kubectl("label", "ns", "sel-a", "team=ops")
        self.assertEqual(r.returncode, 1)
        self.assertIn("'team' already has a value (web), and --overwrite is false", r.stderr)
        r = self.kubectl("label", "ns", "sel-a", "team=ops", "--overwrite")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.kubectl("label", "ns", "sel-a", "fanout-")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, "namespace/sel-a unlabeled"),
                         r.stderr)
        _, got = self.api("/api/v1/namespaces/sel-a")
        self.assertEqual(got["metadata"]["labels"],
                         {"team": "ops", "kubernetes.io/metadata.name": "sel-a"})

        def names(selector):
            r = self.kubectl("get", "ns", "-l", selector, "-o", "name")
            self.assertEqual(r.returncode, 0, r.stderr)
            return [n for n in r.stdout.split() if n.startswith("namespace/sel-")]

        self.assertEqual(names("team=web"), ["namespace/sel-b"])
        self.assertEqual(names("team==ops"), ["namespace/sel-a"])
        self.assertEqual(names("team!=web,team"), ["namespace/sel-a", "namespace/sel-c"])
        self.assertEqual(names("team in (web, db)"), ["namespace/sel-b", "namespace/sel-c"])
        self.assertEqual(names("team notin (web),tier"), [])
        self.assertEqual(names("!tier,team"), ["namespace/sel-a", "namespace/sel-c"])
        self.assertEqual(names("tier>0"), ["namespace/sel-b"])
        self.assertEqual(names("kubernetes.io/metadata.name=sel-c"), ["namespace/sel-c"])
        r = self.kubectl("get", "ns", "--show-labels")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[0].split(), ["NAME", "STATUS", "AGE", "LABELS"])
        # Bad syntax is the server's 400, which kubectl reports.
        r = self.kubectl("get", "ns", "-l", "team in web")
        self.assertEqual(r.returncode, 1)
        self.assertIn("Error from server (BadRequest)", r.stderr)
        self.assertIn("unable to parse requirement: found 'web', expected: '('", r.stderr)
        for bad in ("team in ()", "=x", "team=a b", "-bad-=x", "team,", "tier>x"):
            status, body = self.api("/api/v1/namespaces?labelSelector=" +
                                    urllib.parse.quote(bad))
            self.assertEqual((status, body["reason"]), (400, "BadRequest"), bad)
        # Secrets honour the same selector grammar.
        status, body = self.api("/api/v1/namespaces/team-a/secrets?labelSelector=" +
                                urllib.parse.quote("a notin (b"))
        self.assertEqual(status, 400, body)

    def test_namespace_watch_streams_events(self):
        status, listed = self.api("/api/v1/namespaces?labelSelector=watched%3Dyes")
        self.assertEqual((status, listed["items"]), (200, []))
        rv = listed["metadata"]["resourceVersion"]
        w = self.watch("/api/v1/namespaces?watch=1&labelSelector=watched%%3Dyes&"
                       "resourceVersion=%s&timeoutSeconds=30" % rv)
        self.assertEqual((w.status, w.getheader("Transfer-Encoding")), (200, "chunked"))
        self.api("/api/v1/namespaces", "POST", {"metadata": {"name": "watch-a"}})  # not matching
        r = self.kubectl("label", "ns", "watch-a", "watched=yes")  # starts matching
        self.assertEqual(r.returncode, 0, r.stderr)
        event = self.next_event(w)
        self.assertEqual((event["type"], event["object"]["kind"], event["object"]["metadata"]
                          ["name"]), ("ADDED", "Namespace", "watch-a"))
        r = self.kubectl("label", "ns", "watch-a", "extra=1")
        self.assertEqual(r.returncode, 0, r.stderr)
        event = self.next_event(w)
        self.assertEqual((event["type"], event["object"]["metadata"]["labels"]["extra"]),
                         ("MODIFIED", "1"))
        modified_rv = event["object"]["metadata"]["resourceVersion"]
        r = self.kubectl("label", "ns", "watch-a", "watched-")  # stops matching
        self.assertEqual(r.returncode, 0, r.stderr)
        event = self.next_event(w)
        self.assertEqual((event["type"], event["object"]["metadata"]["name"]),
                         ("DELETED", "watch-a"))
        self.assertGreater(int(event["object"]["metadata"]["resourceVersion"]), int(modified_rv))
        # Without a resourceVersion a watch starts with every matching object, then ends at
        # timeoutSeconds with the stream's last chunk.
        w = self.watch("/api/v1/namespaces?watch=true&fieldSelector=metadata.name%3Dwatch-a&"
                       "timeoutSeconds=1")
        event = self.next_event(w)
        self.assertEqual((event["type"], event["object"]["metadata"]["name"]),
                         ("ADDED", "watch-a"))
        self.assertEqual(w.read(), b"")
        # kubectl get -w prints a namespace created while it watches.
        env = dict(os.environ, KUBECONFIG=self.kubeconfig, HOME=self.dir)
        proc = subprocess.Popen(["kubectl", "--cache-dir", self.cache, "get", "ns", "-w", "-l",
                                 "kubectl-watch=yes"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(
                    "watch=true" in e["query"] and "kubectl-watch" in e["query"]
                    for e in self.api("/_emulator/requests")[1]):
                time.sleep(0.05)
            status, _ = self.api("/api/v1/namespaces", "POST",
                                 {"metadata": {"name": "watch-b",
                                               "labels": {"kubectl-watch": "yes"}}})
            self.assertEqual(status, 201)
            # Nothing matched before, so the table's header comes with the first event.
            header = proc.stdout.readline()
            self.assertEqual(header.split(), ["NAME", "STATUS", "AGE"])
            line = proc.stdout.readline()
            self.assertEqual(line.split()[:2], ["watch-b", "Active"], line)
        finally:
            proc.kill()
            proc.communicate(timeout=10)

    def test_watch_from_a_compacted_resource_version_is_expired(self):
        _, listed = self.api("/api/v1/namespaces")
        old_rv = listed["metadata"]["resourceVersion"]
        self.api("/api/v1/namespaces", "POST", {"metadata": {"name": "compact-a"}})
        status, _ = self.api("/_emulator/compact", "POST", {})
        self.assertEqual(status, 200)
        w = self.watch("/api/v1/namespaces?watch=1&resourceVersion=%s" % old_rv)
        self.assertEqual(w.status, 200)
        event = self.next_event(w)
        self.assertEqual(event["type"], "ERROR")
        self.assertEqual((event["object"]["kind"], event["object"]["code"],
                          event["object"]["reason"]), ("Status", 410, "Expired"))
        self.assertIn("too old resource version: %s" % old_rv, event["object"]["message"])
        self.assertEqual(w.read(), b"")
        # A relist gives the rv to watch from again.
        _, listed = self.api("/api/v1/namespaces")
        w = self.watch("/api/v1/namespaces?watch=1&timeoutSeconds=30&resourceVersion=%s"
                       % listed["metadata"]["resourceVersion"])
        self.kubectl("delete", "ns", "compact-a", "--wait=false")
        self.assertEqual(self.next_event(w)["type"], "MODIFIED")  # Terminating first
        self.assertEqual(self.next_event(w)["type"], "DELETED")

    def test_namespace_termination_refuses_new_content(self):
        # Terminating until the test finalizes it: no race with the clock.
        status, _ = self.api("/_emulator/settings", "POST",
                             {"namespaceTerminationSeconds": 3600})
        self.assertEqual(status, 200)
        self.addCleanup(self.api, "/_emulator/settings", "POST",
                        {"namespaceTerminationSeconds": 0})
        self.kubectl("create", "ns", "term-a")
        r = self.kubectl("create", "secret", "generic", "kept", "-n", "term-a",
                         "--from-literal=k=v")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.kubectl("create", "sa", "builder", "-n", "term-a")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.kubectl("delete", "ns", "term-a", "--wait=false")
        self.assertEqual((r.returncode, r.stdout.strip()), (0, 'namespace "term-a" deleted'),
                         r.stderr)
        r = self.kubectl("get", "ns", "term-a")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.splitlines()[1].split()[:2], ["term-a", "Terminating"])
        status, body = self.api("/api/v1/namespaces/term-a/secrets", "POST",
                                {"metadata": {"name": "late"}, "stringData": {"k": "v"}})
        self.assertEqual((status, body["reason"]), (403, "Forbidden"))
        self.assertEqual(body["message"], 'secrets "late" is forbidden: unable to create new '
                         'content in namespace term-a because it is being terminated')
        r = self.kubectl("create", "secret", "generic", "late", "-n", "term-a",
                         "--from-literal=k=v")
        self.assertEqual(r.returncode, 1)
        self.assertIn("because it is being terminated", r.stderr)
        # Updates of what is there still work, as on a real server.
        r = self.kubectl("label", "secret", "kept", "-n", "term-a", "x=y")
        self.assertEqual(r.returncode, 0, r.stderr)
        # kubectl waits for the deletion with a watch on the namespace's name; the namespace
        # controller finishing (here: the admin endpoint) ends it.
        env = dict(os.environ, KUBECONFIG=self.kubeconfig, HOME=self.dir)
        waiter = subprocess.Popen(["kubectl", "--cache-dir", self.cache, "wait", "--for=delete",
                                   "ns/term-a", "--timeout=60s"], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(
                    "watch=true" in e["query"] and "term-a" in e["query"]
                    for e in self.api("/_emulator/requests")[1]):
                time.sleep(0.05)
            self.assertEqual(self.api("/api/v1/namespaces/term-a")[0], 200)  # still there
            status, _ = self.api("/_emulator/finalize", "POST", {"namespace": "term-a"})
            self.assertEqual(status, 200)
            out, err = waiter.communicate(timeout=60)
            self.assertEqual((waiter.returncode, out.strip()),
                             (0, "namespace/term-a condition met"), err)
        finally:
            if waiter.poll() is None:
                waiter.kill()
                waiter.communicate(timeout=10)
        for path in ("/api/v1/namespaces/term-a", "/api/v1/namespaces/term-a/secrets/kept",
                     "/api/v1/namespaces/term-a/serviceaccounts/builder"):
            self.assertEqual(self.api(path)[0], 404, path)

    # --- ServiceAccounts ---------------------------------------------------------------------

    def test_serviceaccount_create_patch_get(self):
        r = self.kubectl("create", "serviceaccount", "builder", "-n", "team-a")
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (0, "serviceaccount/builder created"), r.stderr)
        r = self.kubectl("patch", "sa", "builder", "-n", "team-a", "-p",
                         '{"imagePullSecrets":[{"name":"foreign"}],"secrets":[{"name":"s1"}]}')
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (0, "serviceaccount/builder patched"), r.stderr)
        # A json-patch appends and keeps the foreign entry.
        r = self.kubectl("patch", "sa", "builder", "-n", "team-a", "--type", "json", "-p",
                         '[{"op":"add","path":"/imagePullSecrets/-","value":{"name":"crtoken"}}]')
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.kubectl("get", "sa", "builder", "-n", "team-a", "-o", "json")
        self.assertEqual(r.returncode, 0, r.stderr)
        got = json.loads(r.stdout)
        self.assertEqual((got["kind"], got["apiVersion"]), ("ServiceAccount", "v1"))
        self.assertEqual(got["imagePullSecrets"], [{"name": "foreign"}, {"name": "crtoken"}])
        # Strategic merge: `secrets` merges by name; `imagePullSecrets` has no patch strategy on
        # a ServiceAccount, so the real server replaces it whole.
        r = self.kubectl("patch", "sa", "builder", "-n", "team-a", "-p",
                         '{"imagePullSecrets":[{"name":"only"}],"secrets":[{"name":"s2"}]}')
        self.assertEqual(r.returncode, 0, r.stderr)
        _, got = self.api("/api/v1/namespaces/team-a/serviceaccounts/builder")
        self.assertEqual(got["imagePullSecrets"], [{"name": "only"}])
        self.assertEqual(got["secrets"], [{"name": "s1"}, {"name": "s2"}])
        status, got = self.api("/api/v1/namespaces/team-a/serviceaccounts/builder", "PATCH",
                               {"secrets": [{"name": "s1", "$patch": "delete"}]})
        self.assertEqual(status, 415)  # application/json is no patch type
        # A JSON merge patch replaces lists too.
        r = self.kubectl("patch", "sa", "builder", "-n", "team-a", "--type", "merge", "-p",
                         '{"secrets":[{"name":"s3"}]}')
        self.assertEqual(r.returncode, 0, r.stderr)
        _, got = self.api("/api/v1/namespaces/team-a/serviceaccounts/builder")
        self.assertEqual(got["secrets"], [{"name": "s3"}])
        # A read-modify-write PUT with the read resourceVersion: a stale one conflicts.
        stale = copy.deepcopy(got)
        got["imagePullSecrets"].append({"name": "mine"})
        status, put = self.api("/api/v1/namespaces/team-a/serviceaccounts/builder", "PUT", got)
        self.assertEqual(status, 200, put)
        stale["imagePullSecrets"] = []
        status, body = self.api("/api/v1/namespaces/team-a/serviceaccounts/builder", "PUT",
                                stale)
        self.assertEqual((status, body["reason"]), (409, "Conflict"))
        r = self.kubectl("get", "sa", "-n", "team-a")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.strip().splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "SECRETS", "AGE"])
        self.assertIn(["builder", "1"], [line.split()[:2] for line in lines[1:]])
        status, body = self.api("/api/v1/namespaces/team-a/serviceaccounts", "POST",
                                {"metadata": {"name": "bad"}, "imagePullSecrets": "x"})
        self.assertEqual((status, body["reason"]), (400, "BadRequest"))
        r = self.kubectl("delete", "sa", "builder", "-n", "team-a")
        self.assertEqual((r.returncode, r.stdout.strip()),
                         (0, 'serviceaccount "builder" deleted'), r.stderr)
        self.assertEqual(self.api("/api/v1/namespaces/team-a/serviceaccounts/builder")[0], 404)

    # --- authorisation per namespace -------------------------------------------------------

    def test_forbidden_namespace(self):
        for ns in ("locked", "open"):
            self.api("/api/v1/namespaces", "POST", {"metadata": {"name": ns}})
        status, _ = self.api("/_emulator/forbid", "POST", {"namespaces": ["locked"]})
        self.assertEqual(status, 201)
        self.addCleanup(self.api, "/_emulator/forbid", "DELETE")
        r = self.kubectl("create", "secret", "generic", "pull", "-n", "locked",
                         "--from-literal=k=v")
        self.assertEqual(r.returncode, 1)
        self.assertIn('secrets is forbidden: User "token-user" cannot create resource "secrets" '
                      'in API group "" in the namespace "locked"', r.stderr)
        r = self.kubectl("create", "secret", "generic", "pull", "-n", "open",
                         "--from-literal=k=v")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.kubectl("get", "secrets", "-n", "locked")  # reads stay allowed
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.kubectl("label", "ns", "locked", "x=y")  # the Namespace object is not in it
        self.assertEqual(r.returncode, 0, r.stderr)
        # A rule for every verb, on one resource, for one token.
        self.api("/_emulator/forbid", "POST", {"namespaces": ["open"], "verbs": ["*"],
                                                "resources": ["serviceaccounts"],
                                                "tokens": [TOKEN]})
        status, body = self.api("/api/v1/namespaces/open/serviceaccounts/default")
        self.assertEqual((status, body["reason"]), (403, "Forbidden"))
        self.assertEqual(body["message"], 'serviceaccounts "default" is forbidden: User '
                         '"token-user" cannot get resource "serviceaccounts" in API group "" in '
                         'the namespace "open"')
        status, _ = self.api("/api/v1/namespaces/open/secrets/pull")
        self.assertEqual(status, 200)
        status, _ = self.api("/api/v1/namespaces/open/serviceaccounts", token=NAMESPACED_TOKEN)
        self.assertEqual(status, 200)  # another token
        # The namespaced token still may not watch or list at the cluster scope.
        status, body = self.api("/api/v1/serviceaccounts?watch=1", token=NAMESPACED_TOKEN)
        self.assertEqual(status, 403)
        self.assertIn('cannot watch resource "serviceaccounts" in API group "" at the cluster '
                      'scope', body["message"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
