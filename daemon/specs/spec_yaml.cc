#include "daemon/specs/spec_yaml.h"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <sstream>
#include <string_view>

#include "daemon/common/json_text.h"

namespace crtoken {

std::string SpecError::ToString() const {
  SourceLocation printable = where;
  printable.file = PrintableText(where.file, std::string_view::npos);
  return printable.ToString() + ": " + message;
}

// A value for a message: quoted, control characters escaped, long values shortened.
std::string QuoteForMessage(const std::string& text) {
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

namespace {

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

}  // namespace

struct NodeData {
  YAML::NodeType::value type = YAML::NodeType::Null;
  std::string tag;
  std::string scalar;
  YAML::Mark mark;
  std::vector<YNode> items;
  std::vector<std::pair<YNode, YNode>> pairs;
  std::size_t weight = 1;  // nodes in this subtree, counting every alias's target in full
};

namespace {

const NodeData& Empty() {
  static const NodeData empty;
  return empty;
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

}  // namespace

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
      return QuoteForMessage(node.Scalar());
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a mapping";
  }
  return "an unknown node";
}

// --- YamlText -------------------------------------------------------------------------------

namespace {

std::vector<std::size_t> LineStarts(const std::string& text) {
  std::vector<std::size_t> starts{0};
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') starts.push_back(i + 1);
  }
  return starts;
}

}  // namespace

YamlText::YamlText(const std::string& raw_text, const std::string& file)
    // A UTF-8 byte-order mark is allowed; yaml-cpp counts positions after it, and so do we.
    : text_(raw_text.rfind("\xef\xbb\xbf", 0) == 0 ? raw_text.substr(3) : raw_text),
      file_(file),
      line_starts_(LineStarts(text_)),
      // Limits: a text of N lines holds at most N + 1 documents, and a parser that makes progress
      // emits a bounded number of events per byte.
      tree_(std::make_unique<TreeBuilder>(line_starts_.size() + 2, 4 * text_.size() + 64)) {
  // Checked before yaml-cpp sees the text: it costs yaml-cpp's scanner about 250 bytes of memory
  // per byte of an unclosed "[[[[..." before its own depth guard triggers.
  std::optional<std::pair<std::size_t, std::string>> problem = CheckText(text_);
  if (!problem) {
    if (auto deep = FindTooDeep(text_)) {
      problem.emplace(*deep, "YAML nesting too deep: more than " + std::to_string(kMaxYamlDepth) +
                                 " levels (collections inside collections)");
    }
  }
  if (problem) {
    Report(AtOffset(problem->first), problem->second);
    return;
  }
  Parse();
}

YamlText::~YamlText() = default;

const std::vector<YNode>& YamlText::documents() const { return tree_->documents(); }

void YamlText::Parse() {
  try {
    std::istringstream in(text_);
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(*tree_)) {
    }
  } catch (const Runaway& r) {
    const auto pos = static_cast<std::size_t>(std::max(r.mark.pos, 0));
    const std::string what =
        pos < text_.size() ? QuoteForMessage(std::string(1, text_[pos])) : "input";
    Report(AtMark(r.mark), "YAML syntax error: unexpected " + what);
  } catch (const AliasBomb& b) {
    Report(AtMark(b.mark), "YAML aliases expand too much: they may add at most " +
                               std::to_string(kAliasFactor) +
                               " times the nodes written out (plus " + std::to_string(kAliasSlack) +
                               "); write the shared values out, or share fewer");
  } catch (const YAML::DeepRecursion& e) {
    Report(AtMark(e.mark), "YAML syntax error: nesting too deep");
  } catch (const YAML::Exception& e) {
    ReportSyntaxError(e.mark, e.msg);
  } catch (const std::exception& e) {
    Report(SourceLocation{file_, 0, 0}, std::string("YAML parser failed: ") + e.what());
  }
}

SourceLocation YamlText::AtOffset(std::size_t offset) const {
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  std::size_t line = static_cast<std::size_t>(it - line_starts_.begin());  // 1-based
  return SourceLocation{file_, static_cast<int>(line),
                        static_cast<int>(offset - line_starts_[line - 1] + 1)};
}

SourceLocation YamlText::AtMark(const YAML::Mark& mark) const {
  if (mark.is_null() || mark.line < 0) return SourceLocation{file_, 0, 0};
  return SourceLocation{file_, mark.line + 1, mark.column + 1};
}

void YamlText::Report(const SourceLocation& where, const std::string& message) {
  errors_.push_back(SpecError{where, message});
}

// yaml-cpp's messages for a tab in the indentation name a symptom ("illegal map value") after
// it: point at the tab itself when one precedes the error.
void YamlText::ReportSyntaxError(const YAML::Mark& mark, const std::string& message) {
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
SourceLocation YamlText::AtNullEntry(const YNode& entry) const {
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
bool YamlText::StartsWithMarker(const YNode& doc) const {
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

bool YamlText::QuoteClosed(const YNode& scalar) const {
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
}  // namespace crtoken
