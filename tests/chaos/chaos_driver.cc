#include "tests/chaos/chaos_driver.h"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "daemon/common/base64.h"
#include "reconciler/time_util.h"
#include "reconciler/token_id.h"
#include "tests/support/crtoken_process.h"
#include "tests/support/daemon_process.h"
#include "tests/support/emulator_process.h"
#include "tests/support/fake_wall_clock.h"
#include "tests/support/http_client.h"
#include "tests/support/k8s_emulator/k8s_emulator_process.h"
#include "tests/support/temp_dir.h"

namespace crtoken::test::chaos {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The credentials of the two APIs: every output is scanned for both.
constexpr char kApiToken[] = "chaos-api-bearer-7f3a9c2e51d04b8e";
constexpr char kKubeToken[] = "chaos-kube-bearer-4d1e8a6b90c27f35";
const std::vector<std::string> kRegistries = {"chaos-a", "chaos-b", "chaos-c", "chaos-d"};
// A password of crtoken-emulator is 40 letters and digits; secrets are scanned for as windows of
// this many characters of the base64 alphabet.
constexpr size_t kSecretWindow = 40;
constexpr char kLeaderSeries[] = "crtoken_leader{lease=\"crtoken/crtoken\"}";
constexpr char kPassesSeries[] = "crtoken_reconcile_total{result=\"success\"}";

struct Scope {
  std::string name;
  std::string type;
  std::vector<std::string> actions;
};
const std::vector<std::vector<Scope>> kScopeSets = {
    {{"app/*", "repository", {"pull"}}},
    {{"app/*", "repository", {"pull", "push"}}},
    {{"lib/*", "repository", {"pull"}}, {"app/*", "repository", {"push", "delete"}}},
    {{"*", "repository", {"pull"}}},
};
const std::vector<int> kLifetimeDays = {30, 60, 90, 180};
// The short lifetime of owner crtoken's rotating tokens (renewBefore given explicitly), and the
// overlap of those with spec.overlap (valid: 1m <= overlap < renewBefore, overlap <= lifetime -
// renewBefore). A clock advance is shorter than renewBefore, so that no token the last pass left
// current expires before the next pass, and longer than the overlap, so that a retirement falls
// due; see AdvanceClock.
constexpr int64_t kShortLifetime = 4 * 3600;
constexpr int64_t kShortRenewBefore = 2 * 3600;
constexpr int64_t kOverlap = 20 * 60;
constexpr int kAdvanceMinMinutes = 25;
constexpr int kAdvanceMaxMinutes = 115;
// Time stops moving once this far ahead: the expiryDate tokens (60 days ahead at least), the
// decoys' expiries and the day lifetimes of the other owners (renewal at a third of 30 days at the
// soonest) must not fall due, whatever the number of rounds.
constexpr int64_t kMaxAdvance = 5 * 86400;

// One declared token.
struct TokenDecl {
  std::string registry;
  std::string name;
  bool enabled = true;
  int scopes = 0;            // index into kScopeSets
  int expiry = 0;            // 0 none, 1 expiryDate, 2 lifetime
  std::string date;          // expiry 1: YYYY-MM-DDT00:00:00Z
  int64_t lifetime = 0;      // expiry 2, in seconds
  int64_t renew_before = 0;  // expiry 2: spec.renewBefore in seconds; 0: not given (a third)
  int64_t overlap = 0;       // expiry 2: spec.overlap in seconds; 0: none
  bool kubernetes = false;

  std::string Key() const { return registry + "/" + name; }
  std::string File() const { return registry + "/" + name + ".json"; }
  int64_t RenewBefore() const { return renew_before > 0 ? renew_before : lifetime / 3; }
  // The names of its tokens: itself, and with overlap its two slots (SlotNames).
  std::vector<std::string> Names() const {
    if (overlap == 0) return {name};
    return {name, name + "-a", name + "-b"};
  }
};

// A duration as the specs write it: whole days, hours or minutes where it is one.
std::string Duration(int64_t seconds) {
  if (seconds % 86400 == 0) return std::to_string(seconds / 86400) + "d";
  if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds % 60 == 0) return std::to_string(seconds / 60) + "m";
  return std::to_string(seconds) + "s";
}

// One installation of crtoken: an owner, its specs, where its secrets go.
struct Installation {
  std::string label;  // main, other, ha
  std::string owner;
  std::string prefix;  // of its token names
  fs::path specs;
  fs::path secrets;
  std::string k8s_namespace;  // of its Kubernetes Secrets
  bool kubernetes_only = false;
  bool rotating = false;  // short lifetimes and spec.overlap are declared (owner crtoken)
  std::map<std::string, TokenDecl> declared;  // by Key()
  int next_name = 0;
  // When its last convergence began (for apply-driven installations, its last clean apply): a
  // renewal or a retirement that fell due since is not yet expected of it.
  Clock::time_point settled = Clock::now();
};

std::string SpecYaml(const TokenDecl& d, const std::string& k8s_namespace) {
  std::string y =
      "apiVersion: crtoken.io/v1alpha1\nkind: RegistryToken\nmetadata:\n  name: " + d.name +
      "\nspec:\n  registry: " + d.registry + "\n  status: " + (d.enabled ? "enabled" : "disabled") +
      "\n";
  if (d.expiry == 1) y += "  expiryDate: " + d.date + "\n";
  if (d.expiry == 2) {
    y += "  lifetime: " + Duration(d.lifetime) + "\n";
    if (d.renew_before > 0) y += "  renewBefore: " + Duration(d.renew_before) + "\n";
    if (d.overlap > 0) y += "  overlap: " + Duration(d.overlap) + "\n";
  }
  y += "  scopes:\n";
  for (const Scope& s : kScopeSets[d.scopes]) {
    y += "    - {name: \"" + s.name + "\", type: " + s.type + ", actions: [";
    for (size_t i = 0; i < s.actions.size(); ++i) y += (i ? ", " : "") + s.actions[i];
    y += "]}\n";
  }
  if (d.kubernetes) {
    y += "  secret:\n    kubernetes: {namespace: " + k8s_namespace + ", name: " + d.name + "}\n";
  } else {
    y += "  secret:\n    file: " + d.File() + "\n";
  }
  return y;
}

// A scope list as a comparable set: (name, type, sorted actions).
std::set<std::string> ScopeSet(const json& scopes) {
  std::set<std::string> out;
  if (!scopes.is_array()) return out;
  for (const json& s : scopes) {
    std::vector<std::string> actions;
    for (const json& a : s.value("actions", json::array())) actions.push_back(a.get<std::string>());
    std::sort(actions.begin(), actions.end());
    std::string text = s.value("name", "") + "|" + s.value("type", "") + "|";
    for (const std::string& a : actions) text += a + ",";
    out.insert(text);
  }
  return out;
}
std::set<std::string> ScopeSet(const std::vector<Scope>& scopes) {
  json j = json::array();
  for (const Scope& s : scopes)
    j.push_back({{"name", s.name}, {"type", s.type}, {"actions", s.actions}});
  return ScopeSet(j);
}

// "YYYY-MM-DDTHH:MM:SSZ" as seconds since the epoch; nullopt for anything else.
std::optional<int64_t> EpochOf(const json& text) {
  if (!text.is_string()) return std::nullopt;
  std::tm tm{};
  const std::string s = text.get<std::string>();
  if (::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%SZ", &tm) == nullptr) return std::nullopt;
  return static_cast<int64_t>(::timegm(&tm));
}

// Seconds since the epoch as "YYYY-MM-DDTHH:MM:SSZ".
std::string TimeText(int64_t epoch) {
  const time_t t = static_cast<time_t>(epoch);
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

// An invariant broken: its name and what was seen.
struct Problem {
  std::string invariant;
  std::string detail;
};

std::string Tail(const std::string& text, size_t n = 1500) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

class Chaos {
 public:
  Chaos(const ChaosBudget& budget, std::ostream& progress)
      : budget_(budget), progress_(progress), rng_(budget.seed), work_("crtoken-chaos") {
    figures_.seed = budget.seed;
  }

  ChaosResult Run() {
    const auto start = Clock::now();
    progress_ << "chaos: seed " << budget_.seed << " (replay: CRTOKEN_CHAOS_SEED=" << budget_.seed
              << "), at most " << budget_.rounds << " rounds in " << budget_.seconds << " s, "
              << budget_.tokens << " tokens; crtoken " << CrtokenBinaryPath() << std::endl;
    Setup();
    for (int round = 1; round <= budget_.rounds && violations_.empty(); ++round) {
      if (Clock::now() - start >= std::chrono::seconds(budget_.seconds)) break;
      round_ = round;
      const auto round_start = Clock::now();
      ApplyTurn(main_, /*daemon_allowed=*/true);
      Done();
      if (violations_.empty()) ApplyTurn(other_, /*daemon_allowed=*/false);
      Done();
      if (violations_.empty()) HaTurn();
      Done();
      figures_.rounds = round;
      progress_ << "chaos: round " << round << " done in "
                << std::chrono::duration<double>(Clock::now() - round_start).count() << " s ("
                << main_.declared.size() + other_.declared.size() + ha_.declared.size()
                << " tokens declared, " << violations_.size() << " violations)" << std::endl;
    }
    if (violations_.empty()) {
      phase_ = "end";
      // The end: every installation checked once more, together.
      const json state = State();
      for (Installation* x : {&main_, &other_, &ha_}) Report(Check(*x, state));
    }
    StopReplicas();
    figures_.tokens_declared =
        static_cast<int>(main_.declared.size() + other_.declared.size() + ha_.declared.size());
    figures_.token_ids_seen = static_cast<int>(ids_seen_.size());
    figures_.passwords_seen = static_cast<int>(secret_storage_.size());
    {
      std::lock_guard<std::mutex> lock(rotation_mu_);
      figures_.time_moves = clock_ != nullptr;
      figures_.clock_offset_seconds = clock_ ? clock_->offset() : 0;
      figures_.slots_issued = static_cast<int>(slots_issued_.size());
      figures_.rotations = rotations_;
      figures_.retirements = retirements_;
      figures_.rotation_samples = rotation_samples_;
    }
    figures_.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return {figures_, violations_};
  }

 private:
  // ---- choices: every one from rng_, in program order ----
  int Pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  // Midnight UTC `days` days after the day the world was made, as the API writes it: expiry dates
  // stay in the future whenever the test runs (time moves at most a few days during a run).
  std::string DateInDays(int days) const {
    return FormatRfc3339(Instant{today_ + std::chrono::days(days)});
  }
  bool Chance(int percent) { return Pick(1, 100) <= percent; }
  std::string Uuid4() {
    std::uniform_int_distribution<int> hex(0, 15);
    const char* digits = "0123456789abcdef";
    std::string id;
    for (int i = 0; i < 32; ++i) {
      if (i == 8 || i == 12 || i == 16 || i == 20) id += '-';
      int d = hex(rng_);
      if (i == 12) d = 4;            // version 4
      if (i == 16) d = 8 | (d & 3);  // variant 10
      id += digits[d];
    }
    return id;
  }

  // ---- the world ----
  void Setup() {
    phase_ = "setup";
    const fs::path root = work_.path();
    fs::create_directories(root / "out");
    k8s_ = std::make_unique<K8sEmulatorProcess>(
        CRTOKEN_PYTHON,
        std::string(CRTOKEN_SOURCE_DIR) + "/tests/support/k8s_emulator/k8s_emulator.py",
        std::vector<std::string>{"--token", kKubeToken, "--namespace", "crtoken", "--namespace",
                                 "team-main", "--namespace", "team-ha", "--kubeconfig-out",
                                 (root / "kubeconfig").string()});
    if (!k8s_->started()) {
      throw std::runtime_error("the Kubernetes API emulator did not start: " + k8s_->first_line());
    }
    std::vector<std::string> args = {"--token", kApiToken, "--provision-seconds", "0"};
    for (const std::string& r : kRegistries) {
      args.push_back("--registry");
      args.push_back(r);
    }
    emu_ = std::make_unique<EmulatorProcess>(args);

    auto make = [&](Installation& x, std::string label, std::string owner, std::string prefix,
                    std::string ns, bool kubernetes_only) {
      x.label = std::move(label);
      x.owner = std::move(owner);
      x.prefix = std::move(prefix);
      x.specs = root / x.label / "specs";
      x.secrets = root / x.label / "secrets";
      x.k8s_namespace = std::move(ns);
      x.kubernetes_only = kubernetes_only;
      fs::create_directories(x.specs);
      // Never an empty spec tree (it looks like a volume that failed to mount).
      WriteFile(x.specs / "keep.yaml", "# the chaos test's specs\n");
    };
    make(main_, "main", "crtoken", "app", "team-main", false);
    main_.rotating = true;
    if (FakeWallClock::Available()) {
      clock_ = std::make_unique<FakeWallClock>(root / "faketime");
    } else {
      progress_ << "chaos: libfaketime is not installed (" << FakeWallClock::kLibrary
                << "): time does not move, no rotation falls due" << std::endl;
    }
    make(other_, "other", "other", "oth", "", false);
    make(ha_, "ha", "ha", "ha", "team-ha", true);

    const int total = std::max(budget_.tokens, 12);
    const int ha_count = std::max(4, total / 12);
    const int other_count = std::max(4, total / 6);
    const int main_count = total - ha_count - other_count;
    for (int i = 0; i < main_count; ++i) Add(main_, /*kubernetes=*/i < 2);
    for (int i = 0; i < other_count; ++i) Add(other_, false);
    for (int i = 0; i < ha_count; ++i) Add(ha_, true);
    Watch();

    // Decoys: tokens of another tool, under random version-4 ids, in every registry.
    const char* tools[] = {"robot", "terraform", "ci-bot", "deploy-key"};
    const int decoys = Pick(16, 24);
    for (int i = 0; i < decoys; ++i) {
      const std::string& registry = kRegistries[Pick(0, 3)];
      const std::string name = std::string(tools[Pick(0, 3)]) + "-" + std::to_string(i);
      json props = {{"name", name}, {"status", Chance(80) ? "enabled" : "disabled"}};
      json scopes = json::array();
      for (const Scope& s : kScopeSets[Pick(0, 3)]) {
        scopes.push_back({{"name", s.name}, {"type", s.type}, {"actions", s.actions}});
      }
      props["scopes"] = scopes;
      if (Chance(30)) props["expiryDate"] = DateInDays(Pick(60, 240));
      HttpResult r = HttpCall(
          "PUT",
          emu_->base_url() + "/registries/" + emu_->RegistryId(registry) + "/tokens/" + Uuid4(),
          {{"Authorization", std::string("Bearer ") + kApiToken},
           {"Content-Type", "application/json"}},
          json{{"properties", props}}.dump());
      if (r.status != 201 && r.status != 200) {
        throw std::runtime_error("creating the decoy " + name + ": " + std::to_string(r.status) +
                                 " " + r.body);
      }
    }
    progress_ << "chaos: " << main_count << " tokens of owner crtoken (apply and run), "
              << other_count << " of owner other (apply), " << ha_count
              << " of owner ha (2 replicas, --leader-elect), " << decoys << " decoys, in "
              << kRegistries.size() << " registries" << std::endl;

    // The first convergence of each installation, without chaos.
    ApplyTurn(main_, false, /*calm=*/true);
    if (!violations_.empty()) return;
    ApplyTurn(other_, false, /*calm=*/true);
    if (!violations_.empty()) return;
    StartReplica(0);
    StartReplica(1);
    HaTurn(/*calm=*/true);
  }

  // Declares a new token of `x` (a spec file of its own).
  void Add(Installation& x, bool kubernetes) {
    TokenDecl d;
    d.registry = kRegistries[Pick(0, 3)];
    d.name = x.prefix + "-" + std::to_string(x.next_name++);
    d.enabled = Chance(85);
    d.scopes = Pick(0, static_cast<int>(kScopeSets.size()) - 1);
    SetExpiry(x, d, Pick(0, 2));
    d.kubernetes = kubernetes || x.kubernetes_only;
    x.declared[d.Key()] = d;
    WriteSpec(x, d);
  }
  // Sets the expiry of `d` to `kind` (0 none, 1 expiryDate, 2 lifetime). For a rotating
  // installation half the lifetimes are short (renewed within a few clock advances), and a
  // lifetime carries spec.overlap more often when it is short.
  void SetExpiry(const Installation& x, TokenDecl& d, int kind) {
    d.expiry = kind;
    const int in_days = Pick(60, 300);
    const int lifetime = kLifetimeDays[Pick(0, static_cast<int>(kLifetimeDays.size()) - 1)];
    const bool short_life = x.rotating && Chance(50);
    const bool overlap = x.rotating && Chance(short_life ? 70 : 20);
    d.date = kind == 1 ? DateInDays(in_days) : "";
    d.lifetime = kind != 2 ? 0 : short_life ? kShortLifetime : int64_t{lifetime} * 86400;
    d.renew_before = kind == 2 && short_life ? kShortRenewBefore : 0;
    d.overlap = kind == 2 && overlap ? kOverlap : 0;
  }
  void WriteSpec(const Installation& x, const TokenDecl& d) {
    WriteFile(x.specs / d.registry / (d.name + ".yaml"), SpecYaml(d, x.k8s_namespace));
  }

  // `n` random edits of `x`'s specs: add, remove, status, scopes, expiry or lifetime.
  void Edit(Installation& x, int n) {
    if (n > 0) Did(std::to_string(n) + " spec edits");
    if (n > 0) BeginEdits();
    for (int i = 0; i < n; ++i) {
      ++figures_.spec_edits;
      int op = Pick(0, 6);
      if (op == 1 && x.declared.size() <= 2) op = 0;
      if (op == 0 || x.declared.empty()) {
        Add(x, x.kubernetes_only || (x.label == "main" && Chance(5)));
        continue;
      }
      auto it = x.declared.begin();
      std::advance(it, Pick(0, static_cast<int>(x.declared.size()) - 1));
      TokenDecl& d = it->second;
      switch (op) {
        case 1:
          fs::remove(x.specs / d.registry / (d.name + ".yaml"));
          x.declared.erase(it);
          continue;
        case 2:
          d.enabled = !d.enabled;
          break;
        case 3:
          d.scopes = (d.scopes + Pick(1, static_cast<int>(kScopeSets.size()) - 1)) %
                     static_cast<int>(kScopeSets.size());
          break;
        case 6:
          if (x.rotating && d.expiry == 2) {
            // Overlap added to a lifetime token (its token serves until its renewal) or removed
            // (the bare token is issued again and both slots deleted).
            d.overlap = d.overlap > 0 ? 0 : kOverlap;
            break;
          }
          [[fallthrough]];
        default:
          SetExpiry(x, d, Pick(0, 2));
          break;
      }
      WriteSpec(x, d);
    }
    if (n > 0) Watch();
  }

  // One random fault rule, injected now.
  void InjectFault() {
    const int kind = Pick(0, 5);
    const char* methods[] = {"GET", "PUT", "PATCH", "DELETE"};
    const char* writes[] = {"PUT", "PATCH", "DELETE"};
    json rule = {{"times", Pick(1, 3)}};
    const int where = Pick(0, 2);
    if (where == 0) rule["path"] = "/tokens";
    if (where == 1) rule["path"] = "/registries";
    std::string name;
    switch (kind) {
      case 0:
        name = "429 Retry-After";
        rule["method"] = methods[Pick(0, 3)];
        rule["status"] = 429;
        rule["retryAfter"] = "1";
        break;
      case 1:
        name = "5xx";
        rule["method"] = methods[Pick(0, 3)];
        rule["status"] = std::vector<int>{500, 502, 503}[Pick(0, 2)];
        break;
      case 2:
        name = "reset before apply";
        rule["method"] = methods[Pick(0, 3)];
        rule["reset"] = true;
        break;
      case 3:
        name = "reset after apply";
        rule["method"] = writes[Pick(0, 2)];
        rule["reset"] = true;
        rule["afterApply"] = true;
        break;
      case 4:
        name = "5xx after apply";
        rule["method"] = writes[Pick(0, 2)];
        rule["status"] = std::vector<int>{500, 503}[Pick(0, 1)];
        rule["afterApply"] = true;
        break;
      default:
        name = "delay";
        rule["delayMs"] = Pick(50, 600);
        rule["times"] = Pick(1, 8);
        break;
    }
    emu_->AddFault(rule);
    ++figures_.faults[name];
    Did("fault " + name);
  }

  // Waits until the emulator is answering no API request. A request a killed process sent may be
  // held by a delay fault and applied after its sender died: judged after that, a turn's state is
  // final, and the next turn's request log holds no write of a process of this one. Bounded: a
  // delay is at most 600 ms, and the faults are cleared before.
  void Drain() {
    std::this_thread::sleep_for(20ms);  // a request just written by a dead sender reaches Handle
    if (!WaitUntil([&] { return emu_->InFlight() == 0; }, 5s)) {
      Fail("converges", "the emulator still answers requests 5 s after the faults were cleared");
    }
  }

  // Moves the wall clock of every crtoken process and the emulator's clock forward together by
  // `minutes` (drawn by the caller whether or not time can move, so a seed replays the same
  // choices), unless libfaketime is missing or time already moved kMaxAdvance.
  void AdvanceClock(int minutes) {
    if (!clock_) return;
    const int64_t seconds = int64_t{minutes} * 60;
    if (clock_->offset() + seconds > kMaxAdvance) {
      Did("clock not advanced (already " + Duration(clock_->offset()) + " ahead)");
      return;
    }
    clock_->AdvanceWith(*emu_, seconds);
    ++figures_.clock_advances;
    Did("clock +" + std::to_string(minutes) + " min");
  }

  // ---- processes ----
  std::vector<std::string> ClientFlags(const Installation& x) const {
    return {"--specs",           x.specs.string(),
            "--secret-dir",      x.secrets.string(),
            "--api-url",         emu_->base_url(),
            "--owner",           x.owner,
            "--kubeconfig",      (work_ / "kubeconfig").string(),
            "--api-qps",         "1000",
            "--api-burst",       "1000",
            "--request-timeout", "3s",
            "--retry-budget",    "4s",
            "--retry-after-cap", "1s"};
  }

  // crtoken apply for `x`; killed with SIGKILL after `kill_after` when given (> 0).
  CommandResult Apply(const Installation& x, std::map<std::string, std::string> env = {},
                      std::chrono::milliseconds kill_after = 0ms) {
    std::vector<std::string> args = {"apply"};
    for (const std::string& a : ClientFlags(x)) args.push_back(a);
    env["IONOS_TOKEN"] = kApiToken;
    if (clock_) env.merge(clock_->Env());
    ++figures_.apply_runs;
    CommandResult r = RunCrtoken(args, env, (work_ / "out").string(),
                                 kill_after.count() > 0 ? kill_after : 60000ms);
    Scan("apply (" + x.label + ") stdout", r.out);
    Scan("apply (" + x.label + ") stderr", r.err);
    return r;
  }

  std::unique_ptr<DaemonProcess> StartRun(const Installation& x, std::vector<std::string> extra,
                                          const std::string& crash_at, int* metrics_port) {
    std::vector<std::string> args = ClientFlags(x);
    *metrics_port = FreePort();
    const std::vector<std::string> own = {
        "--health-addr",  "127.0.0.1:" + std::to_string(FreePort()),
        "--metrics-addr", "127.0.0.1:" + std::to_string(*metrics_port),
        "--debounce",     "20ms",
        "--prune-settle", "300ms"};
    args.insert(args.end(), own.begin(), own.end());
    args.insert(args.end(), extra.begin(), extra.end());
    std::map<std::string, std::string> env = {{"IONOS_TOKEN", kApiToken}};
    if (clock_) env.merge(clock_->Env());
    if (!crash_at.empty()) env["CRTOKEN_TEST_CRASH_AT"] = crash_at;
    ++figures_.daemon_starts;
    const fs::path log = work_ / "out" / ("run-" + std::to_string(++daemon_logs_) + ".log");
    return std::make_unique<DaemonProcess>(args, env, log);
  }

  // Stops a daemon (SIGKILL when `kill`, else SIGTERM) and scans its log.
  void Stop(std::unique_ptr<DaemonProcess>& d, const std::string& label, bool kill) {
    if (!d) return;
    d->Signal(kill ? SIGKILL : SIGTERM);
    const std::optional<int> code = d->Wait(40s);
    if (!kill && code != 0) {
      Fail("clean-shutdown", label + " exited " + (code ? std::to_string(*code) : "not at all") +
                                 " after SIGTERM; log: " + Tail(d->Log()));
    }
    ScanLog(d.get(), label);
    d.reset();
  }

  // ---- one installation's turn (apply-driven: main, other) ----
  void ApplyTurn(Installation& x, bool daemon_allowed, bool calm = false) {
    phase_ = x.label;
    const json before = State();
    const auto foreign = Foreign(x, before);
    emu_->ClearRequests();
    Sampler sampler(*this);
    if (!calm) {
      Edit(x, Pick(1, x.label == "main" ? 12 : 4));
      const int faults = Pick(0, 4);
      for (int i = 0; i < faults; ++i) InjectFault();
      // A rotating installation's clock moves once a turn: before one of its runs or steps
      // (faults active, the process then possibly killed), or after them, before its final pass.
      const int advance_at = x.rotating ? Pick(0, 3) : -1;
      const int advance_minutes = x.rotating ? Pick(kAdvanceMinMinutes, kAdvanceMaxMinutes) : 0;
      const bool daemon = daemon_allowed && Chance(50);
      if (!daemon) {
        const int runs = Pick(1, 3);
        for (int i = 0; i < runs; ++i) {
          if (i == advance_at) AdvanceClock(advance_minutes);
          const int how = Pick(0, 2);
          const auto kill_after = std::chrono::milliseconds(Pick(10, 400));
          const std::string point =
              std::vector<std::string>{"after-put", "after-secret", "after-delete"}[Pick(0, 2)];
          if (i > 0 && Chance(30)) Edit(x, Pick(1, 3));
          CommandResult r = how == 1   ? Apply(x, {}, kill_after)
                            : how == 2 ? Apply(x, {{"CRTOKEN_TEST_CRASH_AT", point}})
                                       : Apply(x);
          if (r.timed_out) ++figures_.apply_kills;
          if (how == 2 && r.exit_code == 137) ++figures_.crash_points;
          Did(how == 1 ? "apply, kill -9 at " + std::to_string(kill_after.count()) + " ms" +
                             (r.timed_out ? "" : " (finished before)")
              : how == 2
                  ? "apply, crash point " + point + (r.exit_code == 137 ? "" : " (not reached)")
                  : "apply");
        }
        if (advance_at >= runs) AdvanceClock(advance_minutes);
      } else {
        int port = 0;
        const std::string point = std::vector<std::string>{"", "", "after-put", "after-secret",
                                                           "after-delete"}[Pick(0, 4)];
        std::unique_ptr<DaemonProcess> d = StartRun(x, {"--resync", "3s"}, point, &port);
        bool armed = !point.empty();  // the running daemon stops itself at `point`
        Did("run" + (point.empty() ? "" : ", crash point " + point));
        const int steps = Pick(1, 3);
        for (int i = 0; i < steps; ++i) {
          if (i == advance_at) AdvanceClock(advance_minutes);
          const auto wait = std::chrono::milliseconds(Pick(100, 1500));
          const int edits = Pick(0, 3);
          const bool kill = Chance(60);
          std::this_thread::sleep_for(wait);  // a kill lands at a random moment of real work
          if (!d->running()) {
            if (d->Wait(1s) == 137) ++figures_.crash_points;
            Did("run stopped at its crash point, restarted");
            ScanLog(d.get(), "run (" + x.label + ")");
            d = StartRun(x, {"--resync", "3s"}, "", &port);
            armed = false;
          }
          Edit(x, edits);
          if (kill) {
            Did("run, kill -9 " + std::to_string(wait.count()) + " ms after the last step");
            Stop(d, "run (" + x.label + ")", /*kill=*/true);
            ++figures_.daemon_kills;
            d = StartRun(x, {"--resync", "3s"}, "", &port);
            armed = false;
          }
        }
        if (advance_at >= steps) AdvanceClock(advance_minutes);
        emu_->ClearFaults();
        if (!d->running()) {
          if (d->Wait(1s) == 137) ++figures_.crash_points;
          Did("run stopped at its crash point, restarted");
          ScanLog(d.get(), "run (" + x.label + ")");
          d = StartRun(x, {"--resync", "3s"}, "", &port);
        } else if (armed) {
          // It has not reached its crash point yet: the convergence is a clean daemon's.
          Did("run, crash point not reached: kill -9, restarted");
          Stop(d, "run (" + x.label + ")", /*kill=*/true);
          ++figures_.daemon_kills;
          d = StartRun(x, {"--resync", "3s"}, "", &port);
        }
        // One clean convergence by the daemon itself.
        const bool converged = WaitUntil([&] { return Converged(x); }, 45s);
        if (!converged) {
          Fail("converges", "crtoken run did not converge within 45 s of the faults' end");
          Report(Check(x, State()));
        }
        Stop(d, "run (" + x.label + ")", /*kill=*/false);
        if (!violations_.empty()) return;
      }
      emu_->ClearFaults();
      Drain();
    }
    // The final pass converges.
    x.settled = Clock::now();
    CommandResult clean = Apply(x);
    if (clean.exit_code != 0) {
      Fail("converges", "the first apply without faults exited " + std::to_string(clean.exit_code) +
                            ": " + Tail(clean.out) + Tail(clean.err));
    }
    sampler.Stop();
    const json after = State();
    Report(Check(x, after));
    CompareForeign(x, foreign, after);
    ForeignWrites(x, emu_->Requests());
    if (!violations_.empty()) return;
    // The next pass sends no write.
    emu_->ClearRequests();
    CommandResult next = Apply(x);
    const std::vector<RequestEntry> log = emu_->Requests();
    ++figures_.invariant_checks;
    if (next.exit_code != 0) {
      Fail("next-pass-no-write",
           "the next apply exited " + std::to_string(next.exit_code) + ": " + Tail(next.err));
    }
    ExpectNoWrites(log, "the apply after convergence");
  }

  // ---- the replicas' turn (owner ha) ----
  struct Replica {
    std::unique_ptr<DaemonProcess> process;
    int metrics_port = 0;
  };
  void StartReplica(int i) {
    Installation& x = ha_;
    Installation own = x;
    own.secrets = work_ / "ha" / ("replica-" + std::to_string(i + 1));
    replicas_[i].process =
        StartRun(own,
                 {"--leader-elect", "--leader-elect-resource-namespace", "crtoken",
                  "--leader-elect-lease-duration", "3s", "--leader-elect-renew-deadline", "2s",
                  "--leader-elect-retry-period", "500ms", "--resync", "5s"},
                 "", &replicas_[i].metrics_port);
  }
  void KillReplica(int i) {
    Stop(replicas_[i].process, "replica-" + std::to_string(i + 1), /*kill=*/true);
    ++figures_.replica_kills;
    StartReplica(i);
  }
  void StopReplicas() {
    for (int i = 0; i < 2; ++i)
      Stop(replicas_[i].process, "replica-" + std::to_string(i + 1), false);
  }
  int Leader() {
    for (int i = 0; i < 2; ++i) {
      if (replicas_[i].process && ScrapeMetric(replicas_[i].metrics_port, kLeaderSeries) == 1) {
        return i;
      }
    }
    return -1;
  }

  void HaTurn(bool calm = false) {
    phase_ = "ha";
    const json before = State();
    const auto foreign = Foreign(ha_, before);
    emu_->ClearRequests();
    Sampler sampler(*this);
    if (!calm) {
      Edit(ha_, Pick(0, 3));
      const int faults = Pick(0, 2);
      for (int i = 0; i < faults; ++i) InjectFault();
      const int action = Pick(0, 4);  // 0, 1: none; 2: the leader; 3: the standby; 4: both
      const auto wait = std::chrono::milliseconds(Pick(0, 1200));
      std::this_thread::sleep_for(wait);
      if (action >= 2) {
        int leader = Leader();
        if (leader < 0) leader = 0;
        Did(std::string(action == 2   ? "kill -9 the leader"
                        : action == 3 ? "kill -9 the standby"
                                      : "kill -9 both replicas") +
            " at " + std::to_string(wait.count()) + " ms");
        if (action == 2 || action == 4) KillReplica(leader);
        if (action == 3 || action == 4) KillReplica(1 - leader);
      }
      emu_->ClearFaults();
      Drain();
    }
    ha_.settled = Clock::now();
    const bool converged = WaitUntil([&] { return Converged(ha_); }, 45s);
    sampler.Stop();
    if (!converged) Fail("converges", "the replicas did not converge within 45 s");
    const json after = State();
    Report(Check(ha_, after));
    CompareForeign(ha_, foreign, after);
    ForeignWrites(ha_, emu_->Requests());
    for (int i = 0; i < 2; ++i)
      ScanLog(replicas_[i].process.get(), "replica-" + std::to_string(i + 1));
    if (!violations_.empty()) return;

    // The next pass (SIGHUP: every registry re-checked) sends no write.
    // A replica killed while leading leaves the Lease to expire first.
    int leader = -1;
    WaitUntil([&] { return (leader = Leader()) >= 0; }, 20s);
    ++figures_.invariant_checks;
    if (leader < 0) {
      Fail("converges", "no replica leads within 20 s after convergence");
      return;
    }
    // Both are signalled: on a loaded machine the Lease may change hands meanwhile; the pass
    // counted is a full one (a success per registry) by whichever replica leads.
    std::set<std::string> registries;
    for (const auto& [_, d] : ha_.declared) registries.insert(d.registry);
    double passes[2];
    for (int i = 0; i < 2; ++i) passes[i] = ScrapeMetric(replicas_[i].metrics_port, kPassesSeries);
    emu_->ClearRequests();
    for (int i = 0; i < 2; ++i) replicas_[i].process->Signal(SIGHUP);
    const bool passed = WaitUntil(
        [&] {
          const int now = Leader();
          return now >= 0 &&
                 ScrapeMetric(replicas_[now].metrics_port, kPassesSeries) >=
                     std::max(passes[now], 0.0) + static_cast<double>(registries.size());
        },
        30s);
    if (!passed) {
      Fail("next-pass-no-write", "no leader finished a successful pass within 30 s of SIGHUP");
      return;
    }
    ExpectNoWrites(emu_->Requests(), "the leader's pass after convergence");
  }

  // Whether every invariant of `x` holds now (a poll: not counted as checks).
  bool Converged(const Installation& x) {
    const long checks = figures_.invariant_checks;
    const bool ok = Check(x, State()).empty();
    figures_.invariant_checks = checks;
    return ok;
  }

  // ---- observation ----
  json State() {
    json state = emu_->StateJson();
    Observe(state);
    return state;
  }
  // Remembers every token id and password seen (the passwords are then scanned for).
  void Observe(const json& state) {
    std::lock_guard<std::mutex> lock(secrets_mu_);
    if (!state.contains("registries")) return;
    for (const json& r : state["registries"]) {
      for (const json& t : r["tokens"]) {
        ids_seen_.insert(t.value("id", ""));
        const std::string password = t.value("password", "");
        if (password.size() < kSecretWindow || secrets_.count(password)) continue;
        AddSecretLocked(password);
        // The docker "auth" of it: base64(user:password).
        AddSecretLocked(
            Base64Encode(t.value("name", "") + ":" + password).substr(0, kSecretWindow));
      }
    }
  }
  void AddSecretLocked(const std::string& s) {
    secret_storage_.push_back(s);
    secrets_.insert(secret_storage_.back());
  }

  // Polls the emulator's state while it lives, so that passwords of tokens that live only
  // briefly (re-issued after a crash) are known too.
  class Sampler {
   public:
    explicit Sampler(Chaos& chaos)
        : chaos_(chaos), where_(chaos.Where()), thread_([this] { Loop(); }) {}
    ~Sampler() { Stop(); }
    void Stop() {
      stop_ = true;
      if (thread_.joinable()) thread_.join();
      chaos_.DrainSampled();
    }

   private:
    void Loop() {
      while (!stop_) {
        const json state = chaos_.emu_->StateJson();
        chaos_.Observe(state);
        chaos_.SampleRotation(where_, state);
        std::this_thread::sleep_for(50ms);
      }
    }
    Chaos& chaos_;
    const std::string where_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
  };

  // Every output of every crtoken process goes through here.
  void Scan(const std::string& label, const std::string& text) {
    figures_.output_bytes_scanned += static_cast<long>(text.size());
    ++figures_.invariant_checks;
    for (const char* credential : {kApiToken, kKubeToken}) {
      if (text.find(credential) != std::string::npos) {
        Fail("no-secret-in-output", label + " contains an API bearer token");
      }
    }
    std::lock_guard<std::mutex> lock(secrets_mu_);
    auto is_b64 = [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=';
    };
    size_t i = 0;
    while (i < text.size()) {
      if (!is_b64(text[i])) {
        ++i;
        continue;
      }
      size_t j = i;
      while (j < text.size() && is_b64(text[j])) ++j;
      for (size_t k = i; k + kSecretWindow <= j; ++k) {
        if (secrets_.count(std::string_view(text).substr(k, kSecretWindow))) {
          Fail("no-secret-in-output",
               label + " contains a token's password (or its base64 auth) at byte " +
                   std::to_string(k));
          return;
        }
      }
      i = j;
    }
  }
  void ScanLog(DaemonProcess* d, const std::string& label) {
    if (d == nullptr) return;
    const std::string log = d->Log();
    size_t& done = scanned_[d->pid()];
    if (log.size() > done) Scan(label + " log", log.substr(done));
    done = log.size();
  }

  // ---- the invariants ----
  struct Registry {
    std::string id;
    std::string host;
    std::vector<json> tokens;
  };
  static std::map<std::string, Registry> ByName(const json& state) {
    std::map<std::string, Registry> out;
    for (const json& r : state.value("registries", json::array())) {
      Registry& reg = out[r.value("name", "")];
      reg.id = r.value("id", "");
      reg.host = r.value("hostname", "");
      for (const json& t : r.value("tokens", json::array())) reg.tokens.push_back(t);
    }
    return out;
  }

  // The Kubernetes Secrets of `x`'s namespace that carry its owner label, by name.
  std::map<std::string, json> KubeSecrets(const Installation& x) {
    std::map<std::string, json> out;
    if (x.k8s_namespace.empty()) return out;
    auto [status, list] =
        k8s_->Api("GET", "/api/v1/namespaces/" + x.k8s_namespace + "/secrets", kKubeToken);
    if (status != 200 || !list.contains("items")) return out;
    for (const json& s : list["items"]) {
      const json labels = s["metadata"].value("labels", json::object());
      if (labels.value("crtoken.ionos.com/owner", "") != x.owner) continue;
      out[s["metadata"].value("name", "")] = s;
    }
    return out;
  }

  // What one secret holds: the dockerconfigjson and the record's token id and owner.
  struct Delivered {
    json config;
    std::string token_id;
    std::string owner;
    std::string where;
  };
  std::optional<Delivered> ReadSecret(const Installation& x, const TokenDecl& d,
                                      const std::map<std::string, json>& kube,
                                      std::vector<Problem>* problems) {
    Delivered out;
    if (d.kubernetes) {
      out.where = "Secret " + x.k8s_namespace + "/" + d.name;
      auto it = kube.find(d.name);
      if (it == kube.end()) return std::nullopt;
      const json& s = it->second;
      auto text = Base64Decode(s.value("data", json::object()).value(".dockerconfigjson", ""));
      out.config = json::parse(text.value_or(""), nullptr, false);
      const json annotations = s["metadata"].value("annotations", json::object());
      out.token_id = annotations.value("crtoken.io/token-id", "");
      out.owner =
          s["metadata"].value("labels", json::object()).value("crtoken.ionos.com/owner", "");
      return out;
    }
    const fs::path path = x.secrets / d.File();
    out.where = "file " + d.File();
    if (!fs::exists(path)) return std::nullopt;
    if (FileMode(path) != 0600) {
      problems->push_back(
          {"secret-holds-password",
           out.where + " has mode " + std::to_string(FileMode(path)) + ", not 0600"});
    }
    out.config = json::parse(ReadFile(path), nullptr, false);
    if (out.config.is_object() && out.config.contains("crtoken")) {
      out.token_id = out.config["crtoken"].value("tokenId", "");
      out.owner = out.config["crtoken"].value("owner", "");
    }
    return out;
  }

  // Every invariant of one installation on `state` (empty: all hold).
  std::vector<Problem> Check(const Installation& x, const json& state) {
    std::vector<Problem> problems;
    auto problem = [&](const std::string& invariant, const std::string& detail) {
      problems.push_back({invariant, x.label + " (owner " + x.owner + "): " + detail});
    };
    const auto registries = ByName(state);
    const std::optional<int64_t> now = EpochOf(state.value("now", json()));
    // A renewal or a retirement that fell due after the installation's last convergence began
    // is not expected of it yet: the seconds since then (real time, which moves both clocks
    // alike), and 5 s for the whole seconds of the expiries and the two clocks' steps.
    const int64_t slack =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - x.settled).count() + 5;
    const auto kube = KubeSecrets(x);
    std::set<std::string> files_declared, kube_declared, names_declared;
    for (const auto& [key, d] : x.declared) {
      figures_.invariant_checks += 4;
      (d.kubernetes ? kube_declared : files_declared).insert(d.kubernetes ? d.name : d.File());
      for (const std::string& n : d.Names()) names_declared.insert(d.registry + "/" + n);
      auto reg = registries.find(d.registry);
      if (reg == registries.end()) {
        problem("declared-token-exists-once", "registry " + d.registry + " is gone");
        continue;
      }
      // Its tokens: the one of its name; with overlap, those of its slots too (the bare name
      // from before overlap was set).
      const std::vector<std::string> names = d.Names();
      std::vector<json> live;
      for (const json& t : reg->second.tokens) {
        if (std::find(names.begin(), names.end(), t.value("name", "")) != names.end()) {
          live.push_back(t);
        }
      }
      std::string live_text;
      for (const json& t : live) {
        live_text += (live_text.empty() ? "" : ", ") + t.value("name", "") + " " +
                     t.value("id", "") + " expiring " +
                     (t["expiryDate"].is_string() ? t["expiryDate"].get<std::string>() : "never");
      }
      if (d.overlap == 0 && live.size() != 1) {
        problem("declared-token-exists-once",
                key + " exists " + std::to_string(live.size()) + " times");
        continue;
      }
      if (d.overlap > 0 && (live.empty() || live.size() > 2)) {
        problem("declared-token-exists-once", key + " (overlap) has " +
                                                  std::to_string(live.size()) +
                                                  " tokens, not one or two: " + live_text);
        continue;
      }
      bool foreign = false;
      for (const json& t : live) {
        const TokenIdInfo info =
            ClassifyTokenId(x.owner, reg->second.id, t.value("name", ""), t.value("id", ""));
        if (info.cls != TokenIdClass::kMine) {
          problem("declared-token-exists-once", key + ": " + t.value("name", "") + " has the id " +
                                                    t.value("id", "") + " (" +
                                                    TokenIdClassName(info.cls) + "), not its own");
          foreign = true;
        }
      }
      if (foreign) continue;
      // Its secret; with overlap, the token it records is the current one.
      const std::optional<Delivered> s = ReadSecret(x, d, kube, &problems);
      const std::string where = d.kubernetes ? "Secret " + d.name : "file " + d.File();
      if (!s) {
        problem("secret-holds-password", key + ": its " + where + " is missing");
        continue;
      }
      const json* current = live.size() == 1 && d.overlap == 0 ? &live[0] : nullptr;
      for (const json& t : live) {
        if (d.overlap > 0 && t.value("id", "") == s->token_id) current = &t;
      }
      if (current == nullptr) {
        // The secret records a token that does not exist: a consumer's login fails.
        problem("rotation-without-gap", key + ": its " + where + " records token " + s->token_id +
                                            ", which does not exist; its tokens: " + live_text);
        continue;
      }
      const json& t = *current;
      const std::string id = t.value("id", "");
      if (d.overlap > 0) {
        std::map<std::string, json> by_id;
        for (const json& l : live) by_id[l.value("id", "")] = l;
        std::lock_guard<std::mutex> lock(rotation_mu_);
        SeeSecretLocked(Where(), key, d, s->token_id, by_id, now);
        if (d.enabled && t.value("status", "") != "enabled") {
          problem("rotation-without-gap", key + ": its " + where + " records " +
                                              t.value("name", "") + ", which is " +
                                              t.value("status", "") + ", declared enabled");
        }
      }
      // The current token's declared fields.
      const std::string status = d.enabled ? "enabled" : "disabled";
      if (t.value("status", "") != status) {
        problem("declared-fields", key + " is " + t.value("status", "") + ", declared " + status);
      }
      if (ScopeSet(t["scopes"]) != ScopeSet(kScopeSets[d.scopes])) {
        problem("declared-fields", key + " has the scopes " + t["scopes"].dump() +
                                       ", declared set " + std::to_string(d.scopes));
      }
      const json& expiry = t["expiryDate"];
      if (d.expiry == 0 && !expiry.is_null()) {
        problem("declared-fields", key + " expires " + expiry.dump() + ", declared no expiry");
      } else if (d.expiry == 1 && expiry != json(d.date)) {
        problem("declared-fields", key + " expires " + expiry.dump() + ", declared " + d.date);
      } else if (d.expiry == 2) {
        const std::optional<int64_t> at = EpochOf(expiry);
        // Not due for renewal (more than renewBefore left, but for what fell due within the
        // slack) and no later than one lifetime from now.
        if (!at || !now || *at <= *now + d.RenewBefore() - slack || *at > *now + d.lifetime + 300) {
          problem("declared-fields", key + ": " + t.value("name", "") + " expires " +
                                         expiry.dump() + " at " + state.value("now", "") +
                                         ", declared lifetime " + Duration(d.lifetime) +
                                         ", renewBefore " + Duration(d.RenewBefore()));
        }
      }
      // The previous token of an overlap spec: issued before the current one, and kept only
      // until the overlap after the current one's issue (its expiry minus lifetime) has passed,
      // as the reconciler derives it.
      if (d.overlap > 0 && live.size() == 2) {
        const json& previous = &live[0] == current ? live[1] : live[0];
        const std::optional<int64_t> at = EpochOf(expiry);
        const std::optional<int64_t> previous_at = EpochOf(previous.value("expiryDate", json()));
        const std::optional<int64_t> retire_at =
            at ? std::optional<int64_t>(*at - d.lifetime + d.overlap) : std::nullopt;
        if (!now || !retire_at || !previous_at || *previous_at > *at ||
            *now >= *retire_at + slack) {
          problem(
              "declared-token-exists-once",
              key + ": " + previous.value("name", "") + " is left beside the current " +
                  t.value("name", "") + " at " + state.value("now", "") +
                  (!retire_at || !previous_at ? std::string(", one of them without expiry")
                   : *previous_at > *at
                       ? std::string(", issued after it (its password never reached the "
                                     "secret)")
                       : ", its overlap ended " + std::to_string(*now - *retire_at) + " s ago") +
                  "; its tokens: " + live_text);
        }
      }
      // Its secret holds the current token's password.
      const json& auth = s->config.is_object() && s->config.contains("auths") &&
                                 s->config["auths"].contains(reg->second.host)
                             ? s->config["auths"][reg->second.host]
                             : json();
      if (!auth.is_object() || auth.value("username", "") != t.value("name", "") ||
          auth.value("password", "") != t.value("password", "") || s->token_id != id ||
          s->owner != x.owner) {
        problem("secret-holds-password",
                key + ": its " + where + " records token " + s->token_id + " of owner " + s->owner +
                    (auth.is_object() && auth.value("password", "") == t.value("password", "")
                         ? ""
                         : " and does not hold the live token's password") +
                    (auth.is_object() && auth.value("username", "") == t.value("name", "")
                         ? ""
                         : " for the user " + t.value("name", "")) +
                    " (live token " + id + ")");
      }
    }
    // No undeclared token of this owner is left (a slot of a spec without overlap included).
    for (const auto& [name, reg] : registries) {
      for (const json& t : reg.tokens) {
        ++figures_.invariant_checks;
        const std::string key = name + "/" + t.value("name", "");
        const TokenIdInfo info =
            ClassifyTokenId(x.owner, reg.id, t.value("name", ""), t.value("id", ""));
        if (info.cls == TokenIdClass::kMine && !names_declared.count(key)) {
          problem("no-undeclared-owned-token", key + " (" + t.value("id", "") + ") is left");
        }
      }
    }
    // No stray secret of this owner is left.
    if (fs::exists(x.secrets)) {
      for (const auto& e : fs::recursive_directory_iterator(x.secrets)) {
        if (!e.is_regular_file()) continue;
        ++figures_.invariant_checks;
        const std::string rel = fs::relative(e.path(), x.secrets).string();
        if (!files_declared.count(rel)) problem("no-stray-secret", "file " + rel + " is left");
      }
    }
    for (const auto& [name, _] : kube) {
      ++figures_.invariant_checks;
      if (!kube_declared.count(name)) {
        problem("no-stray-secret", "Secret " + x.k8s_namespace + "/" + name + " is left");
      }
    }
    return problems;
  }

  // The tokens `x` does not own, by registry/id, with the fields that must not change.
  std::map<std::string, json> Foreign(const Installation& x, const json& state) {
    std::map<std::string, json> out;
    for (const auto& [name, reg] : ByName(state)) {
      for (const json& t : reg.tokens) {
        const TokenIdInfo info =
            ClassifyTokenId(x.owner, reg.id, t.value("name", ""), t.value("id", ""));
        if (info.cls == TokenIdClass::kMine) continue;
        json kept = t;
        kept["owner"] = Whose(reg.id, t);
        out[name + "/" + t.value("id", "")] = kept;
      }
    }
    return out;
  }
  // Which installation a token belongs to, for messages.
  std::string Whose(const std::string& registry_id, const json& t) {
    for (const Installation* x : {&main_, &other_, &ha_}) {
      if (ClassifyTokenId(x->owner, registry_id, t.value("name", ""), t.value("id", "")).cls ==
          TokenIdClass::kMine) {
        return "owner " + x->owner;
      }
    }
    return "decoy";
  }
  void CompareForeign(const Installation& x, const std::map<std::string, json>& before,
                      const json& state) {
    const auto after = Foreign(x, state);
    for (const auto& [key, t] : before) {
      ++figures_.invariant_checks;
      auto it = after.find(key);
      if (it == after.end()) {
        Fail("foreign-token-untouched", x.label + "'s turn deleted " + key + " (" +
                                            t.value("name", "") + ", " + t.value("owner", "") +
                                            ")");
      } else if (it->second != t) {
        Fail("foreign-token-untouched", x.label + "'s turn changed " + key + " (" +
                                            t.value("owner", "") + "): " + t.dump() + " -> " +
                                            it->second.dump());
      }
    }
    for (const auto& [key, t] : after) {
      if (!before.count(key)) {
        Fail("foreign-token-untouched", x.label + "'s turn made " + key + " (" +
                                            t.value("name", "") + ", " + t.value("owner", "") +
                                            "), a token it does not own");
      }
    }
  }
  // No write request names a token id without `x`'s mark.
  void ForeignWrites(const Installation& x, const std::vector<RequestEntry>& log) {
    static const std::regex token_path("/tokens/([0-9a-fA-F-]{36})");
    const std::string mark = FingerprintText(OwnerFingerprint(x.owner));
    for (const RequestEntry& e : log) {
      if (e.method == "GET" || e.method == "HEAD") continue;
      ++figures_.invariant_checks;
      std::smatch m;
      if (!std::regex_search(e.path, m, token_path)) continue;
      std::string id = m[1].str();
      std::transform(id.begin(), id.end(), id.begin(), ::tolower);
      if (id.rfind(mark, 0) != 0 || id.substr(14, 4) != "8c72") {
        Fail("foreign-token-untouched", x.label + "'s turn sent " + e.method + " " + e.path +
                                            " (status " + std::to_string(e.status) +
                                            ") to a token it does not own");
      }
    }
  }
  void ExpectNoWrites(const std::vector<RequestEntry>& log, const std::string& what) {
    std::string writes;
    int n = 0;
    for (const RequestEntry& e : log) {
      if (e.method == "GET" || e.method == "HEAD") continue;
      if (++n <= 5) writes += " " + e.method + " " + e.path + ";";
    }
    if (n > 0) {
      Fail("next-pass-no-write", what + " sent " + std::to_string(n) + " writes:" + writes);
    }
  }

  void Report(const std::vector<Problem>& problems) {
    DrainSampled();
    for (const Problem& p : problems) Fail(p.invariant, p.detail);
  }
  // What a turn did, printed at its end (the same for a seed, but for what timing decides).
  void Did(const std::string& what) { did_ += (did_.empty() ? "" : ", ") + what; }
  void Done() {
    if (!did_.empty())
      progress_ << "chaos: round " << round_ << " " << phase_ << ": " << did_ << std::endl;
    did_.clear();
  }

  // "seed S, round R, PHASE" of the moment.
  std::string Where() const {
    return "seed " + std::to_string(budget_.seed) + ", round " + std::to_string(round_) + ", " +
           phase_;
  }
  void Fail(const std::string& invariant, const std::string& detail) {
    if (violations_.size() >= 20) return;
    violations_.push_back(Where() + ": invariant " + invariant + ": " + detail);
  }
  // The violations the sampler found (and those SeeSecretLocked found during polls), moved to
  // violations_ on the main thread.
  void DrainSampled() {
    std::lock_guard<std::mutex> lock(rotation_mu_);
    for (std::string& v : sampled_violations_) {
      if (violations_.size() < 20) violations_.push_back(std::move(v));
    }
    sampled_violations_.clear();
  }

  // ---- rotation, seen from a login's side ----
  // What was seen of one spec with overlap: the token its secret recorded last, and before.
  struct Track {
    int64_t lifetime = 0;  // the spec's, when seen (a change of lifetime starts afresh)
    std::string current;   // the token id its secret recorded when last read
    std::string previous;  // the one it recorded before, until seen deleted
  };
  // One spec with overlap whose secret file the sampler reads.
  struct Watched {
    std::string key;
    TokenDecl decl;
    fs::path secret;  // empty: a Kubernetes Secret (read after each turn only)
  };

  // Called before the spec files of a batch of edits change: samples that overlap the edits are
  // dropped (a spec removed or losing its overlap has its tokens deleted legitimately).
  void BeginEdits() {
    std::lock_guard<std::mutex> lock(rotation_mu_);
    editing_ = true;
    ++watch_generation_;
  }
  // The specs with overlap now, after the edits; the tracks of the others, and of those whose
  // lifetime changed, are forgotten.
  void Watch() {
    std::vector<Watched> watched;
    for (const auto& [key, d] : main_.declared) {
      if (d.overlap == 0) continue;
      watched.push_back({key, d, d.kubernetes ? fs::path() : main_.secrets / d.File()});
    }
    std::lock_guard<std::mutex> lock(rotation_mu_);
    std::map<std::string, Track> tracks;
    for (const Watched& w : watched) {
      auto it = tracks_.find(w.key);
      if (it != tracks_.end() && it->second.lifetime == w.decl.lifetime) tracks[w.key] = it->second;
    }
    tracks_ = std::move(tracks);
    watched_ = std::move(watched);
    editing_ = false;
    ++watch_generation_;
  }

  // The secret of the overlap spec `d` records `recorded`; `live` are the spec's tokens now (by
  // id) and `now` the emulator's clock. A switch to another token is a rotation; the token
  // recorded before must then live until the overlap after the new one's issue (its expiry
  // minus lifetime) has ended: a consumer that read the secret just before the switch logs in
  // with it until then. Found violations go to sampled_violations_, prefixed with `where`.
  void SeeSecretLocked(const std::string& where, const std::string& key, const TokenDecl& d,
                       const std::string& recorded, const std::map<std::string, json>& live,
                       const std::optional<int64_t>& now) {
    for (const auto& [id, t] : live) {
      if (t.value("name", "") != d.name) slots_issued_.insert(id);
    }
    auto cur = live.find(recorded);
    if (recorded.empty() || cur == live.end()) return;  // the caller reports a deleted one
    Track& track = tracks_[key];
    track.lifetime = d.lifetime;
    if (!track.current.empty() && track.current != recorded) {
      ++rotations_;
      track.previous = track.current;
    }
    track.current = recorded;
    if (track.previous.empty() || live.count(track.previous)) return;
    // The previous token is gone: retired, but not before its overlap ended (5 s: the whole
    // seconds of the expiries and of the emulator's clock).
    const std::optional<int64_t> at = EpochOf(cur->second.value("expiryDate", json()));
    if (at && now && *now < *at - d.lifetime + d.overlap - 5) {
      if (sampled_violations_.size() < 20) {
        sampled_violations_.push_back(
            where + ": invariant rotation-without-gap: main (owner crtoken): " + key + ": token " +
            track.previous + " was deleted " + std::to_string(*at - d.lifetime + d.overlap - *now) +
            " s before its overlap ended (its secret switched to " + cur->second.value("name", "") +
            " " + recorded + ", issued at " + TimeText(*at - d.lifetime) + ")");
      }
    } else {
      ++retirements_;
    }
    track.previous.clear();
  }

  // One look from the sampler's thread: the state, every watched secret file, the state again.
  // A secret that records a token present in neither state recorded a deleted one (a token is
  // created before any secret records it, and a rotation switches the secret before its retire).
  void SampleRotation(const std::string& where, const json& before) {
    std::vector<Watched> watched;
    uint64_t generation = 0;
    {
      std::lock_guard<std::mutex> lock(rotation_mu_);
      if (editing_) return;
      watched = watched_;
      generation = watch_generation_;
    }
    if (watched.empty()) return;
    std::map<std::string, std::string> recorded;  // by spec key
    for (const Watched& w : watched) {
      std::error_code ec;
      if (w.secret.empty() || !fs::exists(w.secret, ec)) continue;
      // This thread throws nothing: a file that is not what crtoken writes records nothing (the
      // checks after the turn name it).
      const json doc = json::parse(ReadFile(w.secret), nullptr, false);
      if (doc.is_object() && doc.contains("crtoken") && doc["crtoken"].is_object() &&
          doc["crtoken"].contains("tokenId") && doc["crtoken"]["tokenId"].is_string()) {
        recorded[w.key] = doc["crtoken"]["tokenId"].get<std::string>();
      }
    }
    const json after = emu_->StateJson();
    Observe(after);
    auto ids = [](const json& state) {
      std::set<std::string> out;
      for (const json& r : state.value("registries", json::array())) {
        for (const json& t : r.value("tokens", json::array())) out.insert(t.value("id", ""));
      }
      return out;
    };
    const std::set<std::string> ids_before = ids(before), ids_after = ids(after);
    const auto registries = ByName(after);
    const std::optional<int64_t> now = EpochOf(after.value("now", json()));
    std::lock_guard<std::mutex> lock(rotation_mu_);
    if (editing_ || watch_generation_ != generation) return;
    ++rotation_samples_;
    for (const Watched& w : watched) {
      const std::string& r = recorded[w.key];
      if (!r.empty() && !ids_before.count(r) && !ids_after.count(r)) {
        if (sampled_violations_.size() < 20) {
          sampled_violations_.push_back(
              where + ": invariant rotation-without-gap: main (owner crtoken): " + w.key +
              ": its file " + w.decl.File() + " recorded token " + r +
              " while that token did not exist");
        }
        continue;
      }
      std::map<std::string, json> live;
      auto reg = registries.find(w.decl.registry);
      if (reg == registries.end()) continue;
      const std::vector<std::string> names = w.decl.Names();
      for (const json& t : reg->second.tokens) {
        if (std::find(names.begin(), names.end(), t.value("name", "")) != names.end()) {
          live[t.value("id", "")] = t;
        }
      }
      SeeSecretLocked(where, w.key, w.decl, r, live, now);
    }
  }

  ChaosBudget budget_;
  std::ostream& progress_;
  std::mt19937_64 rng_;
  const std::chrono::sys_days today_ =
      std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now());
  TempDir work_;
  std::unique_ptr<K8sEmulatorProcess> k8s_;
  std::unique_ptr<EmulatorProcess> emu_;
  Installation main_, other_, ha_;
  Replica replicas_[2];
  int round_ = 0;
  std::string phase_;
  std::string did_;
  int daemon_logs_ = 0;
  ChaosFigures figures_;
  std::vector<std::string> violations_;
  std::map<pid_t, size_t> scanned_;
  std::mutex secrets_mu_;
  std::deque<std::string> secret_storage_;
  std::unordered_set<std::string_view> secrets_;
  std::unordered_set<std::string> ids_seen_;
  std::unique_ptr<FakeWallClock> clock_;  // null: libfaketime missing, time does not move
  // Rotation, shared with the sampler's thread.
  std::mutex rotation_mu_;
  bool editing_ = false;
  uint64_t watch_generation_ = 0;
  std::vector<Watched> watched_;
  std::map<std::string, Track> tracks_;  // by spec key
  std::set<std::string> slots_issued_;   // ids of slot tokens seen
  int rotations_ = 0;
  int retirements_ = 0;
  long rotation_samples_ = 0;
  std::vector<std::string> sampled_violations_;
};

}  // namespace

ChaosBudget ChaosBudget::FromEnv(int default_rounds, int default_seconds) {
  ChaosBudget b;
  b.rounds = default_rounds;
  b.seconds = default_seconds;
  b.seed = std::random_device{}() % 1000000;
  auto number = [](const char* name, uint64_t* out) {
    const char* v = std::getenv(name);
    if (v == nullptr || *v == '\0') return;
    char* end = nullptr;
    errno = 0;
    const unsigned long long n = std::strtoull(v, &end, 10);
    if (errno != 0 || *end != '\0' || *v == '-') {
      throw std::invalid_argument(std::string(name) + "=\"" + v +
                                  "\": expected a non-negative integer");
    }
    *out = n;
  };
  uint64_t rounds = b.rounds, seconds = b.seconds, tokens = b.tokens;
  number("CRTOKEN_CHAOS_SEED", &b.seed);
  number("CRTOKEN_CHAOS_ROUNDS", &rounds);
  number("CRTOKEN_CHAOS_SECONDS", &seconds);
  number("CRTOKEN_CHAOS_TOKENS", &tokens);
  b.rounds = static_cast<int>(std::min<uint64_t>(rounds, 1000000));
  b.seconds = static_cast<int>(std::min<uint64_t>(seconds, 7 * 86400));
  b.tokens = static_cast<int>(std::clamp<uint64_t>(tokens, 12, 5000));
  return b;
}

std::string ChaosFigures::Text() const {
  std::ostringstream o;
  int faults_total = 0;
  std::string kinds;
  for (const auto& [kind, n] : faults) {
    faults_total += n;
    kinds += (kinds.empty() ? "" : ", ") + kind + " " + std::to_string(n);
  }
  o << "seed                 " << seed << "\n"
    << "rounds               " << rounds << "\n"
    << "faults injected      " << faults_total << (kinds.empty() ? "" : " (" + kinds + ")") << "\n"
    << "kills survived       " << apply_kills + daemon_kills + replica_kills + crash_points
    << " (apply SIGKILL " << apply_kills << ", run SIGKILL " << daemon_kills << ", replica SIGKILL "
    << replica_kills << ", crash points " << crash_points << ")\n"
    << "passes               " << apply_runs << " applies, " << daemon_starts << " daemon starts\n"
    << "spec edits           " << spec_edits << "\n"
    << "tokens               " << tokens_declared << " declared at the end, " << token_ids_seen
    << " ids seen\n"
    << "time moved           "
    << (time_moves ? std::to_string(clock_advances) + " clock advances, " +
                         std::to_string(clock_offset_seconds / 60) + " min in all"
                   : std::string("not at all (libfaketime missing)"))
    << "\n"
    << "rotations            " << rotations << " secrets switched to another slot, " << slots_issued
    << " slot tokens issued, " << retirements << " retirements seen (" << rotation_samples
    << " samples of the secrets)\n"
    << "invariant checks     " << invariant_checks << " (" << passwords_seen
    << " secrets scanned for in " << output_bytes_scanned << " bytes of output)\n"
    << "time                 " << seconds << " s\n";
  return o.str();
}

ChaosResult RunChaos(const ChaosBudget& budget, std::ostream& progress) {
  Chaos chaos(budget, progress);
  return chaos.Run();
}

}  // namespace crtoken::test::chaos
