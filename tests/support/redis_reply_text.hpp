// A hiredis reply as text, so that replies read in different ways (whole, split, byte by
// byte) can be compared; shared by the bridge's unit tests and its fuzz target.
#pragma once

#include <hiredis/hiredis.h>

#include <string>

namespace ringcast::test {

inline std::string describe_reply(const redisReply* r) {
    switch (r->type) {
        case REDIS_REPLY_STRING:
            return "$" + std::string(r->str, r->len);
        case REDIS_REPLY_STATUS:
            return "+" + std::string(r->str, r->len);
        case REDIS_REPLY_ERROR:
            return "-" + std::string(r->str, r->len);
        case REDIS_REPLY_INTEGER:
            return ":" + std::to_string(r->integer);
        case REDIS_REPLY_NIL:
            return "nil";
        case REDIS_REPLY_ARRAY: {
            std::string out = "[";
            for (size_t i = 0; i < r->elements; ++i) {
                const std::string e = describe_reply(r->element[i]);
                out += std::to_string(e.size()) + ":" + e;
            }
            return out + "]";
        }
    }
    return "?";
}

}  // namespace ringcast::test
