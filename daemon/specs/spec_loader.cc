#include "daemon/specs/spec_loader.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>

#include "reconciler/parallel_for.h"
#include "reconciler/time_util.h"

namespace crtoken {
namespace {

namespace fs = std::filesystem;

// --- Small helpers --------------------------------------------------------------------------

bool Matches(const std::string& text, const char* pattern, std::size_t max_length) {
  // Length first: libstdc++'s regex recurses per character and must never see a huge input.
  if (text.size() > max_length) return false;
  static std::mutex mu;
  static std::map<const char*, std::regex> cache;
  const std::regex* re;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(pattern);
    if (it == cache.end()) it = cache.emplace(pattern, std::regex(pattern)).first;
    re = &it->second;
  }
  return std::regex_match(text, *re);
}

// A value for a message: quoted, control characters escaped, long values shortened.
std::string Quote(const std::string& text) {
  std::string out = "\"";
  std::size_t shown = 0;
  for (char c : text) {
    if (++shown > 64) {
      out += "...";
      break;
    }
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

template <std::size_t N>
std::string JoinList(const std::array<const char*, N>& items) {
  std::string out;
  for (const char* item : items) out += (out.empty() ? "" : ", ") + std::string(item);
  return out;
}

template <std::size_t N>
bool OneOf(const std::string& value, const std::array<const char*, N>& items) {
  for (const char* item : items) {
    if (value == item) return true;
  }
  return false;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::size_t EditDistance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The first problem that makes `text` unfit for YAML: a NUL byte, a control character YAML does
// not allow, or a byte sequence that is not UTF-8. Returns the byte offset and the message.
std::optional<std::pair<std::size_t, std::string>> CheckText(const std::string& text) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    unsigned char c = s[i];
    if (c == 0)
      return std::make_pair(i, std::string("binary file: NUL byte (not a UTF-8 text file)"));
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f) {
        char buf[96];
        std::snprintf(buf, sizeof buf, "control character 0x%02x is not allowed in YAML", c);
        return std::make_pair(i, std::string(buf));
      }
      ++i;
      continue;
    }
    std::size_t len = 0;
    unsigned int cp = 0;
    if (c >= 0xc2 && c <= 0xdf) {
      len = 2;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      len = 3;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      len = 4;
      cp = c & 0x07;
    }
    bool ok = len != 0 && i + len <= n;
    for (std::size_t k = 1; ok && k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) ok = false;
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (ok) {
      if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
          (cp >= 0xd800 && cp <= 0xdfff)) {
        ok = false;
      }
    }
    if (!ok) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "not a UTF-8 text file: invalid byte 0x%02x", c);
      return std::make_pair(i, std::string(buf));
    }
    i += len;
  }
  return std::nullopt;
}

// The first place where `text` nests deeper than kMaxYamlDepth, as a byte offset: flow collections
// ('[' and '{') inside each other, block levels (each more-indented line, each compact "- " or "? "
// entry such as "- - - x"), or both together. Quoted scalars, comments and block scalars ('|' and
// '>') do not count, nor does a '[' or '{' inside a plain scalar. A linear scan that follows
// YAML's structure only as far as needed to count levels: it may count a level too many in odd
// corners, never one too few for the shapes that cost yaml-cpp memory.
std::optional<std::size_t> FindTooDeep(const std::string& text) {
  enum class Quote { kNone, kSingle, kDouble };
  const std::size_t n = text.size();
  std::vector<std::size_t> block;  // indentation columns of the open block levels
  std::size_t flow = 0;            // open flow collections
  Quote quote = Quote::kNone;
  // Inside a block scalar: lines indented more than this column (and blank lines) are its text.
  std::optional<std::size_t> block_scalar_parent;
  bool node_start = true;  // the next character may begin a node (a quote or a collection)
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  auto too_deep = [&] { return block.size() + flow > kMaxYamlDepth; };
  for (std::size_t line_start = 0; line_start < n;) {
    std::size_t eol = text.find('\n', line_start);
    if (eol == std::string::npos) eol = n;
    std::size_t k = line_start;
    if (quote == Quote::kNone && flow == 0) {
      while (k < eol && text[k] == ' ') ++k;
      const std::size_t column = k - line_start;
      std::size_t first = k;
      while (first < eol && space(text[first])) ++first;
      const bool blank = first == eol || text[first] == '#';
      if (block_scalar_parent) {
        if (first == eol || column > *block_scalar_parent) {
          line_start = eol + 1;
          continue;
        }
        block_scalar_parent.reset();
      }
      if (blank) {
        line_start = eol + 1;
        continue;
      }
      node_start = true;
      if (column == 0 && (text.compare(k, 3, "---") == 0 || text.compare(k, 3, "...") == 0) &&
          (k + 3 == eol || space(text[k + 3]))) {
        block.clear();  // a new document
        k += 3;
      } else {
        while (!block.empty() && block.back() >= column) block.pop_back();
        block.push_back(column);
        if (too_deep()) return k;
      }
    }
    bool entry_pending = false;  // after "- " or "? ": the next content on this line nests deeper
    for (; k < eol; ++k) {
      const char c = text[k];
      if (quote == Quote::kSingle) {
        if (c == '\'') {
          if (k + 1 < eol && text[k + 1] == '\'') {
            ++k;
          } else {
            quote = Quote::kNone;
          }
        }
        continue;
      }
      if (quote == Quote::kDouble) {
        if (c == '\\') {
          ++k;
        } else if (c == '"') {
          quote = Quote::kNone;
        }
        continue;
      }
      if (space(c)) continue;
      if (c == '#' && (k == line_start || space(text[k - 1]))) break;  // a comment
      const bool indicator = k + 1 == eol || space(text[k + 1]);
      if (entry_pending && flow == 0) {
        entry_pending = false;
        block.push_back(k - line_start);
        if (too_deep()) return k;
      }
      if (node_start && (c == '\'' || c == '"')) {
        quote = c == '\'' ? Quote::kSingle : Quote::kDouble;
        node_start = false;
        continue;
      }
      if (c == '[' || c == '{') {
        if (flow > 0 || node_start) {
          ++flow;
          if (too_deep()) return k;
          node_start = true;
        }
        continue;
      }
      if (node_start && (c == '&' || c == '!')) {  // an anchor or a tag: a node still follows
        while (k + 1 < eol && !space(text[k + 1]) &&
               (flow == 0 || std::strchr(",[]{}", text[k + 1]) == nullptr)) {
          ++k;
        }
        continue;
      }
      if (flow > 0) {
        if (c == ']' || c == '}') {
          --flow;
          node_start = false;
        } else {
          // A node may follow ',' and '?', and ':' when it is an indicator (JSON: "a":"b").
          node_start = c == ',' || (c == '?' && indicator) ||
                       (c == ':' && (indicator || text[k - 1] == '"' || text[k - 1] == '\''));
        }
        continue;
      }
      if (indicator && (c == '-' || c == '?') && node_start) {
        entry_pending = true;
        continue;
      }
      if (indicator && c == ':') {
        node_start = true;
        continue;
      }
      if (node_start && (c == '|' || c == '>')) {
        block_scalar_parent = block.empty() ? 0 : block.back();
        break;  // the header's rest is an indicator or a comment
      }
      node_start = false;
    }
    line_start = eol + 1;
  }
  return std::nullopt;
}

// --- A YAML tree with positions ----------------------------------------------------------------

// yaml-cpp's own Node tree is slow to build and free, keeps duplicate keys only by accident, and
// YAML::LoadAll loops forever on some invalid input (a ',' outside a flow collection makes it start
// an empty document again and again until memory runs out). So the loader builds its own small
// tree from the parser's events, in one pass with a guard against such runs.

struct NodeData;

// A handle to a node of that tree (cheap to copy; the tree lives as long as its TreeBuilder). The
// accessors mirror YNode's.
class YNode {
 public:
  YNode() = default;
  explicit YNode(const NodeData* data) : data_(data) {}
  YAML::NodeType::value Type() const;
  bool IsDefined() const { return data_ != nullptr; }
  bool IsNull() const { return Type() == YAML::NodeType::Null; }
  bool IsScalar() const { return Type() == YAML::NodeType::Scalar; }
  bool IsSequence() const { return Type() == YAML::NodeType::Sequence; }
  bool IsMap() const { return Type() == YAML::NodeType::Map; }
  const std::string& Scalar() const;
  // "?" for a plain scalar, "!" for a quoted one, else the tag as written ("" for null).
  const std::string& Tag() const;
  YAML::Mark Mark() const;
  std::size_t size() const;
  std::size_t Weight() const;                                 // see NodeData::weight
  const std::vector<YNode>& Items() const;                    // a sequence's entries
  const std::vector<std::pair<YNode, YNode>>& Pairs() const;  // a map's entries, duplicates kept

 private:
  const NodeData* data_ = nullptr;
};

struct NodeData {
  YAML::NodeType::value type = YAML::NodeType::Null;
  std::string tag;
  std::string scalar;
  YAML::Mark mark;
  std::vector<YNode> items;
  std::vector<std::pair<YNode, YNode>> pairs;
  std::size_t weight = 1;  // nodes in this subtree, counting every alias's target in full
};

const NodeData& Empty() {
  static const NodeData empty;
  return empty;
}
YAML::NodeType::value YNode::Type() const {
  return data_ ? data_->type : YAML::NodeType::Undefined;
}
const std::string& YNode::Scalar() const { return (data_ ? *data_ : Empty()).scalar; }
const std::string& YNode::Tag() const { return (data_ ? *data_ : Empty()).tag; }
YAML::Mark YNode::Mark() const { return data_ ? data_->mark : YAML::Mark::null_mark(); }
std::size_t YNode::size() const { return data_ ? data_->items.size() + data_->pairs.size() : 0; }
std::size_t YNode::Weight() const { return data_ ? data_->weight : 0; }
const std::vector<YNode>& YNode::Items() const { return (data_ ? *data_ : Empty()).items; }
const std::vector<std::pair<YNode, YNode>>& YNode::Pairs() const {
  return (data_ ? *data_ : Empty()).pairs;
}

// Thrown by the builder when the parser stops making progress.
struct Runaway {
  YAML::Mark mark;
};

// Thrown by the builder when aliases would make the checks visit far more nodes than the text
// holds (a "billion laughs" document: an alias of a list of aliases of lists...).
struct AliasBomb {
  YAML::Mark mark;
};

// Aliases may add at most this many times the nodes written out, plus kAliasSlack, to what the
// checks visit: sharing values within a document (anchors do not reach across documents) stays
// far below it.
constexpr std::size_t kAliasFactor = 4;
constexpr std::size_t kAliasSlack = 10000;

class TreeBuilder : public YAML::EventHandler {
 public:
  // Limits: a text of N lines holds at most N + 1 documents, and a parser that makes progress
  // emits a bounded number of events per byte.
  TreeBuilder(std::size_t max_documents, std::size_t max_events)
      : max_documents_(max_documents), max_events_(max_events) {}

  // The completed documents, in order.
  const std::vector<YNode>& documents() const { return documents_; }

  void OnDocumentStart(const YAML::Mark& mark) override {
    if ((started_ > 0 && mark.pos == last_start_) || ++started_ > max_documents_) {
      throw Runaway{mark};
    }
    last_start_ = mark.pos;
    document_mark_ = mark;
    root_ = YNode();
    stack_.clear();
  }
  void OnDocumentEnd() override {
    if (!root_.IsDefined()) root_ = YNode(&New(YAML::NodeType::Null, document_mark_));
    documents_.push_back(root_);
  }
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Add(Anchor(anchor, New(YAML::NodeType::Null, mark)));
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      Add(YNode(&New(YAML::NodeType::Null, mark)));
      return;
    }
    // The alias shares the anchored node; what it adds is that node's whole subtree, aliases
    // inside it included (an anchor still open, as in "&a [*a]", counts what it has so far).
    ++aliases_;
    aliased_ += it->second.Weight();
    if (aliased_ > kAliasFactor * (events_ + aliases_) + kAliasSlack) throw AliasBomb{mark};
    Add(it->second);
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    NodeData& node = New(YAML::NodeType::Scalar, mark);
    node.tag = tag;
    node.scalar = value;
    Add(Anchor(anchor, node));
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(YAML::NodeType::Sequence, mark, tag, anchor);
  }
  void OnSequenceEnd() override { Close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(YAML::NodeType::Map, mark, tag, anchor);
  }
  void OnMapEnd() override { Close(); }

 private:
  struct OpenCollection {
    NodeData* node;
    bool has_key = false;
    YNode key;
  };

  NodeData& New(YAML::NodeType::value type, const YAML::Mark& mark) {
    if (++events_ > max_events_) throw Runaway{mark};
    NodeData& node = arena_.emplace_back();
    node.type = type;
    node.mark = mark;
    return node;
  }

  YNode Anchor(YAML::anchor_t anchor, const NodeData& node) {
    YNode handle(&node);
    if (anchor != YAML::NullAnchor) anchors_[anchor] = handle;
    return handle;
  }

  void Open(YAML::NodeType::value type, const YAML::Mark& mark, const std::string& tag,
            YAML::anchor_t anchor) {
    NodeData& node = New(type, mark);
    node.tag = tag;
    Anchor(anchor, node);
    stack_.push_back(OpenCollection{&node, false, YNode()});
  }

  void Close() {
    if (stack_.empty()) return;
    YNode done(stack_.back().node);
    stack_.pop_back();
    Add(done);
  }

  void Add(YNode node) {
    if (stack_.empty()) {
      root_ = node;
      return;
    }
    OpenCollection& top = stack_.back();
    top.node->weight += node.Weight();
    if (top.node->type == YAML::NodeType::Sequence) {
      top.node->items.push_back(node);
    } else if (!top.has_key) {
      top.key = node;
      top.has_key = true;
    } else {
      top.node->pairs.emplace_back(top.key, node);
      top.has_key = false;
    }
  }

  std::size_t max_documents_;
  std::size_t max_events_;
  std::size_t started_ = 0;
  std::size_t events_ = 0;
  std::size_t aliases_ = 0;  // aliases read
  std::size_t aliased_ = 0;  // nodes they add (see OnAlias)
  int last_start_ = -1;
  YAML::Mark document_mark_;
  std::deque<NodeData> arena_;  // stable addresses
  std::map<YAML::anchor_t, YNode> anchors_;
  std::vector<OpenCollection> stack_;
  YNode root_;
  std::vector<YNode> documents_;
};

std::string Describe(const YNode& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      return "null";
    case YAML::NodeType::Scalar:
      return Quote(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
  }
  return "an unknown node";
}

// --- One file ---------------------------------------------------------------------------------

struct Field {
  std::string name;
  YNode key;
  YNode value;
};

class FileParser {
 public:
  FileParser(const std::string& text, const std::string& file)
      : text_(text),
        file_(file),
        line_starts_(LineStarts(text)),
        tree_(line_starts_.size() + 2, 4 * text.size() + 64) {}

  FileSpecs Run() {
    FileSpecs out;
    out.file = file_;
    try {
      std::istringstream in(text_);
      YAML::Parser parser(in);
      while (parser.HandleNextDocument(tree_)) {
      }
    } catch (const Runaway& r) {
      const auto pos = static_cast<std::size_t>(std::max(r.mark.pos, 0));
      const std::string what = pos < text_.size() ? Quote(std::string(1, text_[pos])) : "input";
      Report(AtMark(r.mark), "YAML syntax error: unexpected " + what);
    } catch (const AliasBomb& b) {
      Report(AtMark(b.mark),
             "YAML aliases expand too much: they may add at most " + std::to_string(kAliasFactor) +
                 " times the nodes written out (plus " + std::to_string(kAliasSlack) +
                 "); write the shared values out, or share fewer");
    } catch (const YAML::DeepRecursion& e) {
      Report(AtMark(e.mark), "YAML syntax error: nesting too deep");
    } catch (const YAML::Exception& e) {
      ReportSyntaxError(e.mark, e.msg);
    } catch (const std::exception& e) {
      Report(SourceLocation{file_, 0, 0}, std::string("YAML parser failed: ") + e.what());
    }
    // The documents completed before a syntax error are checked too: all errors are reported.
    const std::vector<YNode>& docs = tree_.documents();
    for (std::size_t i = 0; i < docs.size(); ++i) {
      try {
        CheckDocument(docs[i], i, &out);
      } catch (const std::exception& e) {
        // Not expected (the checks use no throwing accessors), but never let one escape.
        Report(At(docs[i]), std::string("cannot read this document: ") + e.what());
      }
    }
    out.errors = std::move(errors_);
    std::stable_sort(
        out.errors.begin(), out.errors.end(), [](const SpecError& a, const SpecError& b) {
          return std::tie(a.where.line, a.where.column) < std::tie(b.where.line, b.where.column);
        });
    return out;
  }

 private:
  static std::vector<std::size_t> LineStarts(const std::string& text) {
    std::vector<std::size_t> starts{0};
    for (std::size_t i = 0; i < text.size(); ++i) {
      if (text[i] == '\n') starts.push_back(i + 1);
    }
    return starts;
  }

  // --- Locations and errors ---

  SourceLocation AtOffset(std::size_t offset) const {
    auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
    std::size_t line = static_cast<std::size_t>(it - line_starts_.begin());  // 1-based
    return SourceLocation{file_, static_cast<int>(line),
                          static_cast<int>(offset - line_starts_[line - 1] + 1)};
  }

  SourceLocation AtMark(const YAML::Mark& mark) const {
    if (mark.is_null() || mark.line < 0) return SourceLocation{file_, 0, 0};
    return SourceLocation{file_, mark.line + 1, mark.column + 1};
  }

  SourceLocation At(const YNode& node) const { return AtMark(node.Mark()); }

  void Report(const SourceLocation& where, const std::string& message) {
    errors_.push_back(SpecError{where, message});
  }

  // yaml-cpp's messages for a tab in the indentation name a symptom ("illegal map value") after
  // it: point at the tab itself when one precedes the error.
  void ReportSyntaxError(const YAML::Mark& mark, const std::string& message) {
    if (!mark.is_null() && mark.line >= 0) {
      const auto last = std::min(static_cast<std::size_t>(mark.line), line_starts_.size() - 1);
      for (std::size_t l = 0; l <= last; ++l) {
        for (std::size_t i = line_starts_[l]; i < text_.size() && text_[i] != '\n'; ++i) {
          if (text_[i] == '\t') {
            std::size_t rest = text_.find_first_not_of(" \t", i);
            if (rest != std::string::npos && text_[rest] != '\n' && text_[rest] != '\r' &&
                text_[rest] != '#') {
              Report(AtOffset(i),
                     "YAML syntax error: tab character in indentation (YAML indents with spaces)");
              return;
            }
          }
          if (text_[i] != ' ') break;
        }
      }
    }
    Report(AtMark(mark), "YAML syntax error: " + message);
  }

  // yaml-cpp marks a null list entry ("-" with nothing after it) at the next token. Point at its
  // dash instead: the last significant character before that mark, skipping comments.
  SourceLocation AtNullEntry(const YNode& entry) const {
    const YAML::Mark mark = entry.Mark();
    if (mark.is_null() || mark.pos < 0) return At(entry);
    std::size_t end = std::min(static_cast<std::size_t>(mark.pos), text_.size());
    while (end > 0) {
      std::size_t i = end - 1;
      char c = text_[i];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        end = i;
        continue;
      }
      // Is text_[i] inside a comment? Find its line and a '#' that starts a comment there.
      std::size_t line_start = text_.rfind('\n', i);
      line_start = line_start == std::string::npos ? 0 : line_start + 1;
      std::size_t hash = std::string::npos;
      for (std::size_t k = line_start; k <= i; ++k) {
        if (text_[k] == '#' && (k == line_start || text_[k - 1] == ' ' || text_[k - 1] == '\t')) {
          hash = k;
          break;
        }
      }
      if (hash != std::string::npos) {
        end = hash;
        continue;
      }
      if (c == '-') return AtOffset(i);
      break;
    }
    return At(entry);
  }

  // True when a document after the first starts with "---" (yaml-cpp silently starts a new
  // document where the YAML grammar has an error, e.g. a mapping key after a top-level list).
  bool StartsWithMarker(const YNode& doc) const {
    const YAML::Mark mark = doc.Mark();
    if (mark.is_null() || mark.line < 0) return true;
    auto line_text = [&](std::size_t l) {
      std::size_t b = line_starts_[l];
      std::size_t e = l + 1 < line_starts_.size() ? line_starts_[l + 1] : text_.size();
      std::string s = text_.substr(b, e - b);
      std::size_t first = s.find_first_not_of(" \t\r\n");
      return first == std::string::npos ? std::string() : s.substr(first);
    };
    auto is_marker = [&](std::size_t l) {
      std::string raw = text_.substr(line_starts_[l], 3);
      return raw == "---" || raw == "...";
    };
    auto l = static_cast<std::size_t>(mark.line);
    if (l >= line_starts_.size()) return true;
    if (is_marker(l)) return true;
    while (l > 0) {
      --l;
      std::string s = line_text(l);
      if (s.empty() || s[0] == '#') continue;
      return is_marker(l) || s[0] == '%';
    }
    return false;
  }

  // --- Typed access ---

  // The fields of a mapping in document order. Reports keys that are not strings, duplicate
  // keys (yaml-cpp keeps them silently) and, when `allowed` is given, unknown fields.
  template <std::size_t N>
  std::vector<Field> Fields(const YNode& map, const std::string& path,
                            const std::array<const char*, N>& allowed) {
    std::vector<Field> fields;
    std::map<std::string, SourceLocation> first;
    for (const auto& [key, value] : map.Pairs()) {
      if (!key.IsScalar()) {
        Report(At(key), path + ": field names must be strings, got " + Describe(key));
        continue;
      }
      std::string name = key.Scalar();
      if (auto seen = first.find(name); seen != first.end()) {
        Report(At(key), "duplicate field " + Quote(name) + " in " + path + " (first at " +
                            std::to_string(seen->second.line) + ":" +
                            std::to_string(seen->second.column) + ")");
        continue;
      }
      first.emplace(name, At(key));
      bool known = false;
      for (const char* a : allowed) known = known || name == a;
      if (!known && name == "<<") {
        Report(At(key), "merge keys (<<) are not supported; write the fields out in " + path);
        continue;
      }
      if (!known) {
        std::string message = "unknown field " + Quote(name) + " in " + path;
        // The closest allowed name: equal ignoring case first, else within two edits.
        std::string suggestion;
        std::size_t best = 3;
        for (const char* a : allowed) {
          std::size_t d = Lower(name) == Lower(a) ? 0 : EditDistance(name, a);
          if (d < best) {
            best = d;
            suggestion = a;
          }
        }
        if (!suggestion.empty()) {
          message += "; did you mean \"" + suggestion + "\"?";
        } else {
          std::string list;
          for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
          message += " (allowed: " + list + ")";
        }
        Report(At(key), message);
        continue;
      }
      fields.push_back(Field{name, key, value});
    }
    return fields;
  }

  static const Field* Find(const std::vector<Field>& fields, const char* name) {
    for (const Field& f : fields) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }

  // A string value; null and collections are errors (null at the key, which has a position).
  std::optional<std::string> String(const Field& f, const std::string& path) {
    if (f.value.IsNull()) {
      Report(At(f.key), path + ": expected a string, got null");
      return std::nullopt;
    }
    if (!f.value.IsScalar()) {
      Report(At(f.value), path + ": expected a string, got " + Describe(f.value));
      return std::nullopt;
    }
    if (!QuoteClosed(f.value)) {
      Report(At(f.value), path + ": unterminated quoted string");
      return std::nullopt;
    }
    return f.value.Scalar();
  }

  // yaml-cpp accepts a quoted scalar that runs to the end of the file; YAML does not.
  bool QuoteClosed(const YNode& scalar) const {
    const YAML::Mark mark = scalar.Mark();
    if (scalar.Tag() != "!" || mark.is_null() || mark.pos < 0) return true;
    auto pos = static_cast<std::size_t>(mark.pos);
    if (pos >= text_.size()) return true;
    const char q = text_[pos];
    if (q != '"' && q != '\'') return true;  // a tagged scalar: yaml-cpp checked it
    for (std::size_t i = pos + 1; i < text_.size(); ++i) {
      if (q == '"' && text_[i] == '\\') {
        ++i;
      } else if (text_[i] == q) {
        if (q == '\'' && i + 1 < text_.size() && text_[i + 1] == '\'') {
          ++i;
        } else {
          return true;
        }
      }
    }
    return false;
  }

  // A mapping value; null and other kinds are errors.
  bool IsMapping(const Field& f, const std::string& path, const char* want) {
    if (f.value.IsMap()) return true;
    if (f.value.IsNull()) {
      Report(At(f.key), path + ": expected " + want + ", got null");
    } else {
      Report(At(f.value), path + ": expected " + want + ", got " + Describe(f.value));
    }
    return false;
  }

  template <std::size_t N>
  std::optional<std::string> Enum(const Field& f, const std::string& path,
                                  const std::array<const char*, N>& values) {
    auto v = String(f, path);
    if (!v) return std::nullopt;
    if (!OneOf(*v, values)) {
      Report(At(f.value), path + ": " + Quote(*v) + " is not one of: " + JoinList(values));
      return std::nullopt;
    }
    return v;
  }

  // --- Documents ---

  void CheckDocument(const YNode& doc, std::size_t index, FileSpecs* out) {
    if (doc.IsNull() || !doc.IsDefined()) {
      ++out->skipped_documents;
      return;
    }
    if (index > 0 && !StartsWithMarker(doc)) {
      Report(At(doc),
             "YAML syntax error: unexpected content after the end of the previous node "
             "(a new document must start with ---)");
      return;
    }
    if (!doc.IsMap()) {
      Report(At(doc), "expected a mapping with apiVersion and kind, got " + Describe(doc));
      return;
    }
    // Find apiVersion and kind without judging the rest: other API groups are not ours to check.
    // A document is ours when its group is crtoken.io (or a subgroup), and also when its kind is
    // RegistryToken or its apiVersion mentions crtoken: likely typos, which must not be skipped.
    std::optional<Field> api_version;
    bool kind_is_ours = false;
    for (const auto& [key, value] : doc.Pairs()) {
      if (!key.IsScalar()) continue;
      if (key.Scalar() == "apiVersion" && !api_version)
        api_version = Field{"apiVersion", key, value};
      if (key.Scalar() == "kind" && value.IsScalar() && value.Scalar() == kSpecKind) {
        kind_is_ours = true;
      }
    }
    if (!api_version) {
      std::string base = fs::path(file_).filename().string();
      if (!kind_is_ours && (base == "kustomization.yaml" || base == "kustomization.yml" ||
                            base == "Kustomization")) {
        ++out->skipped_documents;
        return;
      }
      Report(At(doc), "missing apiVersion (want apiVersion: " + std::string(kSpecApiVersion) +
                          " and kind: " + kSpecKind + ")");
      return;
    }
    if (!api_version->value.IsScalar() || api_version->value.Scalar().empty()) {
      const YNode& where = api_version->value.IsNull() ? api_version->key : api_version->value;
      Report(At(where), "apiVersion: expected a string such as " + std::string(kSpecApiVersion) +
                            ", got " + Describe(api_version->value));
      return;
    }
    const std::string version = api_version->value.Scalar();
    const std::size_t slash = version.find('/');
    const std::string group = slash == std::string::npos ? "" : version.substr(0, slash);
    const bool ours = group == kSpecApiGroup || EndsWith(group, std::string(".") + kSpecApiGroup) ||
                      kind_is_ours || Lower(version).find("crtoken") != std::string::npos;
    if (!ours) {
      ++out->skipped_documents;  // another API group's document (a ConfigMap, a Kustomization)
      return;
    }
    auto top = Fields(doc, "the document", kSpecDocumentFields);
    bool ok = true;
    if (version != kSpecApiVersion) {
      Report(At(api_version->value),
             "unknown apiVersion " + Quote(version) + " (supported: " + kSpecApiVersion + ")");
      ok = false;
    }
    const Field* kind = Find(top, "kind");
    if (kind == nullptr) {
      Report(At(doc),
             "missing required field \"kind\" (want kind: " + std::string(kSpecKind) + ")");
      ok = false;
    } else if (auto k = String(*kind, "kind"); !k) {
      ok = false;
    } else if (*k != kSpecKind) {
      Report(At(kind->value), "unknown kind " + Quote(*k) + " in " + kSpecApiGroup +
                                  " (supported: " + kSpecKind + ")");
      ok = false;
    }
    if (!ok) return;  // another version or kind: its fields are not known here
    const std::size_t errors_before = errors_.size();
    TokenSpec spec;
    const Field* metadata = Find(top, "metadata");
    const Field* spec_field = Find(top, "spec");
    if (metadata == nullptr) Report(At(doc), "missing required field \"metadata\"");
    if (spec_field == nullptr) Report(At(doc), "missing required field \"spec\"");
    if (metadata != nullptr) CheckMetadata(*metadata, &spec);
    if (spec_field != nullptr) CheckSpec(*spec_field, &spec);
    if (errors_.size() == errors_before) out->specs.push_back(std::move(spec));
  }

  void CheckMetadata(const Field& metadata, TokenSpec* spec) {
    if (!IsMapping(metadata, "metadata", "a mapping with name")) return;
    auto fields = Fields(metadata.value, "metadata", kSpecMetadataFields);
    const Field* name = Find(fields, "name");
    if (name == nullptr) {
      Report(At(metadata.value), "metadata: missing required field \"name\"");
      return;
    }
    auto v = String(*name, "metadata.name");
    if (!v) return;
    if (!Matches(*v, kTokenNamePattern, 63)) {
      Report(At(name->value), "metadata.name: " + Quote(*v) +
                                  " is not a valid token name (2 to 63 letters, digits and '-', "
                                  "starting with a letter, ending with a letter or digit)");
      return;
    }
    spec->name = *v;
    spec->source = At(name->value);
  }

  void CheckSpec(const Field& spec_field, TokenSpec* spec) {
    if (!IsMapping(spec_field, "spec", "a mapping")) return;
    auto fields = Fields(spec_field.value, "spec", kSpecSpecFields);
    const Field* registry = Find(fields, "registry");
    const Field* registry_id = Find(fields, "registryId");
    if (registry != nullptr && registry_id != nullptr) {
      const Field* later =
          registry->key.Mark().pos > registry_id->key.Mark().pos ? registry : registry_id;
      Report(At(later->key), "spec: registry and registryId are mutually exclusive; set one");
    } else if (registry == nullptr && registry_id == nullptr) {
      Report(At(spec_field.value), "spec: missing required field \"registry\" (or \"registryId\")");
    }
    if (registry != nullptr) {
      if (auto v = String(*registry, "spec.registry")) {
        if (!Matches(*v, kRegistryNamePattern, 63)) {
          Report(At(registry->value),
                 "spec.registry: " + Quote(*v) +
                     " is not a valid registry name (3 to 63 lower-case letters, digits and '-', "
                     "starting with a letter, ending with a letter or digit)");
        } else {
          spec->registry = *v;
        }
      }
    }
    if (registry_id != nullptr) {
      if (auto v = String(*registry_id, "spec.registryId")) {
        if (!Matches(*v, kUuidPattern, 36)) {
          Report(At(registry_id->value),
                 "spec.registryId: " + Quote(*v) +
                     " is not a UUID (such as 3fa85f64-5717-4562-b3fc-2c963f66afa6)");
        } else {
          spec->registry_id = Lower(*v);
        }
      }
    }
    if (const Field* status = Find(fields, "status")) {
      if (auto v = Enum(*status, "spec.status", kSpecStatusValues)) {
        spec->status = *v == "disabled" ? TokenStatus::kDisabled : TokenStatus::kEnabled;
      }
    }
    if (const Field* expiry = Find(fields, "expiryDate");
        expiry != nullptr && !expiry->value.IsNull()) {
      if (auto v = String(*expiry, "spec.expiryDate")) {
        if (auto instant = ParseRfc3339(*v)) {
          spec->expiry = *instant;
        } else {
          Report(At(expiry->value), "spec.expiryDate: " + Quote(*v) +
                                        " is not an RFC 3339 date-time (such as "
                                        "2027-06-30T00:00:00Z)");
        }
      }
    }
    CheckLifetime(fields, spec);
    const Field* scopes = Find(fields, "scopes");
    if (scopes == nullptr) {
      Report(At(spec_field.value), "spec: missing required field \"scopes\"");
    } else {
      CheckScopes(*scopes, spec);
    }
    const Field* secret = Find(fields, "secret");
    if (secret == nullptr) {
      Report(At(spec_field.value), "spec: missing required field \"secret\"");
    } else {
      CheckSecret(*secret, spec);
    }
    if (const Field* adopt = Find(fields, "adopt")) {
      const std::string v = adopt->value.IsScalar() ? adopt->value.Scalar() : "";
      const bool plain = adopt->value.IsScalar() && adopt->value.Tag() != "!";
      if (plain && (v == "true" || v == "True" || v == "TRUE")) {
        spec->adopt = true;
      } else if (plain && (v == "false" || v == "False" || v == "FALSE")) {
        spec->adopt = false;
      } else {
        Report(At(adopt->value.IsNull() ? adopt->key : adopt->value),
               "spec.adopt: expected true or false, got " + Describe(adopt->value));
      }
    }
  }

  // spec.lifetime and spec.renewBefore: durations such as 90d or 720h, whole seconds.
  std::optional<std::chrono::seconds> DurationField(const Field& field, const std::string& path) {
    auto v = String(field, path);
    if (!v) return std::nullopt;
    auto d = ParseDuration(*v);
    if (!d || *d < std::chrono::seconds(1) || *d % std::chrono::seconds(1) != d->zero()) {
      Report(At(field.value), path + ": " + Quote(*v) +
                                  " is not a duration in whole seconds (such as 90d, 720h or "
                                  "1h30m)");
      return std::nullopt;
    }
    return std::chrono::duration_cast<std::chrono::seconds>(*d);
  }

  void CheckLifetime(const std::vector<Field>& fields, TokenSpec* spec) {
    const Field* lifetime = Find(fields, "lifetime");
    const Field* renew = Find(fields, "renewBefore");
    const Field* expiry = Find(fields, "expiryDate");
    if (lifetime == nullptr) {
      if (renew != nullptr) {
        Report(At(renew->key),
               "spec.renewBefore: needs spec.lifetime (a token with a fixed expiryDate or none "
               "is never renewed)");
      }
      return;
    }
    if (expiry != nullptr && !expiry->value.IsNull()) {
      const Field* later = lifetime->key.Mark().pos > expiry->key.Mark().pos ? lifetime : expiry;
      Report(At(later->key), "spec: expiryDate and lifetime are mutually exclusive; set one");
      return;
    }
    auto life = DurationField(*lifetime, "spec.lifetime");
    if (!life) return;
    if (*life < std::chrono::hours(1)) {
      Report(At(lifetime->value), "spec.lifetime: " + Quote(lifetime->value.Scalar()) +
                                      " is shorter than the minimum of 1h");
      return;
    }
    std::chrono::seconds renew_before = *life / 3;  // the default: renew with a third left
    if (renew != nullptr) {
      auto r = DurationField(*renew, "spec.renewBefore");
      if (!r) return;
      if (*r >= *life) {
        Report(At(renew->value), "spec.renewBefore: " + Quote(renew->value.Scalar()) +
                                     " must be shorter than spec.lifetime " +
                                     Quote(lifetime->value.Scalar()));
        return;
      }
      renew_before = *r;
    }
    spec->lifetime = *life;
    spec->renew_before = renew_before;
  }

  void CheckScopes(const Field& scopes, TokenSpec* spec) {
    if (!scopes.value.IsSequence()) {
      const YNode& where = scopes.value.IsNull() ? scopes.key : scopes.value;
      Report(At(where), "spec.scopes: expected a list of scopes, got " + Describe(scopes.value));
      return;
    }
    if (scopes.value.size() == 0) {
      Report(At(scopes.value), "spec.scopes: at least one scope is required");
      return;
    }
    std::map<std::pair<std::string, std::string>, SourceLocation> seen;
    const std::vector<YNode>& entries = scopes.value.Items();
    for (std::size_t index = 0; index < entries.size(); ++index) {
      const YNode& entry = entries[index];
      const std::string path = "spec.scopes[" + std::to_string(index) + "]";
      if (entry.IsNull()) {
        Report(AtNullEntry(entry), path + ": empty scope (want name, type and actions)");
        continue;
      }
      if (!entry.IsMap()) {
        Report(At(entry),
               path + ": expected a mapping with name, type and actions, got " + Describe(entry));
        continue;
      }
      if (entry.size() == 0) {
        Report(At(entry), path + ": empty scope (want name, type and actions)");
        continue;
      }
      const std::size_t errors_before = errors_.size();
      auto fields = Fields(entry, path, kSpecScopeFields);
      Scope scope;
      const Field* name = Find(fields, "name");
      const Field* type = Find(fields, "type");
      const Field* actions = Find(fields, "actions");
      for (const char* required : kSpecScopeFields) {
        if (Find(fields, required) == nullptr) {
          Report(At(entry), path + ": missing required field \"" + required + "\"");
        }
      }
      if (name != nullptr) {
        if (auto v = String(*name, path + ".name")) {
          bool bad = std::any_of(v->begin(), v->end(), [](char c) {
            auto u = static_cast<unsigned char>(c);
            return u <= 0x20 || u == 0x7f;
          });
          if (v->empty()) {
            Report(At(name->value), path + ".name: must not be empty (\"*\" means all)");
          } else if (bad) {
            Report(At(name->value),
                   path + ".name: " + Quote(*v) + " contains whitespace or a control character");
          } else {
            scope.name = *v;
          }
        }
      }
      if (type != nullptr) {
        if (auto v = Enum(*type, path + ".type", kSpecScopeTypes)) scope.type = *v;
      }
      if (actions != nullptr) CheckActions(*actions, path + ".actions", &scope);
      if (errors_.size() != errors_before) continue;
      auto key = std::make_pair(scope.name, scope.type);
      if (auto first = seen.find(key); first != seen.end()) {
        Report(At(entry), path + ": duplicate scope " + Quote(scope.name) + " of type " +
                              scope.type + " (first at " + std::to_string(first->second.line) +
                              ":" + std::to_string(first->second.column) +
                              "); merge their actions into one entry");
        continue;
      }
      seen.emplace(key, At(entry));
      spec->scopes.push_back(std::move(scope));
    }
  }

  void CheckActions(const Field& actions, const std::string& path, Scope* scope) {
    if (!actions.value.IsSequence()) {
      const YNode& where = actions.value.IsNull() ? actions.key : actions.value;
      Report(At(where),
             path + ": expected a list such as [pull, push], got " + Describe(actions.value));
      return;
    }
    if (actions.value.size() == 0) {
      Report(At(actions.value),
             path + ": at least one action is required (" + JoinList(kSpecScopeActions) + ")");
      return;
    }
    const std::vector<YNode>& entries = actions.value.Items();
    for (std::size_t index = 0; index < entries.size(); ++index) {
      const YNode& entry = entries[index];
      const std::string item_path = path + "[" + std::to_string(index) + "]";
      if (!entry.IsScalar()) {
        SourceLocation where = entry.IsNull() ? AtNullEntry(entry) : At(entry);
        Report(where, item_path + ": expected one of " + JoinList(kSpecScopeActions) + ", got " +
                          Describe(entry));
        continue;
      }
      const std::string v = entry.Scalar();
      if (!OneOf(v, kSpecScopeActions)) {
        Report(At(entry),
               item_path + ": " + Quote(v) + " is not one of: " + JoinList(kSpecScopeActions));
        continue;
      }
      if (std::find(scope->actions.begin(), scope->actions.end(), v) != scope->actions.end()) {
        Report(At(entry), item_path + ": duplicate action " + Quote(v));
        continue;
      }
      scope->actions.push_back(v);
    }
  }

  void CheckSecret(const Field& secret, TokenSpec* spec) {
    if (!IsMapping(secret, "spec.secret", "a mapping with file or kubernetes")) return;
    auto fields = Fields(secret.value, "spec.secret", kSpecSecretFields);
    const Field* file = Find(fields, "file");
    const Field* kubernetes = Find(fields, "kubernetes");
    if (file != nullptr && kubernetes != nullptr) {
      const Field* later = file->key.Mark().pos > kubernetes->key.Mark().pos ? file : kubernetes;
      Report(At(later->key), "spec.secret: file and kubernetes are mutually exclusive; set one");
      return;
    }
    if (file == nullptr && kubernetes == nullptr) {
      Report(At(secret.value), "spec.secret: set one of file or kubernetes");
      return;
    }
    if (file != nullptr) {
      auto v = String(*file, "spec.secret.file");
      if (!v) return;
      std::string why = SecretPathProblem(*v);
      if (!why.empty()) {
        Report(At(file->value), "spec.secret.file: " + why);
        return;
      }
      spec->secret.kind = SecretRef::Kind::kFile;
      spec->secret.file = *v;
      return;
    }
    if (!IsMapping(*kubernetes, "spec.secret.kubernetes", "a mapping with namespace and name")) {
      return;
    }
    auto k8s = Fields(kubernetes->value, "spec.secret.kubernetes", kSpecKubernetesFields);
    const Field* ns = Find(k8s, "namespace");
    const Field* name = Find(k8s, "name");
    for (const char* required : kSpecKubernetesFields) {
      if (Find(k8s, required) == nullptr) {
        Report(At(kubernetes->value),
               "spec.secret.kubernetes: missing required field \"" + std::string(required) + "\"");
      }
    }
    spec->secret.kind = SecretRef::Kind::kKubernetes;
    if (ns != nullptr) {
      if (auto v = String(*ns, "spec.secret.kubernetes.namespace")) {
        if (!Matches(*v, kDns1123LabelPattern, 63)) {
          Report(At(ns->value), "spec.secret.kubernetes.namespace: " + Quote(*v) +
                                    " is not a valid namespace (a DNS-1123 label: at most 63 "
                                    "lower-case letters, digits and '-', starting and ending "
                                    "with a letter or digit)");
        } else {
          spec->secret.k8s_namespace = *v;
        }
      }
    }
    if (name != nullptr) {
      if (auto v = String(*name, "spec.secret.kubernetes.name")) {
        if (!Matches(*v, kDns1123SubdomainPattern, 253)) {
          Report(At(name->value), "spec.secret.kubernetes.name: " + Quote(*v) +
                                      " is not a valid Secret name (a DNS-1123 subdomain: at most "
                                      "253 lower-case letters, digits, '-' and '.', starting and "
                                      "ending with a letter or digit)");
        } else {
          spec->secret.k8s_name = *v;
        }
      }
    }
  }

  // Why `path` cannot name a file inside --secret-dir, or "" when it can.
  static std::string SecretPathProblem(const std::string& path) {
    if (path.empty()) return "must not be empty";
    if (path.size() > 4096) return "is longer than 4096 bytes";
    if (path[0] == '/') {
      return Quote(path) + " is absolute; give a path relative to --secret-dir";
    }
    for (char c : path) {
      auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f) return Quote(path) + " contains a control character";
    }
    std::vector<std::string> segments;
    std::string segment;
    std::istringstream in(path);
    bool normalized = path.back() != '/';
    while (std::getline(in, segment, '/')) {
      if (segment == "..") {
        return Quote(path) + " escapes --secret-dir (\"..\" is not allowed)";
      }
      if (segment.size() > 255) return Quote(path) + " has a path segment longer than 255 bytes";
      if (segment.empty() || segment == ".") {
        normalized = false;
        continue;
      }
      segments.push_back(segment);
    }
    if (segments.empty()) return Quote(path) + " does not name a file";
    if (!normalized) {
      std::string suggestion;
      for (const auto& s : segments) suggestion += (suggestion.empty() ? "" : "/") + s;
      return Quote(path) + " is not a normalized relative path (write " + Quote(suggestion) + ")";
    }
    return "";
  }

  const std::string& text_;
  const std::string& file_;
  std::vector<std::size_t> line_starts_;
  TreeBuilder tree_;
  std::vector<SpecError> errors_;
};

// --- Files and directories ----------------------------------------------------------------------

bool IsSpecFileName(const std::string& name) {
  return EndsWith(name, ".yaml") || EndsWith(name, ".yml");
}

FileSpecs PathProblem(const std::string& path, const std::string& message) {
  FileSpecs out;
  out.file = path;
  out.errors.push_back(SpecError{SourceLocation{path, 0, 0}, message});
  return out;
}

// A path that could not be read at all: what it declares is unknown.
FileSpecs Unreadable(const std::string& path, const std::string& message) {
  FileSpecs out = PathProblem(path, message);
  out.unreadable = true;
  return out;
}

std::string Canonical(const fs::path& p) {
  std::error_code ec;
  fs::path c = fs::canonical(p, ec);
  return ec ? p.lexically_normal().string() : c.string();
}

// What a file that is neither a regular file nor a directory is, for messages.
std::string KindOf(const fs::file_status& st) {
  switch (st.type()) {
    case fs::file_type::fifo:
      return "a FIFO";
    case fs::file_type::socket:
      return "a socket";
    case fs::file_type::block:
      return "a block device";
    case fs::file_type::character:
      return "a character device";
    default:
      return "an unknown kind of file";
  }
}

// Walks `dir`; returns how many spec files and unreadable paths it met (files already seen
// included), so that the caller can tell an empty root.
std::size_t Walk(const fs::path& dir, std::set<std::string>* seen, std::vector<std::string>* files,
                 std::vector<FileSpecs>* problems) {
  if (!seen->insert("dir:" + Canonical(dir)).second) return 0;  // a symlink loop, or seen already
  std::error_code ec;
  std::vector<std::string> names;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    names.push_back(it->path().filename().string());
  }
  if (ec) {
    problems->push_back(Unreadable(dir.string(), "cannot read directory: " + ec.message()));
    return 1;
  }
  std::sort(names.begin(), names.end());
  std::size_t met = 0;
  for (const std::string& name : names) {
    if (name.empty() || name[0] == '.') continue;  // hidden, `..data`, `.git`, editor lock files
    const fs::path child = dir / name;
    std::error_code sec;
    const fs::file_status st = fs::status(child, sec);
    if (sec || !fs::exists(st)) {
      // Whatever its name, a dangling symlink or an entry that cannot be examined may be (or lead
      // to) a directory of specs: it is an error, and nothing is pruned while it lasts. An entry
      // that vanished since the listing (an editor's temp file) is simply gone.
      std::error_code lec;
      const bool link = fs::is_symlink(fs::symlink_status(child, lec));
      const bool vanished = !link && (!sec || sec == std::errc::no_such_file_or_directory);
      if (vanished) continue;
      ++met;
      problems->push_back(Unreadable(
          child.string(), "cannot read: " + (!sec || sec == std::errc::no_such_file_or_directory
                                                 ? std::string("broken symlink")
                                                 : sec.message())));
      continue;
    }
    if (fs::is_directory(st)) {
      met += Walk(child, seen, files, problems);
    } else if (IsSpecFileName(name)) {
      ++met;
      if (!fs::is_regular_file(st)) {
        // A spec file replaced by a FIFO or a socket: its tokens must not look undeclared.
        problems->push_back(
            Unreadable(child.string(), "cannot read: not a regular file (" + KindOf(st) + ")"));
      } else if (seen->insert("file:" + Canonical(child)).second) {
        files->push_back(child.string());
      }
    }
  }
  return met;
}

}  // namespace

std::string SpecError::ToString() const { return where.ToString() + ": " + message; }

FileSpecs ParseSpecText(const std::string& raw_text, const std::string& file) {
  // A UTF-8 byte-order mark is allowed; yaml-cpp counts positions after it, and so do we.
  const bool bom = raw_text.rfind("\xef\xbb\xbf", 0) == 0;
  const std::string text = bom ? raw_text.substr(3) : raw_text;
  // Checked before yaml-cpp sees the text: it costs yaml-cpp's scanner about 250 bytes of memory
  // per byte of an unclosed "[[[[..." before its own depth guard triggers.
  std::optional<std::pair<std::size_t, std::string>> problem = CheckText(text);
  if (!problem) {
    if (auto deep = FindTooDeep(text)) {
      problem.emplace(*deep, "YAML nesting too deep: more than " + std::to_string(kMaxYamlDepth) +
                                 " levels (collections inside collections)");
    }
  }
  if (problem) {
    FileSpecs out;
    out.file = file;
    const std::size_t offset = problem->first;
    std::size_t line_start = 0;
    int line = 1;
    for (std::size_t i = 0; i < offset; ++i) {
      if (text[i] == '\n') {
        ++line;
        line_start = i + 1;
      }
    }
    const std::size_t col0 = offset - line_start;
    out.errors.push_back(
        SpecError{SourceLocation{file, line, static_cast<int>(col0) + 1}, problem->second});
    return out;
  }
  return FileParser(text, file).Run();
}

FileSpecs LoadSpecFile(const std::string& path) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) {
    return Unreadable(path, "cannot read: " + (ec ? ec.message() : std::string("no such file")));
  }
  if (!fs::is_regular_file(st)) return Unreadable(path, "not a regular file");
  const auto size = fs::file_size(path, ec);
  if (ec) return Unreadable(path, "cannot read: " + ec.message());
  if (size > kMaxSpecFileBytes) {
    return PathProblem(path, "file too large (" + std::to_string(size) + " bytes; at most " +
                                 std::to_string(kMaxSpecFileBytes) + ")");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return Unreadable(path, std::string("cannot read: ") + std::strerror(errno));
  std::string text;
  text.reserve(size);
  text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (in.bad()) return Unreadable(path, std::string("cannot read: ") + std::strerror(errno));
  if (text.size() > kMaxSpecFileBytes) return PathProblem(path, "file too large");
  return ParseSpecText(text, path);
}

std::vector<std::string> FindSpecFiles(const std::vector<std::string>& paths,
                                       std::vector<FileSpecs>* problems,
                                       std::vector<std::string>* empty_roots) {
  std::vector<std::string> files;
  std::set<std::string> seen;
  for (const std::string& path : paths) {
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (ec || !fs::exists(st)) {
      std::error_code lec;
      const bool missing = !ec || ec == std::errc::no_such_file_or_directory;
      const bool dangling = missing && fs::is_symlink(fs::symlink_status(path, lec));
      problems->push_back(Unreadable(path, dangling  ? "broken symlink"
                                           : missing ? "no such file or directory"
                                                     : "cannot read: " + ec.message()));
      continue;
    }
    if (fs::is_directory(st)) {
      const bool again = seen.count("dir:" + Canonical(path)) > 0;
      if (Walk(fs::path(path), &seen, &files, problems) == 0 && !again && empty_roots) {
        empty_roots->push_back(path);
      }
    } else if (fs::is_regular_file(st)) {
      if (seen.insert("file:" + Canonical(path)).second) files.push_back(path);
    } else {
      problems->push_back(Unreadable(path, "not a regular file or directory (" + KindOf(st) + ")"));
    }
  }
  return files;
}

std::vector<std::string> UnreadPaths(const std::vector<FileSpecs>& files,
                                     const std::vector<std::string>& empty_roots) {
  std::vector<std::string> out;
  for (const FileSpecs& f : files) {
    if (f.unreadable && !f.errors.empty()) out.push_back(f.errors.front().ToString());
  }
  for (const std::string& root : empty_roots) {
    out.push_back(root + ": holds no spec file (*.yaml, *.yml)");
  }
  return out;
}

SpecSet LoadSpecs(const std::vector<std::string>& paths) {
  std::vector<FileSpecs> problems;
  std::vector<std::string> empty_roots;
  std::vector<std::string> names = FindSpecFiles(paths, &problems, &empty_roots);
  std::vector<FileSpecs> files;
  files.reserve(names.size() + problems.size());
  // Files parse independently: spread them over the cores (yaml-cpp keeps no shared state).
  files.resize(names.size());
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  ParallelFor(names.size(), std::min(cores, 4),
              [&](size_t i) { files[i] = LoadSpecFile(names[i]); });
  for (FileSpecs& p : problems) files.push_back(std::move(p));
  SpecSet set = MergeFiles(std::move(files));
  set.unread = UnreadPaths(set.files, empty_roots);
  return set;
}

SpecSet MergeFiles(std::vector<FileSpecs> files) {
  SpecSet set;
  set.files = std::move(files);
  struct Declaration {
    std::size_t file;
    const TokenSpec* spec;
  };
  std::map<std::pair<std::string, std::string>, std::vector<Declaration>> by_name;
  std::map<std::string, std::vector<Declaration>> by_secret;
  for (std::size_t i = 0; i < set.files.size(); ++i) {
    for (const TokenSpec& spec : set.files[i].specs) {
      const std::string registry = spec.registry.empty() ? "registryId " + Quote(spec.registry_id)
                                                         : "registry " + Quote(spec.registry);
      by_name[{registry, spec.name}].push_back(Declaration{i, &spec});
      by_secret[spec.secret.ToString()].push_back(Declaration{i, &spec});
    }
  }
  std::vector<std::pair<std::size_t, SpecError>> errors;  // (file index, error)
  std::set<std::size_t> failed;
  // Where `other` is, seen from `self`: "LINE:COL" in the same file, else "FILE:LINE:COL".
  auto where = [](const Declaration& other, const Declaration& self) {
    const SourceLocation& at = other.spec->source;
    return at.file == self.spec->source.file
               ? std::to_string(at.line) + ":" + std::to_string(at.column)
               : at.ToString();
  };
  // Where the other declarations are.
  auto others = [&where](const std::vector<Declaration>& all, std::size_t self) {
    std::string out;
    for (std::size_t k = 0; k < all.size(); ++k) {
      if (k != self) out += (out.empty() ? "" : ", ") + where(all[k], all[self]);
    }
    return out;
  };
  for (const auto& [key, declarations] : by_name) {
    if (declarations.size() < 2) continue;
    for (std::size_t k = 0; k < declarations.size(); ++k) {
      const Declaration& d = declarations[k];
      errors.emplace_back(
          d.file, SpecError{d.spec->source, "token " + Quote(key.second) + " of " + key.first +
                                                " is declared more than once (also at " +
                                                others(declarations, k) + ")"});
      failed.insert(d.file);
    }
  }
  for (const auto& [secret, declarations] : by_secret) {
    if (declarations.size() < 2) continue;
    for (std::size_t k = 0; k < declarations.size(); ++k) {
      const Declaration& d = declarations[k];
      const SecretRef& ref = d.spec->secret;
      const std::string what =
          ref.kind == SecretRef::Kind::kFile
              ? "secret file " + Quote(ref.file)
              : "Kubernetes Secret " + Quote(ref.k8s_namespace + "/" + ref.k8s_name);
      errors.emplace_back(
          d.file,
          SpecError{d.spec->source, "token " + Quote(d.spec->name) + " writes the " + what +
                                        ", as does the token at " + others(declarations, k)});
      failed.insert(d.file);
    }
  }
  // A secret file whose path is a directory of another's ("a" and "a/b.json"): the two can never
  // both be written. Paths are normalized by the parser, so each proper prefix ending before a
  // '/' is a directory of the path.
  std::map<std::string, std::vector<Declaration>> by_file;
  for (const auto& [secret, declarations] : by_secret) {
    for (const Declaration& d : declarations) {
      if (d.spec->secret.kind == SecretRef::Kind::kFile) by_file[d.spec->secret.file].push_back(d);
    }
  }
  for (const auto& [path, inner] : by_file) {
    for (std::size_t slash = path.find('/'); slash != std::string::npos;
         slash = path.find('/', slash + 1)) {
      auto outer = by_file.find(path.substr(0, slash));
      if (outer == by_file.end()) continue;
      for (const Declaration& file : outer->second) {
        for (const Declaration& dir : inner) {
          errors.emplace_back(
              file.file,
              SpecError{file.spec->source,
                        "token " + Quote(file.spec->name) + " writes the secret file " +
                            Quote(outer->first) + ", which is a directory of the secret file " +
                            Quote(path) + " of the token at " + where(dir, file)});
          errors.emplace_back(
              dir.file,
              SpecError{dir.spec->source,
                        "token " + Quote(dir.spec->name) + " writes the secret file " +
                            Quote(path) + " inside " + Quote(outer->first) +
                            ", which the token at " + where(file, dir) + " writes as a file"});
          failed.insert(file.file);
          failed.insert(dir.file);
        }
      }
    }
  }
  for (std::size_t i = 0; i < set.files.size(); ++i) {
    for (const SpecError& e : set.files[i].errors) errors.emplace_back(i, e);
    if (!set.files[i].errors.empty()) failed.insert(i);
  }
  std::stable_sort(errors.begin(), errors.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first, a.second.where.line, a.second.where.column) <
           std::tie(b.first, b.second.where.line, b.second.where.column);
  });
  for (auto& [file, error] : errors) set.errors.push_back(std::move(error));
  for (std::size_t i = 0; i < set.files.size(); ++i) {
    if (failed.count(i) != 0) {
      set.failed_files.insert(set.files[i].file);
      continue;
    }
    set.specs.insert(set.specs.end(), set.files[i].specs.begin(), set.files[i].specs.end());
  }
  return set;
}

}  // namespace crtoken
