// One-line JSON object builder for the generator's machine-readable output.
//
// Why hand-rolled: the output is a flat object of numbers and a few plain
// strings; a JSON library would be the biggest dependency of the tool.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace duetload {

class JsonLine {
 public:
  JsonLine& add(std::string_view key, std::string_view value) {
    keyPrefix(key);
    out_ += '"';
    for (char c : value) {  // escape only what can appear in our strings
      if (c == '"' || c == '\\') out_ += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) out_ += c;
    }
    out_ += '"';
    return *this;
  }
  JsonLine& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value));
  }
  JsonLine& add(std::string_view key, uint64_t value) {
    keyPrefix(key);
    out_ += std::to_string(value);
    return *this;
  }
  JsonLine& add(std::string_view key, int64_t value) {
    keyPrefix(key);
    out_ += std::to_string(value);
    return *this;
  }
  JsonLine& add(std::string_view key, int value) { return add(key, static_cast<int64_t>(value)); }
  JsonLine& add(std::string_view key, bool value) {
    keyPrefix(key);
    out_ += value ? "true" : "false";
    return *this;
  }
  // Doubles with a fixed number of decimals: stable, diff-friendly output.
  JsonLine& add(std::string_view key, double value, int decimals = 1) {
    keyPrefix(key);
    if (!std::isfinite(value)) {
      out_ += "null";
    } else {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.*f", decimals, value);
      out_ += buf;
    }
    return *this;
  }
  // A nested object (another JsonLine's str()), as the value of `key`.
  JsonLine& add(std::string_view key, const JsonLine& object) {
    keyPrefix(key);
    out_ += object.empty() ? "{}" : object.str();
    return *this;
  }
  bool empty() const { return out_.empty(); }
  std::string str() const { return out_ + "}"; }

 private:
  void keyPrefix(std::string_view key) {
    out_ += out_.empty() ? "{" : ",";
    out_ += '"';
    out_ += key;
    out_ += "\":";
  }
  std::string out_;
};

}  // namespace duetload
