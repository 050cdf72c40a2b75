// The YAML layer of the spec loader: a spec file's text parsed into a small tree of nodes that keep
// their positions, with the limits that keep hostile text cheap. The only place that uses
// yaml-cpp for specs: every yaml-cpp exception is caught here and becomes a SpecError.
//
// yaml-cpp's own Node tree is slow to build and free, keeps duplicate keys only by accident, and
// YAML::LoadAll loops forever on some invalid input (a ',' outside a flow collection makes it start
// an empty document again and again until memory runs out). So this builds its own small tree from
// the parser's events, in one pass with a guard against such runs.
//
// Thread-safety: a YamlText is immutable once built; separate YamlTexts share nothing.
#pragma once

#include <yaml-cpp/mark.h>
#include <yaml-cpp/node/type.h>

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "daemon/specs/spec_result.h"

namespace crtoken {

// Deeper YAML is refused before it is parsed (a RegistryToken document nests 5 levels deep): the
// parser's memory grows with the depth of unclosed collections, ~250 bytes per level.
inline constexpr std::size_t kMaxYamlDepth = 64;

struct NodeData;

// A handle to a node of a YamlText's tree (cheap to copy; valid as long as its YamlText). The
// accessors mirror yaml-cpp's YAML::Node.
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
  std::size_t Weight() const;  // nodes in this subtree, counting every alias's target in full
  const std::vector<YNode>& Items() const;                    // a sequence's entries
  const std::vector<std::pair<YNode, YNode>>& Pairs() const;  // a map's entries, duplicates kept

 private:
  const NodeData* data_ = nullptr;
};

// A node for a message: "null", the quoted scalar, "a list" or "a mapping".
std::string Describe(const YNode& node);

class TreeBuilder;

// The YAML documents of one file's text, and the places of its nodes. Building it never throws:
//  - the text must be UTF-8 without NUL bytes or control characters YAML forbids (a leading
//    byte-order mark is allowed and not counted in columns), and nest at most kMaxYamlDepth levels
//    deep; otherwise errors() holds the first such problem and there are no documents;
//  - a YAML syntax error, a parser that stops making progress, or aliases that would expand far
//    beyond the text become errors(); the documents completed before it are kept.
// Positions are 1-based lines and columns counted in bytes; `file` only names them.
class YamlText {
 public:
  YamlText(const std::string& text, const std::string& file);
  ~YamlText();
  YamlText(const YamlText&) = delete;
  YamlText& operator=(const YamlText&) = delete;

  const std::string& file() const { return file_; }
  const std::vector<YNode>& documents() const;  // the completed documents, in order
  const std::vector<SpecError>& errors() const { return errors_; }

  SourceLocation AtOffset(std::size_t offset) const;
  SourceLocation AtMark(const YAML::Mark& mark) const;  // line 0 for a null mark
  SourceLocation At(const YNode& node) const { return AtMark(node.Mark()); }
  // yaml-cpp marks a null list entry ("-" with nothing after it) at the next token: this points at
  // its dash instead.
  SourceLocation AtNullEntry(const YNode& entry) const;
  // True when a document after the first starts with "---" (yaml-cpp silently starts a new
  // document where the YAML grammar has an error, e.g. a mapping key after a top-level list).
  bool StartsWithMarker(const YNode& doc) const;
  // False for a quoted scalar that runs to the end of the file (yaml-cpp accepts it; YAML does
  // not).
  bool QuoteClosed(const YNode& scalar) const;

 private:
  void Parse();
  void Report(const SourceLocation& where, const std::string& message);
  void ReportSyntaxError(const YAML::Mark& mark, const std::string& message);

  std::string text_;  // without the byte-order mark
  std::string file_;
  std::vector<std::size_t> line_starts_;
  std::unique_ptr<TreeBuilder> tree_;
  std::vector<SpecError> errors_;
};

}  // namespace crtoken
