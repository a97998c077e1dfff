#include "core/process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
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

// In the child before exec: closes every descriptor >= 3 that the parent had open
// without O_CLOEXEC (listening sockets, database connections, cache files).
void close_fds_from_3() {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
#endif
  // Older kernels (< 5.9): every possible descriptor up to the limit. No
  // /proc/self/fd walk here: opendir allocates, which is not safe after fork in a
  // threaded process.
  rlimit lim{};
  rlim_t max = (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) ? lim.rlim_cur : 65536;
  if (max > (rlim_t(1) << 20)) max = rlim_t(1) << 20;
  for (rlim_t fd = 3; fd < max; ++fd) close(int(fd));
}

}  // namespace

ProcessResult PosixProcessRunner::run(const std::vector<std::string>& argv, const ProcessOptions& opts) {
  if (argv.empty()) throw std::invalid_argument("empty argv");
  std::vector<char*> cargv;
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  int out_pipe[2] = {-1, -1}, err_pipe[2] = {-1, -1};
  auto close_all = [&] {
    for (int* fd : {&out_pipe[0], &out_pipe[1], &err_pipe[0], &err_pipe[1]})
      if (*fd >= 0) {
        close(*fd);
        *fd = -1;
      }
  };
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    close_all();
    throw std::runtime_error(std::string("pipe: ") + std::strerror(e));
  }

  pid_t pid = fork_ ? fork_() : fork();
  if (pid < 0) {
    int e = errno;
    close_all();
    throw std::runtime_error(std::string("fork: ") + std::strerror(e));
  }
  if (pid == 0) {
    // Child: own process group so a timeout kills ffmpeg and anything it spawned,
    // and it dies with us: a SIGKILLed worker must not leave an ffmpeg writing
    // into the work dir that the job's next claimant will use.
    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) _exit(127);  // parent already gone before prctl
    int devnull = open("/dev/null", O_RDWR);
    if (devnull < 0) _exit(127);
    if (dup2(devnull, 0) < 0 || dup2(opts.capture_stdout ? out_pipe[1] : devnull, 1) < 0 || dup2(err_pipe[1], 2) < 0)
      _exit(127);
    // Only async-signal-safe calls between fork and exec (the parent has threads).
    close_fds_from_3();
    if (!opts.working_dir.empty() && chdir(opts.working_dir.c_str()) != 0) _exit(127);
    execvp(cargv[0], cargv.data());
    _exit(127);
  }
  setpgid(pid, pid);
  close(out_pipe[1]);
  out_pipe[1] = -1;
  close(err_pipe[1]);
  err_pipe[1] = -1;

  ProcessResult res;
  auto deadline = std::chrono::steady_clock::now() + opts.timeout;
  bool out_open = true, err_open = true;
  char buf[65536];
  auto kill_child = [&] {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
  };
  auto reap = [&] {
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
  };
  try {
    while (out_open || err_open) {
      pollfd fds[2];
      int n = 0;
      if (out_open) fds[n++] = {out_pipe[0], POLLIN, 0};
      if (err_open) fds[n++] = {err_pipe[0], POLLIN, 0};
      int r = poll(fds, n, 100);
      if (r < 0 && errno != EINTR) {
        kill_child();  // waiting for an exit we can no longer observe could block forever
        break;
      }
      for (int i = 0; i < n && r > 0; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t got = read(fds[i].fd, buf, sizeof buf);
        if (got <= 0) {
          if (fds[i].fd == out_pipe[0]) out_open = false;
          else err_open = false;
          continue;
        }
        if (fds[i].fd == out_pipe[0]) {
          if (opts.max_stdout_bytes && res.out.size() + size_t(got) > opts.max_stdout_bytes) {
            res.out.append(buf, opts.max_stdout_bytes - res.out.size());
            res.stdout_overflow = true;
          } else {
            res.out.append(buf, size_t(got));
          }
        } else {
          append_tail(res.err_tail, buf, size_t(got));
        }
      }
      if (res.stdout_overflow) {
        kill_child();
        break;
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
  } catch (...) {
    // A hook threw: the child must not outlive the call, nor its pipes leak.
    kill_child();
    close_all();
    reap();
    throw;
  }
  close_all();
  int status = reap();
  if (!res.timed_out && !res.cancelled && !res.stdout_overflow && WIFEXITED(status))
    res.exit_code = WEXITSTATUS(status);
  if (res.err_tail.size() > kErrTail) res.err_tail.erase(0, res.err_tail.size() - kErrTail);
  return res;
}

}  // namespace rend::core
