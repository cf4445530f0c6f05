#include "netns/command.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netns/error.h"
#include "netns/unique_fd.h"

namespace tcprepro {
namespace {

std::string Join(const std::vector<std::string>& argv) {
  std::string line;
  for (const auto& arg : argv) line += (line.empty() ? "" : " ") + arg;
  return line;
}

}  // namespace

CommandResult RunIn(const NetNamespace& ns, const std::vector<std::string>& argv) {
  RequireNotHost(ns, "run `" + Join(argv) + "`");
  std::vector<char*> cargv;
  for (const auto& arg : argv) cargv.push_back(const_cast<char*>(arg.c_str()));
  cargv.push_back(nullptr);

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) ThrowErrno("pipe2");
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);
  const pid_t parent = ::getpid();

  const pid_t pid = ::fork();
  if (pid < 0) ThrowErrno("fork for `" + Join(argv) + "`");
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    if (::setns(ns.fd(), CLONE_NEWNET) != 0) ::_exit(126);
    ::dup2(write_end.get(), STDOUT_FILENO);
    ::dup2(write_end.get(), STDERR_FILENO);
    ::execvp(cargv[0], cargv.data());
    ::_exit(127);
  }
  write_end.reset();

  CommandResult result;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(read_end.get(), buf, sizeof buf);
    if (n > 0) {
      result.output.append(buf, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) ThrowErrno("waitpid for `" + Join(argv) + "`");
  }
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (result.exit_status == 127 && result.output.empty()) result.output = argv[0] + ": not found";
  return result;
}

std::string CheckedRunIn(const NetNamespace& ns, const std::vector<std::string>& argv) {
  CommandResult result = RunIn(ns, argv);
  if (result.exit_status != 0) {
    throw LabError("`" + Join(argv) + "` in namespace " + ns.label() + " exited " +
                   std::to_string(result.exit_status) + ": " + result.output);
  }
  return result.output;
}

}  // namespace tcprepro
