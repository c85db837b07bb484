#include "supervisor/admission_settings.hpp"

namespace ringcast::supervisor {

worker::AdmissionSettings admission_settings(const Config& c) {
    worker::AdmissionSettings a;
    a.allowed_origins = c.allowed_origins;
    a.allow_missing_origin = c.allow_missing_origin;
    a.auth_required = c.auth.required;
    a.hmac_secret_file = c.auth.jwt.hmac_secret_file;
    a.public_key_file = c.auth.jwt.public_key_file;
    a.audience = c.auth.jwt.audience;
    a.issuer = c.auth.jwt.issuer;
    a.leeway_s = c.auth.jwt.leeway_s;
    a.default_publish = c.auth.default_role == "publisher";
    a.listener_send_close = c.auth.listener_send == "close";
    a.close_on_expiry = c.auth.close_on_expiry;
    a.max_connections = c.max_connections;
    a.max_connections_per_ip = c.max_connections_per_ip;
    a.handshake_timeout_ms = c.handshake_timeout_ms;
    const admission::InboundLimits limits = effective_rate_limits(c.rate_limit);
    a.messages_per_s = limits.messages.per_s;
    a.burst_messages = limits.messages.burst;
    a.bytes_per_s = limits.bytes.per_s;
    a.burst_bytes = limits.bytes.burst;
    a.rate_limit_close = c.rate_limit.policy == "close";
    return a;
}

void copy_admission(const Config& from, Config& to) {
    to.allowed_origins = from.allowed_origins;
    to.allow_missing_origin = from.allow_missing_origin;
    to.max_connections = from.max_connections;
    to.max_connections_per_ip = from.max_connections_per_ip;
    to.handshake_timeout_ms = from.handshake_timeout_ms;
    to.auth = from.auth;
    to.rate_limit = from.rate_limit;
}

}  // namespace ringcast::supervisor
