#pragma once
// Test helper: runs tests/integration/autumn_double.py (the Autumn test double) as a
// child process on a free loopback port, for C++ tests against the real double.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "http/client.h"

namespace rend::billing::testing {

class AutumnDoubleProcess {
 public:
  explicit AutumnDoubleProcess(const std::vector<std::string>& keys) {
    int in[2], out[2];
    if (pipe(in) != 0 || pipe(out) != 0) throw std::runtime_error("pipe failed");
    std::vector<std::string> args = {"python3", REND_AUTUMN_DOUBLE_PY};
    for (const auto& k : keys) {
      args.push_back("--key");
      args.push_back(k);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      close(in[0]), close(in[1]), close(out[0]), close(out[1]);
      // Debian's python3 first (the test machine's other pythons may lack nothing
      // here, but this is the interpreter the integration suite documents).
      execv("/usr/bin/python3", argv.data());
      execvp("python3", argv.data());
      _exit(127);
    }
    close(in[0]);
    close(out[1]);
    stdin_ = in[1];
    FILE* f = fdopen(out[0], "r");
    char line[128] = {0};
    if (!f || !fgets(line, sizeof line, f) || std::sscanf(line, "PORT %d", &port_) != 1) {
      if (f) fclose(f);
      stop();
      throw std::runtime_error("the Autumn double did not print its port");
    }
    fclose(f);
    url_ = "http://127.0.0.1:" + std::to_string(port_);
  }
  ~AutumnDoubleProcess() { stop(); }
  AutumnDoubleProcess(const AutumnDoubleProcess&) = delete;
  AutumnDoubleProcess& operator=(const AutumnDoubleProcess&) = delete;

  const std::string& url() const { return url_; }
  // POST /_double/config with a JSON object.
  void configure(const std::string& json) const {
    auto r = http::send({.method = "POST",
                         .url = url_ + "/_double/config",
                         .headers = {{"Content-Type", "application/json"}},
                         .body = json});
    if (r.status != 200) throw std::runtime_error("configuring the Autumn double failed: " + r.error + r.body);
  }
  // GET /_double/log: {"requests": [...], "recorded": [...]}.
  std::string log() const {
    http::ClientRequest req;
    req.url = url_ + "/_double/log";
    return http::send(req).body;
  }

 private:
  void stop() {
    if (stdin_ >= 0) close(stdin_), stdin_ = -1;  // the double exits when its stdin closes
    if (pid_ <= 0) return;
    for (int i = 0; i < 100; ++i) {
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) return void(pid_ = -1);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

  pid_t pid_ = -1;
  int stdin_ = -1;
  int port_ = 0;
  std::string url_;
};

// A fixture base for the suites that share one double process: started once per suite
// (SetUpTestSuite calls start_double), reset before every test, stopped after the suite.
// Derived is the fixture itself, so each suite has its own double; Base is
// ::testing::Test or ::testing::TestWithParam<T>.
template <class Derived, class Base = ::testing::Test>
class SuiteWithAutumnDouble : public Base {
 public:
  static void start_double(const std::vector<std::string>& keys) {
    http::client_global_init();
    double_ = new AutumnDoubleProcess(keys);
  }
  static void TearDownTestSuite() {
    delete double_;
    double_ = nullptr;
  }

 protected:
  void SetUp() override { double_->configure(R"({"reset": true})"); }
  static inline AutumnDoubleProcess* double_ = nullptr;
};

}  // namespace rend::billing::testing
