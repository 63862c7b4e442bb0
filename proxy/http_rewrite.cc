#include "proxy/http_rewrite.h"

#include <boost/beast/http/rfc7230.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/container/small_vector.hpp>

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
constexpr boost::beast::string_view kXfp = "x-forwarded-proto";
constexpr boost::beast::string_view kXfh = "x-forwarded-host";

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
  // One pass over the fields (a list) for everything checked here.
  size_t host_count = 0, expect_count = 0, te_count = 0;
  std::string_view host_value, expect_value;
  bool last_chunked = false;
  for (const auto& f : req) {
    switch (f.name()) {
      case http::field::host:
        ++host_count;
        host_value = to_sv(f.value());
        break;
      case http::field::expect:
        ++expect_count;
        expect_value = to_sv(f.value());
        break;
      case http::field::transfer_encoding:
        ++te_count;
        for (auto token : http::token_list{f.value()}) {
          last_chunked = boost::beast::iequals(token, "chunked");
        }
        break;
      default:
        break;
    }
  }
  if (host_count > 1) return HeadProblem{RejectReason::kBadHost, 400};
  std::string_view raw_host;
  if (!target.authority.empty()) {
    raw_host = target.authority;  // RFC 9112 §3.2.2: the absolute-form authority wins
  } else if (host_count == 1) {
    raw_host = host_value;
  } else {
    return HeadProblem{RejectReason::kBadHost, 400};
  }
  host = normalize_host(raw_host, host_buf);
  if (host.empty()) return HeadProblem{RejectReason::kBadHost, 400};
  // A request body is framed by chunked or Content-Length only; any other transfer coding would
  // leave the upstream to guess the length (request smuggling), so it is refused (RFC 9112 §6.1).
  if (te_count != 0 && !last_chunked) return HeadProblem{RejectReason::kMalformed, 400};
  expect_continue = false;
  if (expect_count != 0) {
    if (expect_count > 1 || !iequals(expect_value, "100-continue")) {
      return HeadProblem{RejectReason::kExpectation, 417};
    }
    expect_continue = req.version() >= 11;
  }
  return std::nullopt;
}

namespace {

bool hop_by_hop(http::field f) {
  switch (f) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::upgrade:
      return true;
    default:
      return false;
  }
}

using FieldIter = http::fields::const_iterator;
using FieldList = boost::container::small_vector<FieldIter, 8>;
using ViewList = boost::container::small_vector<boost::beast::string_view, 4>;

// True when some Connection value names a header other than the standard options.
bool names_other_headers(const ViewList& connection_values) {
  for (const auto& v : connection_values) {
    for (auto token : http::token_list{v}) {
      if (!boost::beast::iequals(token, "close") && !boost::beast::iequals(token, "keep-alive")) {
        return true;
      }
    }
  }
  return false;
}

// Adds the fields named by Connection (except framing headers and Host) to `doomed`.
void doom_connection_named(const http::fields& fields, const ViewList& connection_values,
                           FieldList& doomed) {
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    const http::field f = it->name();
    if (hop_by_hop(f) || f == http::field::content_length ||
        f == http::field::transfer_encoding || f == http::field::host) {
      continue;  // already going, or never removable by a client or upstream
    }
    bool named = false;
    for (const auto& v : connection_values) {
      for (auto token : http::token_list{v}) named = named || boost::beast::iequals(token, it->name_string());
    }
    if (named) doomed.push_back(it);
  }
}

}  // namespace

// One pass over the fields (a list) instead of a lookup per hop-by-hop name.
void remove_hop_by_hop(http::fields& fields) {
  FieldList doomed;
  ViewList connection_values;
  for (auto it = fields.begin(); it != fields.end(); ++it) {
    const http::field f = it->name();
    if (!hop_by_hop(f)) continue;
    if (f == http::field::connection) connection_values.push_back(it->value());
    doomed.push_back(it);
  }
  if (names_other_headers(connection_values)) {
    doom_connection_named(fields, connection_values, doomed);
  }
  for (auto it : doomed) fields.erase(it);
}

void prepare_upstream_request(http::request_header<>& req, const RequestTarget& target,
                              std::string_view client_ip, bool trust_forwarded) {
  if (!target.authority.empty()) {
    // `target` views the request's own target string: copy before replacing it.
    const std::string authority(target.authority);
    const std::string origin(target.origin);
    req.set(http::field::host, authority);
    req.target(origin);
  }
  FieldList doomed;
  ViewList connection_values;
  ViewList xff_values;
  bool has_xfp = false, has_xfh = false;
  boost::beast::string_view host;
  for (auto it = req.begin(); it != req.end(); ++it) {
    const http::field f = it->name();
    if (hop_by_hop(f)) {
      if (f == http::field::connection) connection_values.push_back(it->value());
      doomed.push_back(it);
    } else if (f == http::field::expect) {
      doomed.push_back(it);  // the proxy answers 100-continue itself
    } else if (f == http::field::host) {
      host = it->value();
    } else if (f == http::field::unknown) {
      const auto name = it->name_string();
      if (boost::beast::iequals(name, kXff)) {
        if (trust_forwarded) xff_values.push_back(it->value());
        doomed.push_back(it);
      } else if (boost::beast::iequals(name, kXfp)) {
        if (trust_forwarded) {
          has_xfp = true;
        } else {
          doomed.push_back(it);
        }
      } else if (boost::beast::iequals(name, kXfh)) {
        if (trust_forwarded) {
          has_xfh = true;
        } else {
          doomed.push_back(it);
        }
      }
    }
  }
  if (names_other_headers(connection_values)) {
    doom_connection_named(req, connection_values, doomed);
  }
  // X-Forwarded-For: the trusted chain (repeated headers joined) plus the client.
  std::string xff;
  size_t xff_size = client_ip.size();
  for (const auto& v : xff_values) xff_size += v.size() + 2;
  xff.reserve(xff_size);
  for (const auto& v : xff_values) {
    xff.append(v.data(), v.size());
    xff += ", ";
  }
  xff.append(client_ip.data(), client_ip.size());
  const std::string xfh = has_xfh ? std::string() : std::string(host.data(), host.size());
  for (auto it : doomed) req.erase(it);
  req.insert(http::field::unknown, kXff, xff);
  if (!has_xfp) req.insert(http::field::unknown, kXfp, "http");
  if (!has_xfh) req.insert(http::field::unknown, kXfh, xfh);
  req.version(11);
}

bool prepare_client_response(http::response_header<>& res, bool keep_alive,
                             unsigned client_version) {
  FieldList doomed;
  ViewList connection_values;
  bool chunked_to_old_client = false;
  for (auto it = res.begin(); it != res.end(); ++it) {
    const http::field f = it->name();
    if (hop_by_hop(f)) {
      if (f == http::field::connection) connection_values.push_back(it->value());
      doomed.push_back(it);
    } else if (f == http::field::transfer_encoding && client_version < 11) {
      // HTTP/1.0 has no chunked coding: the body goes as is and ends with the connection.
      chunked_to_old_client = true;
      doomed.push_back(it);
    }
  }
  if (names_other_headers(connection_values)) {
    doom_connection_named(res, connection_values, doomed);
  }
  for (auto it : doomed) res.erase(it);
  if (chunked_to_old_client) keep_alive = false;
  if (!keep_alive) {
    res.insert(http::field::connection, "close");
  } else if (client_version < 11) {
    res.insert(http::field::connection, "keep-alive");
  }
  return keep_alive;
}

namespace {

void append(std::string& out, boost::beast::string_view v) { out.append(v.data(), v.size()); }

// Bytes append_fields() will write, so a head is built with one allocation.
size_t fields_size(const http::fields& fields) {
  size_t n = 2;
  for (const auto& f : fields) n += f.name_string().size() + f.value().size() + 4;
  return n;
}

void append_fields(std::string& out, const http::fields& fields) {
  for (const auto& f : fields) {
    append(out, f.name_string());
    out += ": ";
    append(out, f.value());
    out += "\r\n";
  }
  out += "\r\n";
}

}  // namespace

void serialize_request_head(const http::request_header<>& req, std::string& out) {
  out.clear();
  out.reserve(req.method_string().size() + req.target().size() + 12 + fields_size(req));
  append(out, req.method_string());
  out += ' ';
  append(out, req.target());
  out += " HTTP/1.1\r\n";
  append_fields(out, req);
}

void serialize_response_head(const http::response_header<>& res, std::string& out) {
  out.clear();
  out.reserve(16 + res.reason().size() + 32 + fields_size(res));
  const unsigned code = res.result_int();
  out += "HTTP/1.1 ";
  out += static_cast<char>('0' + code / 100 % 10);
  out += static_cast<char>('0' + code / 10 % 10);
  out += static_cast<char>('0' + code % 10);
  out += ' ';
  const auto reason = res.reason();
  append(out, reason.empty() ? http::obsolete_reason(static_cast<http::status>(code)) : reason);
  out += "\r\n";
  append_fields(out, res);
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
