// crtoken-emulator: the Container Registry API on loopback, for the demo, the tests and anyone
// developing against the API without an account. See --help and docs/emulator.md.
#include <signal.h>

#include <cstdio>
#include <string>
#include <vector>

#include "emulator/api.h"
#include "emulator/options.h"

int main(int argc, char** argv) {
  using crtoken::emulator::EmulatorOptions;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string error;
  bool help = false, version = false;
  std::optional<EmulatorOptions> options =
      crtoken::emulator::ParseEmulatorArgs(args, &error, &help, &version);
  if (help) {
    std::fputs(crtoken::emulator::EmulatorUsage().c_str(), stdout);
    return 0;
  }
  if (version) {
    std::printf("crtoken-emulator %s\n", CRTOKEN_VERSION);
    return 0;
  }
  if (!options) {
    std::fprintf(stderr, "crtoken-emulator: %s\n", error.c_str());
    return 1;
  }
  // Block the stop signals in every thread; the main thread waits for them below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);

  crtoken::emulator::EmulatorServer server(*options);
  if (!server.Start(&error)) {
    std::fprintf(stderr, "crtoken-emulator: %s\n", error.c_str());
    return 1;
  }
  std::printf("crtoken-emulator: serving http://%s:%u/containerregistries (admin: /_emulator/)\n",
              options->host.c_str(), static_cast<unsigned>(server.port()));
  for (const auto& name : options->registries) {
    std::printf("crtoken-emulator: registry %s (%s.cr.de-fra.ionos.com)\n", name.c_str(),
                name.c_str());
  }
  std::fflush(stdout);
  int sig = 0;
  sigwait(&stop, &sig);
  server.Stop();
  return 0;
}
