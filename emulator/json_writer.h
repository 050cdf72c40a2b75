// A minimal streaming JSON writer for the hot responses (tokens and token lists): appends to a
// string with no intermediate DOM. The caller is responsible for well-formed nesting.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace crtoken::emulator {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject() { return Open('{'); }
  JsonWriter& EndObject() { return Close('}'); }
  JsonWriter& BeginArray() { return Open('['); }
  JsonWriter& EndArray() { return Close(']'); }
  // An object key; the next call writes its value.
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view value);
  JsonWriter& Int(int64_t value);
  JsonWriter& Null();
  JsonWriter& Raw(std::string_view json);  // an already-serialized value

 private:
  JsonWriter& Open(char c);
  JsonWriter& Close(char c);
  void Separate();

  std::string* out_;
  bool first_ = true;       // no element written yet at this nesting level
  bool after_key_ = false;  // the next value follows a key
};

// Appends `s` as a JSON string literal (quoted, escaped).
void AppendJsonString(std::string* out, std::string_view s);

}  // namespace crtoken::emulator
