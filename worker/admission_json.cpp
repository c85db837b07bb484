#include "worker/admission_json.hpp"

namespace ringcast::worker {

namespace {

// One list of fields for both directions, so they cannot drift apart.
template <class J, class A, class F>
void each_field(J& j, A& a, F&& f) {
    f(j, "allowed_origins", a.allowed_origins);
    f(j, "allow_missing_origin", a.allow_missing_origin);
    f(j, "auth_required", a.auth_required);
    f(j, "hmac_secret_file", a.hmac_secret_file);
    f(j, "public_key_file", a.public_key_file);
    f(j, "audience", a.audience);
    f(j, "issuer", a.issuer);
    f(j, "leeway_s", a.leeway_s);
    f(j, "default_publish", a.default_publish);
    f(j, "listener_send_close", a.listener_send_close);
    f(j, "close_on_expiry", a.close_on_expiry);
    f(j, "max_connections", a.max_connections);
    f(j, "max_connections_per_ip", a.max_connections_per_ip);
    f(j, "handshake_timeout_ms", a.handshake_timeout_ms);
    f(j, "messages_per_s", a.messages_per_s);
    f(j, "bytes_per_s", a.bytes_per_s);
    f(j, "burst_messages", a.burst_messages);
    f(j, "burst_bytes", a.burst_bytes);
    f(j, "rate_limit_close", a.rate_limit_close);
}

}  // namespace

nlohmann::json admission_to_json(const AdmissionSettings& a) {
    nlohmann::json j = nlohmann::json::object();
    each_field(j, a, [](nlohmann::json& out, const char* name, const auto& v) { out[name] = v; });
    return j;
}

std::variant<AdmissionSettings, std::string> admission_from_json(const nlohmann::json& j) {
    if (!j.is_object()) return std::string("admission: not an object");
    AdmissionSettings a;
    std::string error;
    each_field(j, a, [&](const nlohmann::json& in, const char* name, auto& v) {
        if (!error.empty()) return;
        auto it = in.find(name);
        if (it == in.end()) {
            error = std::string("admission.") + name + ": missing";
            return;
        }
        try {
            it->get_to(v);
        } catch (const nlohmann::json::exception&) {
            error = std::string("admission.") + name + ": wrong type";
        }
    });
    if (!error.empty()) return error;
    return a;
}

}  // namespace ringcast::worker
