#pragma once
// Parsing of the Redis connection URL (REDIS_URL).
#include <string>

namespace rend::store::redis {

struct RedisUrl {
  std::string host;
  int port = 6379;
  std::string user;      // empty: the default user (AUTH with the password only)
  std::string password;  // empty: no AUTH
  int db = 0;

  // "host:port" for logs and error messages: never the credentials.
  std::string server() const;
};

// redis://[[user]:password@]host[:port][/db]; user and password may be
// percent-encoded, an IPv6 host is written in brackets. Throws
// std::invalid_argument whose message never contains the password.
RedisUrl parse_redis_url(const std::string& url);

}  // namespace rend::store::redis
