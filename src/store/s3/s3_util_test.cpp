// S3 backend pieces that need no S3 service: URL/query canonicalization, the
// minimal XML handling, Content-MD5, configuration checks, and the streaming
// reader's behaviour against a scripted one-shot HTTP server (truncation must
// throw, 404 is nullptr). The contract run against s3rver is in
// objects_contract_test.cpp.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "store/s3/md5.h"
#include "store/s3/object_store.h"
#include "store/s3/url.h"
#include "store/s3/xml.h"

namespace rend::store::s3 {
namespace {

TEST(S3Url, KeysAndQueriesAreEncodedAsSigV4Signs) {
  // SigV4: the key's '/' stay, everything outside the unreserved set is %XX upper case.
  UrlBuilder b("http://127.0.0.1:9000", "bkt", true);
  EXPECT_EQ(b.object_url("a/b c~d_e.f-g+\xc3\xa9"), "http://127.0.0.1:9000/bkt/a/b%20c~d_e.f-g%2B%C3%A9");
  EXPECT_EQ(canonical_query({{"prefix", "a/b+c=d"}}), "prefix=a%2Fb%2Bc%3Dd");
}

TEST(S3Url, CanonicalQueryIsSortedWithEquals) {
  EXPECT_EQ(canonical_query({{"uploads", ""}}), "uploads=");
  EXPECT_EQ(canonical_query({{"uploadId", "x/y+z"}, {"partNumber", "3"}}), "partNumber=3&uploadId=x%2Fy%2Bz");
  EXPECT_EQ(canonical_query(
                {{"prefix", "t/a b/"}, {"max-keys", "2"}, {"list-type", "2"}, {"continuation-token", "1=="}}),
            "continuation-token=1%3D%3D&list-type=2&max-keys=2&prefix=t%2Fa%20b%2F");
}

TEST(S3Url, PathAndVirtualHostedStyle) {
  UrlBuilder path("http://127.0.0.1:9100/", "rend-test", true);
  EXPECT_EQ(path.bucket_url(), "http://127.0.0.1:9100/rend-test");
  EXPECT_EQ(path.object_url("a/b.ts"), "http://127.0.0.1:9100/rend-test/a/b.ts");
  EXPECT_EQ(path.object_url("a/b", "uploads="), "http://127.0.0.1:9100/rend-test/a/b?uploads=");

  UrlBuilder vhost("https://s3.us-east-1.amazonaws.com", "media", false);
  EXPECT_EQ(vhost.bucket_url("list-type=2"), "https://media.s3.us-east-1.amazonaws.com/?list-type=2");
  EXPECT_EQ(vhost.object_url("sources/x"), "https://media.s3.us-east-1.amazonaws.com/sources/x");

  // ListBuckets goes to the service root, outside the bucket, in either style.
  EXPECT_EQ(path.service_url(), "http://127.0.0.1:9100/");
  EXPECT_EQ(vhost.service_url(), "https://s3.us-east-1.amazonaws.com/");
  EXPECT_EQ(UrlBuilder("http://h:1/base/", "b", true).service_url(), "http://h:1/base/");

  EXPECT_THROW(UrlBuilder("ftp://h", "b", true), std::invalid_argument);
  EXPECT_THROW(UrlBuilder("http://user:secret@h", "b", true), std::invalid_argument);
  EXPECT_THROW(UrlBuilder("http://h", "Bad_Name", false), std::invalid_argument);
}

TEST(S3Xml, ListPageKeysTokensAndEntities) {
  const std::string doc =
      "<?xml version=\"1.0\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>"
      "<Contents><Key>p/a&amp;b</Key><Size>1</Size></Contents><Contents><Key>p/&#233;&#x41;</Key></Contents>"
      "<NextContinuationToken>tok&lt;1&gt;</NextContinuationToken></ListBucketResult>";
  auto page = parse_list_page(doc);
  EXPECT_EQ(page.keys, (std::vector<std::string>{"p/a&b",
                                                 "p/\xc3\xa9"
                                                 "A"}));
  EXPECT_EQ(page.next_continuation_token, "tok<1>");

  auto last = parse_list_page("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>");
  EXPECT_TRUE(last.keys.empty());
  EXPECT_TRUE(last.next_continuation_token.empty());

  EXPECT_THROW(parse_list_page("<Error><Code>AccessDenied</Code></Error>"), std::runtime_error);
  EXPECT_THROW(parse_list_page("<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>"),
               std::runtime_error);
  EXPECT_THROW(xml_unescape("a &bogus; b"), std::runtime_error);
  EXPECT_EQ(xml_escape("<a&'\">"), "&lt;a&amp;&apos;&quot;&gt;");
}

TEST(S3Md5, ContentMd5IsBase64OfDigest) {
  EXPECT_EQ(md5_base64(""), "1B2M2Y8AsgTpgAmY7PhCfg==");
  EXPECT_EQ(md5_base64("The quick brown fox jumps over the lazy dog"), "nhB9nTcrtoJr2B01QqQZ1g==");
}

TEST(S3Config, InvalidConfigurationIsRejectedWithoutSecrets) {
  S3Config cfg;
  cfg.endpoint = "http://127.0.0.1:1";
  cfg.bucket = "b";
  cfg.access_key_id = "AKIDEXAMPLE";
  cfg.secret_access_key = "very-secret";
  EXPECT_NO_THROW(open_s3_object_store(cfg));

  auto bad = cfg;
  bad.endpoint = "s3.amazonaws.com";
  try {
    open_s3_object_store(bad);
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("very-secret"), std::string::npos);
  }
  bad = cfg;
  bad.secret_access_key.clear();
  EXPECT_THROW(open_s3_object_store(bad), std::invalid_argument);
  bad = cfg;
  bad.part_size = 1 << 20;
  EXPECT_THROW(open_s3_object_store(bad), std::invalid_argument);
  bad = cfg;
  bad.key_prefix = "../x";
  EXPECT_THROW(open_s3_object_store(bad), std::invalid_argument);
}

TEST(S3Store, UnreachableServiceIsUnhealthyWithoutSecrets) {
  S3Config cfg;
  cfg.endpoint = "http://127.0.0.1:1";  // nothing listens on port 1
  cfg.bucket = "b";
  cfg.access_key_id = "AKIDEXAMPLE";
  cfg.secret_access_key = "very-secret";
  auto store = open_s3_object_store(cfg);
  auto h = store->health();
  EXPECT_FALSE(h.ok);
  EXPECT_EQ(h.detail.find("very-secret"), std::string::npos) << h.detail;
  EXPECT_THROW(store->head("k"), std::runtime_error);
  // Keys are validated before any request.
  EXPECT_THROW(store->head("../k"), std::invalid_argument);
}

// Serves one scripted response to the first connection and records the request head.
class OneShotServer {
 public:
  explicit OneShotServer(std::string response) : response_(std::move(response)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 1);
    thread_ = std::thread([this] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      while (request_.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        request_.append(buf, size_t(n));
      }
      ::send(c, response_.data(), response_.size(), MSG_NOSIGNAL);
      ::close(c);  // ends the response here, whatever its Content-Length said
    });
  }
  ~OneShotServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& request() const { return request_; }  // valid after the response was read

 private:
  std::string response_, request_;
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// A listening socket nobody accepts on: the kernel completes the handshake, the
// request goes out and no byte ever comes back (a hung or frozen S3 server).
class SilentServer {
 public:
  SilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(::listen(fd_, 8), 0);
  }
  ~SilentServer() { ::close(fd_); }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// A keep-alive HTTP/1.1 server on one thread, serving one connection at a time: it
// answers `answers_per_conn` GETs on a connection (each with the body `body`), then
// reads the next request and closes after writing `last_words` (an idle keep-alive
// connection the server dropped just as the client reused it). Counts accepted
// connections.
class KeepAliveServer {
 public:
  KeepAliveServer(std::string body, int answers_per_conn, std::string last_words = "")
      : body_(std::move(body)), per_conn_(answers_per_conn), last_words_(std::move(last_words)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    ::listen(fd_, 8);
    thread_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        accepts_++;
        std::string in;
        char buf[4096];
        for (int answered = 0;; ++answered) {
          size_t end;
          while ((end = in.find("\r\n\r\n")) == std::string::npos) {
            ssize_t n = ::recv(c, buf, sizeof buf, 0);
            if (n <= 0) break;
            in.append(buf, size_t(n));
          }
          if (end == std::string::npos) break;
          if (answered == per_conn_) {
            if (!last_words_.empty()) ::send(c, last_words_.data(), last_words_.size(), MSG_NOSIGNAL);
            break;
          }
          in.erase(0, end + 4);
          requests_++;
          std::string res = "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body_.size()) + "\r\n\r\n" + body_;
          if (::send(c, res.data(), res.size(), MSG_NOSIGNAL) != ssize_t(res.size())) break;
        }
        ::close(c);
      }
    });
  }
  ~KeepAliveServer() {
    ::shutdown(fd_, SHUT_RDWR);
    thread_.join();
    ::close(fd_);
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepts() const { return accepts_; }
  int requests() const { return requests_; }

 private:
  std::string body_;
  int per_conn_;
  std::string last_words_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepts_{0}, requests_{0};
  std::thread thread_;
};

std::string read_all(ObjectReader& r) {
  std::string got;
  char buf[4096];
  while (size_t n = r.read(buf, sizeof buf)) got.append(buf, n);
  return got;
}

std::unique_ptr<ObjectStore> store_at(const std::string& endpoint) {
  S3Config cfg;
  cfg.endpoint = endpoint;
  cfg.bucket = "bkt";
  cfg.region = "eu-west-3";
  cfg.access_key_id = "AKIDEXAMPLE";
  cfg.secret_access_key = "wJalrXUtnFEMI";
  cfg.key_prefix = "pre";
  return open_s3_object_store(cfg);
}

TEST(S3Reader, TruncatedBodyThrowsInsteadOfEndingEarly) {
  OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(5000, 'x'));
  auto store = store_at(server.endpoint());
  auto r = store->get("a/b.ts");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->size(), 100000u);
  std::string got;
  char buf[4096];
  EXPECT_THROW(
      {
        while (size_t n = r->read(buf, sizeof buf)) got.append(buf, n);
      },
      std::runtime_error);
  EXPECT_LE(got.size(), 5000u);

  // Signed by libcurl for the configured region and service, with the payload hash header S3 requires.
  const std::string& req = server.request();
  EXPECT_NE(req.find("GET /bkt/pre/a/b.ts HTTP/1.1"), std::string::npos) << req;
  EXPECT_NE(req.find("Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"), std::string::npos) << req;
  EXPECT_NE(req.find("/eu-west-3/s3/aws4_request"), std::string::npos) << req;
  EXPECT_NE(req.find("x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
            std::string::npos)
      << req;
  EXPECT_EQ(req.find("wJalrXUtnFEMI"), std::string::npos);
}

TEST(S3Reader, MissingObjectIsNullAndOtherErrorsThrow) {
  {
    OneShotServer server(
        "HTTP/1.1 404 Not Found\r\nContent-Length: 44\r\n\r\n<Error><Code>NoSuchKey</Code></Error>       ");
    EXPECT_EQ(store_at(server.endpoint())->get("k"), nullptr);
  }
  {
    const std::string body = "<Error><Code>AccessDenied</Code></Error>";
    OneShotServer server("HTTP/1.1 403 Forbidden\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                         body);
    try {
      store_at(server.endpoint())->get("k");
      ADD_FAILURE() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("403 AccessDenied"), std::string::npos) << e.what();
    }
  }
}

TEST(S3Store, HealthUrlDecidesHealth) {
  OneShotServer server("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n");
  S3Config cfg;
  cfg.endpoint = "http://127.0.0.1:1";
  cfg.bucket = "b";
  cfg.health_url = server.endpoint() + "/minio/health/live";
  auto h = open_s3_object_store(cfg)->health();
  EXPECT_FALSE(h.ok);
  EXPECT_NE(h.detail.find("503"), std::string::npos) << h.detail;
  EXPECT_NE(server.request().find("GET /minio/health/live"), std::string::npos);
}

// /readyz waits for health(): a hung object store must be reported down within a
// few seconds, not after the 30 s stall timeout that data transfers get.
TEST(S3Store, HealthIsDownWithinItsBoundWhenTheServerHangs) {
  SilentServer server;
  for (bool with_health_url : {false, true}) {
    SCOPED_TRACE(with_health_url ? "OBJECT_STORE_HEALTH_URL" : "HeadBucket");
    S3Config cfg;
    cfg.endpoint = server.endpoint();
    cfg.bucket = "b";
    if (with_health_url) cfg.health_url = server.endpoint() + "/minio/health/live";
    auto store = open_s3_object_store(cfg);
    const auto start = std::chrono::steady_clock::now();
    const auto h = store->health();
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_FALSE(h.ok);
    EXPECT_LT(took, std::chrono::seconds(4)) << h.detail;
  }
}

std::string list_buckets_answer(const std::string& owner) {
  const std::string body =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListAllMyBucketsResult><Owner><ID>1</ID>"
      "<DisplayName>" +
      owner + "</DisplayName></Owner><Buckets></Buckets></ListAllMyBucketsResult>";
  return "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

TEST(S3Store, DeclaresAtomicReplaceUnlessTheServiceIsS3rver) {
  {
    OneShotServer server(list_buckets_answer("S3rver"));
    auto store = store_at(server.endpoint());
    EXPECT_FALSE(store->capabilities().atomic_replace);
    EXPECT_FALSE(store->capabilities().atomic_replace);  // remembered: the server answers once
    EXPECT_NE(server.request().find("GET / HTTP/1.1"), std::string::npos) << server.request();
  }
  {
    OneShotServer server(list_buckets_answer("webfile"));  // AWS's owner display name style
    EXPECT_TRUE(store_at(server.endpoint())->capabilities().atomic_replace);
  }
  {
    // No permission to list buckets: S3 as specified.
    const std::string body = "<Error><Code>AccessDenied</Code></Error>";
    OneShotServer server("HTTP/1.1 403 Forbidden\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                         body);
    EXPECT_TRUE(store_at(server.endpoint())->capabilities().atomic_replace);
  }
  S3Config cfg;
  cfg.endpoint = "http://127.0.0.1:1";  // unreachable
  cfg.bucket = "b";
  EXPECT_TRUE(open_s3_object_store(cfg)->capabilities().atomic_replace);
}

// Fills reuse origin connections: a second GET after the first one's body was read
// goes out on the same connection (no new TCP handshake, no new server thread).
TEST(S3Reader, ConnectionIsReusedAcrossGets) {
  KeepAliveServer server("hello", 1000);
  auto store = store_at(server.endpoint());
  for (int i = 0; i < 3; ++i) {
    auto r = store->get("k" + std::to_string(i));
    ASSERT_TRUE(r);
    EXPECT_EQ(read_all(*r), "hello");
  }
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(server.accepts(), 1);
}

// A pooled connection the server dropped is retried once on a fresh one: the GET
// succeeds, on a second connection.
// Silently closed (libcurl retries that itself) or cut in the middle of the
// headers (libcurl gives up once a header line arrived; the reader retries).
TEST(S3Reader, ADeadPooledConnectionIsRetriedOnAFreshOne) {
  for (std::string last_words : {"", "HTTP/1.1 200 OK\r\nContent-Le"}) {
    SCOPED_TRACE("last words: " + last_words);
    KeepAliveServer server("hello", 1, last_words);
    auto store = store_at(server.endpoint());
    for (int i = 0; i < 3; ++i) {
      auto r = store->get("k" + std::to_string(i));
      ASSERT_TRUE(r);
      EXPECT_EQ(read_all(*r), "hello");
    }
    EXPECT_EQ(server.requests(), 3);
    EXPECT_EQ(server.accepts(), 3);
  }
}

// A reader dropped before the end of its body must not hand its connection back:
// the rest of that body would be read as the next GET's response.
TEST(S3Reader, AnAbandonedReaderDoesNotPoolItsConnection) {
  const std::string big(4 << 20, 'b');
  KeepAliveServer server(big, 1000);
  auto store = store_at(server.endpoint());
  {
    auto r = store->get("k0");
    ASSERT_TRUE(r);
    char buf[1000];
    EXPECT_EQ(r->read(buf, sizeof buf), sizeof buf);
  }
  auto r = store->get("k1");
  ASSERT_TRUE(r);
  EXPECT_EQ(read_all(*r), big);
  EXPECT_EQ(server.accepts(), 2);
}

// An edge fill starts its GET on the thread that missed and collects the answer on a
// fill worker: start_get sends the request at once (here on a pooled connection, so
// the server has it before anyone waits), finish() on another thread returns the
// reader; a 404 is nullptr as for get(); a started GET dropped unfinished does not
// pool its connection.
TEST(S3Reader, StartGetSendsTheRequestAtOnceAndFinishCollectsItElsewhere) {
  // Larger than the reader's window, so a started GET cannot complete by itself.
  const std::string big(4 << 20, 's');
  KeepAliveServer server(big, 1000);
  auto store = store_at(server.endpoint());
  {
    auto r = store->get("k0");  // leaves its connection in the pool
    ASSERT_TRUE(r);
    EXPECT_EQ(read_all(*r), big);
  }
  auto pending = store->start_get("k1");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server.requests() < 2 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_EQ(server.requests(), 2) << "the request must leave before finish()";
  auto got = std::async(std::launch::async, [&] {
    auto r = pending->finish();
    return r ? read_all(*r) : std::string("(none)");
  });
  EXPECT_TRUE(got.get() == big);
  EXPECT_EQ(server.accepts(), 1);
  {
    auto dropped = store->start_get("k2");  // dropped before its answer was read
  }
  auto r = store->get("k3");
  ASSERT_TRUE(r);
  EXPECT_TRUE(read_all(*r) == big);
  EXPECT_EQ(server.accepts(), 2) << "the dropped GET's connection was not reused";
  EXPECT_THROW(store->start_get("../k"), std::invalid_argument);
  OneShotServer missing(
      "HTTP/1.1 404 Not Found\r\nContent-Length: 44\r\n\r\n<Error><Code>NoSuchKey</Code></Error>       ");
  EXPECT_EQ(store_at(missing.endpoint())->start_get("k")->finish(), nullptr);
}

// The same on a brand-new connection (a fresh edge, or more fills at once than pooled
// connections): the connect completes at once on a near origin, and the request must
// follow it without waiting for finish() (a fill worker may be minutes away under load).
// start() drives the connect for a bounded time (200 us), so a test thread descheduled
// right then (ASan, a loaded CI machine) may miss it once: three fresh connections get
// the chance, and without the drive none of them ever sends before finish().
TEST(S3Reader, StartGetOnAFreshConnectionSendsTheRequestBeforeFinish) {
  int sent_early = 0;
  for (int attempt = 0; attempt < 3 && sent_early == 0; ++attempt) {
    KeepAliveServer server("hello", 1000);
    auto store = store_at(server.endpoint());
    auto pending = store->start_get("k0");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    while (server.requests() < 1 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    sent_early += server.requests();
    auto r = pending->finish();
    ASSERT_TRUE(r);
    EXPECT_EQ(read_all(*r), "hello");
    EXPECT_EQ(server.accepts(), 1);
  }
  EXPECT_EQ(sent_early, 1) << "the request must leave before finish()";
}

}  // namespace
}  // namespace rend::store::s3
