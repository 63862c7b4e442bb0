#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/traffic_counters.h"

namespace lockstep::proxy {

namespace http = boost::beast::http;

inline std::string_view to_sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

// Buffer for a normalised host name (253 bytes max, plus room for an IPv6 literal).
using HostBuffer = std::array<char, 272>;

// Lower-cases a Host value, removes the port and a trailing dot. Returns an empty view when the
// value is not a host name, IPv4 or [IPv6] literal (optionally with a numeric port).
std::string_view normalize_host(std::string_view raw, HostBuffer& out);

// The request target split for routing.
struct RequestTarget {
  std::string_view path;       // "/..." without the query
  std::string_view authority;  // host[:port] of an absolute-form target, else empty
  std::string_view origin;     // origin-form to send upstream ("/path?query", or "*")
  bool asterisk = false;       // "OPTIONS *"
};

// Parses origin-form ("/p?q"), absolute-form ("http://h/p?q") and asterisk-form ("*") targets.
// nullopt for anything else (authority-form is only for CONNECT, which is refused).
std::optional<RequestTarget> parse_target(std::string_view target);

// True when the path has "." or ".." segments, also percent-encoded ("%2e"): such paths would
// be routed by one prefix and resolved to another by the backend, so they are refused.
bool has_dot_segment(std::string_view path);

// The reason a request is refused before routing, with its status code.
struct HeadProblem {
  RejectReason reason;
  unsigned status;
};

// Checks a parsed request head: method (CONNECT refused), Host (exactly one, valid; an
// absolute-form target wins over it), target form, dot segments, Expect. On success fills
// `host` (normalised), `target` and `expect_continue`.
std::optional<HeadProblem> check_request_head(const http::request_header<>& req, HostBuffer& host_buf,
                                              std::string_view& host, RequestTarget& target,
                                              bool& expect_continue);

// Removes hop-by-hop headers: Connection, those it names (except framing headers and Host),
// Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade. Transfer-Encoding stays: it is framing and
// Beast's serializer re-frames the body by it.
void remove_hop_by_hop(http::fields& fields);

// Rewrites a client request for the upstream: hop-by-hop headers removed, Expect removed (the
// proxy answers 100-continue itself), X-Forwarded-For/-Proto/-Host set, HTTP/1.1 keep-alive,
// origin-form target.
void prepare_upstream_request(http::request_header<>& req, const RequestTarget& target,
                              std::string_view client_ip, bool trust_forwarded);

// Rewrites an upstream response for the client: hop-by-hop headers removed and the client-side
// connection persistence set. A chunked body to an HTTP/1.0 client is sent unframed and the
// connection closed after it. Returns whether the client connection stays open.
bool prepare_client_response(http::response_header<>& res, bool keep_alive, unsigned client_version);

// Writes a message head as HTTP/1.1 text ("METHOD target HTTP/1.1" or "HTTP/1.1 code reason",
// the fields, the empty line) into `out`. The fields come from Beast's parser or from this
// file, so they hold no CR or LF.
void serialize_request_head(const http::request_header<>& req, std::string& out);
void serialize_response_head(const http::response_header<>& res, std::string& out);

// True for methods whose requests may be sent again after a failure (RFC 9110 §9.2.2).
bool is_idempotent(http::verb method);

}  // namespace lockstep::proxy
