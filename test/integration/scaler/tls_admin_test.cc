// TLS and mutual TLS on the gRPC listeners; the admin HTTP endpoints.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>

#include "scaler_harness.h"
#include "test/support/keda/fake_proxy.h"
#include "test/support/keda/keda_client.h"

#ifndef LOCKSTEP_TEST_CERTS
#error "LOCKSTEP_TEST_CERTS must name the test PKI directory"
#endif

namespace lockstep::scaler {
namespace {

using namespace std::chrono_literals;
using keda::FakeProxy;
using keda::KedaClient;
using keda::KedaOptions;

std::string read_file(const std::string& name) {
  std::ifstream in(std::string(LOCKSTEP_TEST_CERTS) + "/" + name);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string cert_path(const std::string& name) {
  return std::string(LOCKSTEP_TEST_CERTS) + "/" + name;
}

KedaOptions one_trigger(const std::string& address) {
  KedaOptions o;
  o.address = address;
  o.ns = "demo";
  o.name = "web";
  o.triggers = {{{{"hosts", "web.example.com"}, {"targetValue", "10"}}}};
  o.call_deadline = 3s;
  return o;
}

std::shared_ptr<grpc::ChannelCredentials> tls_creds(bool with_client_cert,
                                                    const std::string& who = "client") {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = read_file("ca.pem");
  if (with_client_cert) {
    ssl.pem_cert_chain = read_file(who + ".pem");
    ssl.pem_private_key = read_file(who + ".key");
  }
  return grpc::SslCredentials(ssl);
}

TEST_CASE("TLS: KEDA with the CA connects, a plaintext client does not") {
  ManualClock clock;
  ScalerConfig config = test::loopback_config();
  config.keda.tls = {cert_path("server.pem"), cert_path("server.key"), ""};
  config.ingest.tls = config.keda.tls;
  test::Scaler scaler(clock, config);
  KedaOptions o = one_trigger(scaler.keda_address());
  o.credentials = tls_creds(false);
  KedaClient secure(o);
  CHECK(secure.reconcile().ok());
  KedaClient plain(one_trigger(scaler.keda_address()));
  CHECK(plain.reconcile().error_code() == grpc::StatusCode::UNAVAILABLE);
}

TEST_CASE("mTLS: only clients with a certificate from the client CA get in") {
  ManualClock clock;
  ScalerConfig config = test::loopback_config();
  config.keda.tls = {cert_path("server.pem"), cert_path("server.key"), cert_path("ca.pem")};
  config.ingest.tls = config.keda.tls;
  test::Scaler scaler(clock, config);
  KedaOptions o = one_trigger(scaler.keda_address());
  o.credentials = tls_creds(true);
  KedaClient with_cert(o);
  CHECK(with_cert.reconcile().ok());
  o.credentials = tls_creds(false);
  KedaClient without(o);
  CHECK_FALSE(without.reconcile().ok());
  o.credentials = tls_creds(true, "stranger");
  KedaClient stranger(o);
  CHECK_FALSE(stranger.reconcile().ok());
  // The proxies' stream goes through the same listener.
  FakeProxy proxy(grpc::CreateChannel(scaler.ingest_address(), tls_creds(true)), "p", 1);
  REQUIRE(proxy.connect());
  proxy.define("demo/web", "web");
  CHECK(proxy.wait_ack(proxy.flush(), 5s));
}

TEST_CASE("separate listeners: plaintext KEDA, mTLS ingest that refuses proxies without a certificate") {
  ManualClock clock;
  ScalerConfig config = test::loopback_config();
  config.keda.listen = "127.0.0.2:0";
  config.ingest.tls = {cert_path("server.pem"), cert_path("server.key"), cert_path("ca.pem")};
  test::Scaler scaler(clock, config);
  REQUIRE(scaler.server->keda_port() != scaler.server->ingest_port());
  KedaClient keda(one_trigger("127.0.0.2:" + std::to_string(scaler.server->keda_port())));
  CHECK(keda.reconcile().ok());
  for (auto creds : {grpc::InsecureChannelCredentials(), tls_creds(false),
                     tls_creds(true, "stranger")}) {
    FakeProxy refused(grpc::CreateChannel(scaler.ingest_address(), creds), "p", 1);
    refused.connect();
    auto end = refused.wait_end(5s);
    REQUIRE(end.has_value());
    CHECK(end->error_code() == grpc::StatusCode::UNAVAILABLE);
  }
  CHECK(scaler.server->aggregator().proxies_connected() == 0);
  FakeProxy proxy(grpc::CreateChannel(scaler.ingest_address(), tls_creds(true)), "p", 1);
  REQUIRE(proxy.connect());
  const uint32_t id = proxy.define("demo/web", "web");
  proxy.count(id, 7);
  REQUIRE(proxy.wait_ack(proxy.flush(), 5s));
  CHECK(scaler.server->aggregator().find_route("demo/web")->requests_total() == 7);
}

TEST_CASE("bad TLS files are configuration errors naming the key") {
  ScalerConfig c = test::loopback_config();
  c.keda.tls = {cert_path("server.pem"), "", ""};
  auto e = validate_config(c);
  REQUIRE(e.has_value());
  CHECK(e->reason == "keda.tls.key_file: required when cert_file is set");
  c.keda.tls = {cert_path("server.pem"), cert_path("client.key"), ""};
  e = validate_config(c);
  REQUIRE(e.has_value());
  CHECK(e->reason.find("does not match the certificate") != std::string::npos);
  c.keda.tls = {cert_path("nope.pem"), cert_path("server.key"), ""};
  e = validate_config(c);
  REQUIRE(e.has_value());
  CHECK(e->reason.find("keda.tls.cert_file: cannot read") == 0);
  c.keda.tls = {};
  c.ingest.tls = {"", "", cert_path("ca.pem")};
  e = validate_config(c);
  REQUIRE(e.has_value());
  CHECK(e->reason.find("ingest.tls.client_ca_file") == 0);
  c.ingest.tls = {cert_path("server.pem"), cert_path("server.key"), ""};
  e = validate_config(c);  // same address, different TLS
  REQUIRE(e.has_value());
  CHECK(e->key == "ingest.tls");
}

using test::http_get;

TEST_CASE("admin: /metrics shows per-backend series with roles, /proxies the applied versions") {
  ManualClock clock;
  test::Scaler scaler(clock);
  scaler.server->catalogue().set_backends(
      "demo/web", {{"web-stable", BackendRole::kStable}, {"web-canary", BackendRole::kCanary}});
  KedaClient keda(one_trigger(scaler.keda_address()));
  const auto reconciled = keda.reconcile();
  REQUIRE_MESSAGE(reconciled.ok(), reconciled.error_message());
  FakeProxy proxy(scaler.ingest_channel(), "proxy-1", 1);
  REQUIRE(proxy.connect());
  const uint32_t s = proxy.define("demo/web", "web-stable");
  const uint32_t c = proxy.define("demo/web", "web-canary");
  clock.advance(60s);
  proxy.count(s, 90);
  proxy.count(c, 10);
  proxy.gauges(c, 2, 1);
  REQUIRE(proxy.wait_ack(proxy.flush(false, 0xabc), 5s));
  keda.poll();
  auto [code, body] = http_get(scaler.server->admin_port(), "/metrics");
  CHECK(code == 200);
  CHECK(body.find("lockstep_scaler_requests_total{namespace=\"demo\",route=\"web\",backend=\"web-"
                  "stable\",role=\"stable\"} 90") != std::string::npos);
  CHECK(body.find("lockstep_scaler_held_requests{namespace=\"demo\",route=\"web\",backend=\"web-"
                  "canary\",role=\"canary\"} 1") != std::string::npos);
  CHECK(body.find("lockstep_scaler_concurrency{namespace=\"demo\",route=\"web\",backend=\"web-"
                  "canary\",role=\"canary\"} 3") != std::string::npos);
  CHECK(body.find("lockstep_scaler_route_active{namespace=\"demo\",route=\"web\"} 1") !=
        std::string::npos);
  CHECK(body.find("lockstep_scaler_metric_target{namespace=\"demo\",route=\"web\",metric="
                  "\"requestRate\"} 10") != std::string::npos);
  CHECK(body.find("lockstep_scaler_proxies_connected 1") != std::string::npos);
  CHECK(body.find("lockstep_scaler_reports_total 1") != std::string::npos);
  CHECK(body.find("lockstep_scaler_keda_request_duration_seconds_count{method=\"GetMetrics\"} 1") !=
        std::string::npos);
  CHECK(body.find("lockstep_scaler_rejects_total{reason=\"unknown_series_id\"} 0") !=
        std::string::npos);
  auto [pcode, proxies] = http_get(scaler.server->admin_port(), "/proxies");
  CHECK(pcode == 200);
  CHECK(proxies.find("\"proxy_id\":\"proxy-1\"") != std::string::npos);
  CHECK(proxies.find("\"route_table_version\":2748") != std::string::npos);
  CHECK(http_get(scaler.server->admin_port(), "/readyz").first == 200);
  CHECK(http_get(scaler.server->admin_port(), "/healthz").first == 200);
}

}  // namespace
}  // namespace lockstep::scaler
