// ringcastctl: the operator's command line for the control socket.
#include <cstdio>
#include <cstring>

#include "ringcast/version.hpp"

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
        std::printf("ringcastctl %s\n", ringcast::kVersion);
        return 0;
    }
    std::printf("usage: ringcastctl --socket PATH CMD [ARGS] [--json]\n");
    return 2;
}
