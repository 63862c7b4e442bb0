#include "rollout/kube/resource.h"

namespace lockstep::kube {

std::string ResourceType::api_version() const {
  if (group.empty()) return std::string(version);
  std::string out(group);
  out += '/';
  out += version;
  return out;
}

std::string ResourceType::path(std::string_view ns, std::string_view name) const {
  std::string out = group.empty() ? "/api/" : "/apis/";
  out += api_version();
  if (namespaced && !ns.empty()) {
    out += "/namespaces/";
    out += ns;
  }
  out += '/';
  out += plural;
  if (!name.empty()) {
    out += '/';
    out += name;
  }
  return out;
}

std::string ResourceType::qualified_name() const {
  std::string out(plural);
  if (!group.empty()) {
    out += '.';
    out += group;
  }
  return out;
}

std::string url_encode(std::string_view value) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (unsigned char c : value) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

}  // namespace lockstep::kube
