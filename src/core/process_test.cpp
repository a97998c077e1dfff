#include "core/process.h"
#include "core/testing/scripted_runner.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>

namespace rend::core {
namespace {
using namespace std::chrono_literals;

bool fd_open(int fd) { return fcntl(fd, F_GETFD) != -1; }

// Open descriptor numbers below `limit`.
std::set<int> open_fds(int limit = 4096) {
  std::set<int> s;
  for (int fd = 0; fd < limit; ++fd)
    if (fd_open(fd)) s.insert(fd);
  return s;
}

std::set<std::string> lines(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) out.insert(l);
  return out;
}

TEST(PosixProcessRunner, ChildInheritsNoDescriptorBeyondStdio) {
  // What `rend dev` holds while a worker runs ffmpeg: a listening socket and an open
  // file, both without O_CLOEXEC (as a library might open them).
  int lsock = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(lsock, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(lsock, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(lsock, 4), 0);
  int file = open("/proc/self/status", O_RDONLY);
  ASSERT_GE(file, 0);

  PosixProcessRunner runner;
  ProcessOptions o;
  o.timeout = 10s;
  // The shell lists its own descriptors from a child `ls` (whose directory handle
  // is then not in the listing).
  auto r = runner.run({"/bin/sh", "-c", "ls /proc/$$/fd"}, o);
  close(lsock);
  close(file);
  ASSERT_EQ(r.exit_code, 0) << r.err_tail;
  EXPECT_EQ(lines(r.out), (std::set<std::string>{"0", "1", "2"})) << r.out;
}

TEST(PosixProcessRunner, ForkFailureLeaksNoDescriptor) {
  auto before = open_fds();
  PosixProcessRunner runner([]() -> pid_t {
    errno = EAGAIN;
    return -1;
  });
  ProcessOptions o;
  try {
    runner.run({"/bin/true"}, o);
    ADD_FAILURE() << "run() did not report the fork failure";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("fork"), std::string::npos) << e.what();
  }
  EXPECT_EQ(open_fds(), before);
}

TEST(PosixProcessRunner, PipeFailureLeaksNoDescriptor) {
  // In a child process: lower RLIMIT_NOFILE so that exactly two descriptors are
  // free, i.e. the first pipe succeeds and the second fails.
  EXPECT_EXIT(
      {
        int limit = 3;
        auto free_below = [](int l) {
          int n = 0;
          for (int fd = 0; fd < l; ++fd) n += !fd_open(fd);
          return n;
        };
        while (free_below(limit) < 2) ++limit;
        rlimit lim{};
        getrlimit(RLIMIT_NOFILE, &lim);
        lim.rlim_cur = rlim_t(limit);
        if (setrlimit(RLIMIT_NOFILE, &lim) != 0) _exit(3);
        auto before = open_fds(limit);
        PosixProcessRunner runner;
        bool threw = false;
        try {
          runner.run({"/bin/true"}, ProcessOptions{});
        } catch (const std::runtime_error&) {
          threw = true;
        }
        _exit(!threw ? 4 : open_fds(limit) == before ? 0 : 5);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST(PosixProcessRunner, StdoutIsCappedAndTheChildKilled) {
  PosixProcessRunner runner;
  ProcessOptions o;
  o.timeout = 20s;
  o.max_stdout_bytes = 1 << 20;
  auto t0 = std::chrono::steady_clock::now();
  auto r = runner.run({"yes", "0123456789abcdef"}, o);  // never ends by itself
  EXPECT_TRUE(r.stdout_overflow);
  EXPECT_EQ(r.out.size(), size_t(1) << 20);
  EXPECT_EQ(r.exit_code, -1);
  EXPECT_FALSE(r.timed_out);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);

  // Under the cap nothing changes.
  o.max_stdout_bytes = 100;
  r = runner.run({"printf", "hello"}, o);
  EXPECT_FALSE(r.stdout_overflow);
  EXPECT_EQ(r.out, "hello");
  EXPECT_EQ(r.exit_code, 0);
}

TEST(PosixProcessRunner, AThrowingHookKillsTheChildAndLeaksNothing) {
  auto before = open_fds();
  PosixProcessRunner runner;
  ProcessOptions o;
  o.timeout = 30s;
  o.on_tick = [] { throw std::runtime_error("hook failed"); };
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_THROW(runner.run({"sleep", "30"}, o), std::runtime_error);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(open_fds(), before);
}

// ---------------------------------------------------------------- ScriptedRunner (test helper)

TEST(ScriptedRunner, OutputDirIsTheLastArgumentsParentWithoutTheVariantPlaceholder) {
  EXPECT_EQ(testing::output_dir({"ffmpeg", "-i", "x", "/w/ladder/%v/index.m3u8"}), "/w/ladder");
  EXPECT_EQ(testing::output_dir({"ffmpeg", "-i", "x", "/w/src/index.m3u8"}), "/w/src");
  EXPECT_EQ(testing::output_dir({"ffprobe", "file:/w/source"}), "file:/w");
  EXPECT_EQ(testing::output_dir({}), "");
}

TEST(ScriptedRunner, NewestMatchingRuleWithUsesLeftAnswersAndWritesItsFiles) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("rend-scripted-" + std::to_string(std::random_device{}()));
  testing::ScriptedRunner r;
  r.on(testing::program("ffmpeg"), {.files = {{"a/seg.ts", "S"}, {"a/index.m3u8", "P"}}});
  r.on(testing::program_with("ffmpeg", "-boom"), testing::Reply::exits(1, "boom"), 1);
  ProcessOptions o;
  int ticks = 0;
  o.on_tick = [&] { ++ticks; };
  auto res = r.run({"ffmpeg", "-boom", (dir / "%v" / "index.m3u8").string()}, o);
  EXPECT_EQ(res.exit_code, 1);
  EXPECT_EQ(res.err_tail, "boom");
  EXPECT_FALSE(fs::exists(dir / "a" / "seg.ts")) << "a failing rule wrote the older rule's files";
  res = r.run({"ffmpeg", "-boom", (dir / "%v" / "index.m3u8").string()}, o);  // the once-rule is used up
  EXPECT_EQ(res.exit_code, 0);
  std::ifstream in(dir / "a" / "index.m3u8");
  std::string text((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(text, "P");
  EXPECT_GE(ticks, 1) << "progress publishing never got a turn";
  EXPECT_EQ(r.count(testing::program("ffmpeg")), 2);

  res = r.run({"ffprobe", "x"}, o);
  EXPECT_EQ(res.exit_code, 127);
  ASSERT_EQ(r.unmatched().size(), 1u);
  EXPECT_EQ(r.unmatched()[0].at(0), "ffprobe");
  fs::remove_all(dir);
}

TEST(ScriptedRunner, UntilCancelledRunsUntilShouldCancelOrTheTimeout) {
  testing::ScriptedRunner r;
  r.on(testing::program("ffmpeg"), {.until_cancelled = true});
  ProcessOptions o;
  auto t0 = std::chrono::steady_clock::now();
  o.should_cancel = [&] { return std::chrono::steady_clock::now() - t0 > 50ms; };
  auto res = r.run({"ffmpeg", "/tmp/x"}, o);
  EXPECT_TRUE(res.cancelled);
  EXPECT_EQ(res.exit_code, -1);
  o.should_cancel = nullptr;
  o.timeout = 30ms;
  res = r.run({"ffmpeg", "/tmp/x"}, o);
  EXPECT_TRUE(res.timed_out);
  EXPECT_THROW(testing::Reply::throws("fork failed").custom({}, o), std::runtime_error);
}

}  // namespace
}  // namespace rend::core
