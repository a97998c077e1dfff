#include "core/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace rend::core {
namespace {

constexpr size_t kErrTail = 8192;

void append_tail(std::string& s, const char* data, size_t n) {
  s.append(data, n);
  if (s.size() > 2 * kErrTail) s.erase(0, s.size() - kErrTail);
}

}  // namespace

ProcessResult PosixProcessRunner::run(const std::vector<std::string>& argv, const ProcessOptions& opts) {
  if (argv.empty()) throw std::invalid_argument("empty argv");
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));

  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    // Child: own process group so a timeout kills ffmpeg and anything it spawned,
    // and it dies with us: a SIGKILLed worker must not leave an ffmpeg writing
    // into the work dir that the job's next claimant will use.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(127);  // parent already gone before prctl
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    dup2(opts.capture_stdout ? out_pipe[1] : devnull, 1);
    dup2(err_pipe[1], 2);
    if (!opts.working_dir.empty() && chdir(opts.working_dir.c_str()) != 0) _exit(127);
    execvp(cargv[0], cargv.data());
    _exit(127);
  }
  setpgid(pid, pid);
  close(out_pipe[1]);
  close(err_pipe[1]);

  ProcessResult res;
  auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  bool out_open = true, err_open = true;
  char buf[65536];
  auto kill_child = [&] { kill(-pid, SIGKILL); kill(pid, SIGKILL); };
  while (out_open || err_open) {
    pollfd fds[2];
    int n = 0;
    if (out_open) fds[n++] = {out_pipe[0], POLLIN, 0};
    if (err_open) fds[n++] = {err_pipe[0], POLLIN, 0};
    int r = poll(fds, n, 100);
    if (r < 0 && errno != EINTR) break;
    for (int i = 0; i < n && r > 0; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = read(fds[i].fd, buf, sizeof buf);
      if (got <= 0) {
        if (fds[i].fd == out_pipe[0]) out_open = false; else err_open = false;
        continue;
      }
      if (fds[i].fd == out_pipe[0]) res.out.append(buf, size_t(got));
      else append_tail(res.err_tail, buf, size_t(got));
    }
    if (opts.on_tick) opts.on_tick();
    if (std::chrono::steady_clock::now() > deadline) {
      res.timed_out = true;
      kill_child();
      break;
    }
    if (opts.should_cancel && opts.should_cancel()) {
      res.cancelled = true;
      kill_child();
      break;
    }
  }
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (!res.timed_out && !res.cancelled && WIFEXITED(status)) res.exit_code = WEXITSTATUS(status);
  if (res.err_tail.size() > kErrTail) res.err_tail.erase(0, res.err_tail.size() - kErrTail);
  return res;
}

}  // namespace rend::core
