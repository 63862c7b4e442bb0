#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lockstep::kube {

// A parsed Kubernetes label selector, in the query-string syntax of `?labelSelector=`:
//   app=web, tier!=cache, env in (prod, staging), track notin (canary), release, !legacy, gen>3
// Requirements are ANDed; keys and values are validated as the API server does (qualified names,
// values of at most 63 characters). The empty selector matches everything.
class LabelSelector {
 public:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kDoesNotExist, kGreaterThan, kLessThan };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;  // sorted; one value for =, !=, >, <; none for (!)exists
  };

  LabelSelector() = default;

  // Parses `text`; on failure returns nullopt and sets `error` to a message naming the position
  // and the rule ("label selector: position 4: expected a value after '='").
  static std::optional<LabelSelector> parse(std::string_view text, std::string* error = nullptr);

  bool matches(const std::map<std::string, std::string, std::less<>>& labels) const;
  bool empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }
  // Canonical text (requirements sorted by key), parseable again; "" for the empty selector.
  std::string to_string() const;

 private:
  std::vector<Requirement> requirements_;  // sorted by key, then op
};

// Validation shared with the object model (the messages name the rule, not the field).
// A qualified name: optional "<dns-subdomain>/" prefix, then 1..63 of [A-Za-z0-9-_.] starting and
// ending alphanumeric.
bool is_qualified_name(std::string_view s, std::string* error = nullptr);
// A label value: empty, or 1..63 of [A-Za-z0-9-_.] starting and ending alphanumeric.
bool is_label_value(std::string_view s, std::string* error = nullptr);
// DNS-1123 subdomain: 1..253 lower-case alphanumerics, '-' and '.', alphanumeric at both ends.
bool is_dns1123_subdomain(std::string_view s, std::string* error = nullptr);
// DNS-1123 label: 1..63 lower-case alphanumerics and '-', alphanumeric at both ends.
bool is_dns1123_label(std::string_view s, std::string* error = nullptr);

}  // namespace lockstep::kube
