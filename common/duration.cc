#include "common/duration.h"

#include <cstdint>
#include <limits>

namespace lockstep {
namespace {

struct Unit {
  std::string_view name;
  int64_t ns;
};

// Longest names first so that "ms" is not read as "m".
constexpr Unit kUnits[] = {
    {"ns", 1},
    {"us", 1'000},
    {"\xC2\xB5s", 1'000},  // U+00B5 micro sign
    {"\xCE\xBCs", 1'000},  // U+03BC Greek mu
    {"ms", 1'000'000},
    {"s", 1'000'000'000},
    {"m", 60'000'000'000},
    {"h", 3'600'000'000'000},
};

bool fail(std::string* error, std::string msg) {
  if (error != nullptr) *error = std::move(msg);
  return false;
}

}  // namespace

bool parse_duration(std::string_view text, std::chrono::nanoseconds& out, std::string* error) {
  if (text.empty()) return fail(error, "empty duration");
  if (text == "0") {
    out = std::chrono::nanoseconds(0);
    return true;
  }
  if (text[0] == '-' || text[0] == '+') {
    return fail(error, "a duration has no sign");
  }
  // Accumulate in long double nanoseconds per term; reject overflow past ~292 years.
  long double total = 0;
  size_t i = 0;
  while (i < text.size()) {
    const size_t start = i;
    long double whole = 0;
    bool digits = false;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      whole = whole * 10 + (text[i] - '0');
      digits = true;
      ++i;
    }
    long double frac = 0;
    long double scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
        scale /= 10;
        frac += (text[i] - '0') * scale;
        digits = true;
        ++i;
      }
    }
    if (!digits) {
      return fail(error, "expected a number at \"" + std::string(text.substr(start)) + "\"");
    }
    const Unit* unit = nullptr;
    for (const Unit& u : kUnits) {
      if (text.substr(i, u.name.size()) == u.name) {
        // "m" must not swallow the "m" of "ms": kUnits lists "ms" before "m".
        unit = &u;
        break;
      }
    }
    if (unit == nullptr) {
      if (i == text.size()) {
        return fail(error, "missing unit after \"" + std::string(text.substr(start)) +
                               "\" (use ns, us, ms, s, m or h)");
      }
      return fail(error, "unknown unit at \"" + std::string(text.substr(i)) +
                             "\" (use ns, us, ms, s, m or h)");
    }
    i += unit->name.size();
    total += (whole + frac) * static_cast<long double>(unit->ns);
    if (total > static_cast<long double>(std::numeric_limits<int64_t>::max())) {
      return fail(error, "duration too large");
    }
  }
  out = std::chrono::nanoseconds(static_cast<int64_t>(total + 0.5L));
  return true;
}

std::string format_duration(std::chrono::nanoseconds d) {
  int64_t ns = d.count();
  if (ns == 0) return "0s";
  std::string out;
  if (ns < 0) {
    out += '-';
    ns = -ns;
  }
  if (ns < 1'000'000'000) {
    // Below a second Go prints one unit with a fraction; we keep integers where exact.
    if (ns % 1'000'000 == 0) return out + std::to_string(ns / 1'000'000) + "ms";
    if (ns % 1'000 == 0) return out + std::to_string(ns / 1'000) + "us";
    return out + std::to_string(ns) + "ns";
  }
  const int64_t h = ns / 3'600'000'000'000;
  ns %= 3'600'000'000'000;
  const int64_t m = ns / 60'000'000'000;
  ns %= 60'000'000'000;
  const int64_t s = ns / 1'000'000'000;
  const int64_t rem = ns % 1'000'000'000;
  if (h > 0) out += std::to_string(h) + "h";
  if (m > 0 || (h > 0 && ns > 0)) out += std::to_string(m) + "m";
  if (ns > 0) {
    out += std::to_string(s);
    if (rem != 0) {
      std::string frac = std::to_string(rem + 1'000'000'000).substr(1);
      while (frac.back() == '0') frac.pop_back();
      out += "." + frac;
    }
    out += "s";
  }
  return out;
}

}  // namespace lockstep
