#include "proxy/http_rewrite.h"

#include <boost/beast/http/rfc7230.hpp>

#include <algorithm>
#include <string>
#include <vector>

namespace lockstep::proxy {
namespace {

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

constexpr boost::beast::string_view kXff = "x-forwarded-for";

// Whether the last transfer coding is chunked (RFC 9112 §6.3), across every Transfer-Encoding.
bool last_coding_chunked(const http::fields& f) {
  bool chunked = false;
  for (auto it = f.find(http::field::transfer_encoding);
       it != f.end() && it->name() == http::field::transfer_encoding; ++it) {
    for (auto token : http::token_list{it->value()}) {
      chunked = boost::beast::iequals(token, "chunked");
    }
  }
  return chunked;
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.size() <= 5 &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::string_view normalize_host(std::string_view raw, HostBuffer& out) {
  if (raw.empty()) return {};
  if (raw.front() == '[') {
    // [IPv6](:port)?
    auto close = raw.find(']');
    if (close == std::string_view::npos || close + 1 > out.size()) return {};
    std::string_view rest = raw.substr(close + 1);
    if (!rest.empty() && (rest.front() != ':' || !all_digits(rest.substr(1)))) return {};
    for (size_t i = 0; i <= close; ++i) {
      const char c = lower(raw[i]);
      const bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == ':' || c == '.' ||
                      c == '[' || c == ']';
      if (!ok || ((c == '[' || c == ']') && i != 0 && i != close)) return {};
      out[i] = c;
    }
    return {out.data(), close + 1};
  }
  auto colon = raw.find(':');
  std::string_view name = raw.substr(0, colon);
  if (colon != std::string_view::npos && !all_digits(raw.substr(colon + 1))) return {};
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return {};
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = lower(name[i]);
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
                    c == '_';
    if (!ok) return {};
    out[i] = c;
  }
  return {out.data(), name.size()};
}

std::optional<RequestTarget> parse_target(std::string_view target) {
  RequestTarget t;
  if (target == "*") {
    t.asterisk = true;
    t.path = "/";
    t.origin = target;
    return t;
  }
  std::string_view origin = target;
  if (!target.empty() && target.front() != '/') {
    // absolute-form: scheme "://" authority [path-abempty] [ "?" query ]
    auto scheme_end = target.find("://");
    if (scheme_end == std::string_view::npos) return std::nullopt;
    std::string_view scheme = target.substr(0, scheme_end);
    if (!iequals(scheme, "http") && !iequals(scheme, "https")) return std::nullopt;
    std::string_view rest = target.substr(scheme_end + 3);
    auto path_start = rest.find_first_of("/?");
    t.authority = rest.substr(0, path_start);
    if (t.authority.empty() || t.authority.find('@') != std::string_view::npos) return std::nullopt;
    origin = path_start == std::string_view::npos ? std::string_view("/") : rest.substr(path_start);
    if (origin.front() == '?') return std::nullopt;  // "http://h?q": no path; rare, refuse
  }
  if (origin.empty() || origin.front() != '/') return std::nullopt;
  t.origin = origin;
  t.path = origin.substr(0, origin.find('?'));
  if (auto hash = t.path.find('#'); hash != std::string_view::npos) return std::nullopt;
  return t;
}

bool has_dot_segment(std::string_view path) {
  // Walk the segments; a segment that decodes to "." or ".." is a dot segment.
  size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    std::string_view seg = path.substr(i, end - i);
    size_t dots = 0;
    bool only_dots = true;
    for (size_t j = 0; j < seg.size() && only_dots;) {
      if (seg[j] == '.') {
        ++dots;
        ++j;
      } else if (seg[j] == '%' && j + 2 < seg.size() + 0 && seg[j + 1] == '2' &&
                 lower(seg[j + 2]) == 'e') {
        ++dots;
        j += 3;
      } else {
        only_dots = false;
      }
    }
    if (only_dots && (dots == 1 || dots == 2)) return true;
    i = end;
  }
  return false;
}

std::optional<HeadProblem> check_request_head(const http::request_header<>& req, HostBuffer& host_buf,
                                              std::string_view& host, RequestTarget& target,
                                              bool& expect_continue) {
  if (req.method() == http::verb::connect) return HeadProblem{RejectReason::kMethod, 405};
  auto parsed = parse_target(to_sv(req.target()));
  if (!parsed) return HeadProblem{RejectReason::kBadTarget, 400};
  target = *parsed;
  if (has_dot_segment(target.path)) return HeadProblem{RejectReason::kBadTarget, 400};
  const size_t host_count = req.count(http::field::host);
  if (host_count > 1) return HeadProblem{RejectReason::kBadHost, 400};
  std::string_view raw_host;
  if (!target.authority.empty()) {
    raw_host = target.authority;  // RFC 9112 §3.2.2: the absolute-form authority wins
  } else if (host_count == 1) {
    raw_host = to_sv(req[http::field::host]);
  } else {
    return HeadProblem{RejectReason::kBadHost, 400};
  }
  host = normalize_host(raw_host, host_buf);
  if (host.empty()) return HeadProblem{RejectReason::kBadHost, 400};
  expect_continue = false;
  // A request body is framed by chunked or Content-Length only; any other transfer coding would
  // leave the upstream to guess the length (request smuggling), so it is refused (RFC 9112 §6.1).
  if (req.count(http::field::transfer_encoding) != 0 && !last_coding_chunked(req)) {
    return HeadProblem{RejectReason::kMalformed, 400};
  }
  if (auto it = req.find(http::field::expect); it != req.end()) {
    if (!iequals(to_sv(it->value()), "100-continue") || req.count(http::field::expect) > 1) {
      return HeadProblem{RejectReason::kExpectation, 417};
    }
    expect_continue = req.version() >= 11;
  }
  return std::nullopt;
}

void remove_hop_by_hop(http::fields& fields) {
  // Headers named by Connection are hop-by-hop too; collect before erasing.
  std::vector<std::string> named;
  for (auto it = fields.find(http::field::connection); it != fields.end() &&
                                                       it->name() == http::field::connection;
       ++it) {
    for (auto token : http::token_list{it->value()}) {
      const http::field f = http::string_to_field(token);
      if (f == http::field::content_length || f == http::field::transfer_encoding ||
          f == http::field::host) {
        continue;  // never let a client or upstream remove framing or Host
      }
      named.emplace_back(token.data(), token.size());
    }
  }
  for (const auto& n : named) fields.erase(n);
  fields.erase(http::field::connection);
  fields.erase(http::field::keep_alive);
  fields.erase(http::field::proxy_connection);
  fields.erase(http::field::te);
  fields.erase(http::field::trailer);
  fields.erase(http::field::upgrade);
}

void prepare_upstream_request(http::request_header<>& req, const RequestTarget& target,
                              std::string_view client_ip, bool trust_forwarded) {
  remove_hop_by_hop(req);
  req.erase(http::field::expect);
  if (!target.authority.empty()) {
    // `target` views the request's own target string: copy before replacing it.
    const std::string authority(target.authority);
    const std::string origin(target.origin);
    req.set(http::field::host, authority);
    req.target(origin);
  }

  // X-Forwarded-For: append the client to a trusted chain (joining repeated headers), else
  // replace it.
  std::string xff;
  if (trust_forwarded) {
    for (auto it = req.find(kXff);
         it != req.end() && boost::beast::iequals(it->name_string(), kXff); ++it) {
      if (!xff.empty()) xff += ", ";
      xff.append(it->value().data(), it->value().size());
    }
  }
  if (!xff.empty()) xff += ", ";
  xff.append(client_ip.data(), client_ip.size());
  req.set(kXff, xff);
  if (!trust_forwarded || req.count("x-forwarded-proto") == 0) req.set("x-forwarded-proto", "http");
  if (!trust_forwarded || req.count("x-forwarded-host") == 0) {
    auto host = req[http::field::host];
    req.set("x-forwarded-host", host);
  }
  req.version(11);
}

void prepare_client_response(http::response_header<>& res, bool keep_alive,
                             unsigned client_version) {
  remove_hop_by_hop(res);
  if (client_version < 11 && last_coding_chunked(res)) {
    // HTTP/1.0 has no chunked coding: send the body as is and end it by closing.
    res.erase(http::field::transfer_encoding);
    keep_alive = false;
  }
  if (!keep_alive) {
    res.set(http::field::connection, "close");
  } else if (client_version < 11) {
    res.set(http::field::connection, "keep-alive");
  }
}

bool is_idempotent(http::verb method) {
  switch (method) {
    case http::verb::get:
    case http::verb::head:
    case http::verb::options:
    case http::verb::trace:
    case http::verb::put:
    case http::verb::delete_:
      return true;
    default:
      return false;
  }
}

}  // namespace lockstep::proxy
