// ringcast: the supervisor binary (placeholder until the cluster lands).
#include <cstdio>
#include <cstring>

#include "ringcast/version.hpp"

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "--version") == 0) {
        std::printf("ringcast %s\n", ringcast::kVersion);
        return 0;
    }
    std::printf("usage: ringcast [--config FILE] [-addr ADDR] [-batch N] [-ring N] [-workers N] [-numa N]\n");
    return 0;
}
