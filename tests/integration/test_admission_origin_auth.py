#!/usr/bin/python3
"""Admission at the upgrade (docs/admission.md): the Origin allowlist, JWT tokens from every
source and with every algorithm, roles, token expiry, and their /metrics and probes.

Server A: allowed_origins [https://app.example.com, https://*.example.com], no missing Origin,
auth required, HS256/384/512 with a 64-byte secret file (with a final newline, stripped by
the server), audience and issuer set, default_role listener, listener_send close.
  * Origin: missing, another host, two labels under the wildcard, the bare domain, http
    instead of https, `null`, a look-alike suffix -> 403, no upgrade; the exact origin, a
    wildcard match, a differently cased host with :443 -> 101.
  * Tokens: none, not a JWT, a wrong signature, tampered claims, expired, nbf in the future,
    wrong aud, wrong iss, alg none / None, a bad token in the query and in the subprotocol,
    a subprotocol entry that is not base64url -> 401, no upgrade. Valid tokens through
    `Authorization: Bearer` (HS256, HS384, HS512; scheme `bearer` in lower case too),
    `?token=` and the `ringcast, base64url.bearer.ringcast.<b64url>` subprotocol (answered
    `ringcast`) -> 101.
  * Roles: two publishers (claim publish true; header and subprotocol), a listener by the
    default role (no claim) and one by publish false (query). A publisher's message reaches
    everyone, listeners included; a listener's message closes it with 1008 and reaches no one.
    `probes --connections` shows role and subject.
  * Expiry: a token with exp 2-3 s ahead -> closed 1008 "token expired" within 2.5 s of exp.
  * /metrics: upgrades_rejected{origin} and {auth} exactly the refusals made; auth_failures
    per error; listener_messages_refused 1; token_expired 1; connections_by_role.
Server B: RS256 public key, auth not required, default_role publisher, listener_send drop,
close_on_expiry false.
  * No token -> a publisher. A bad token is still a 401: another RSA key, an HS256 token
    MACed with the public key's PEM (algorithm confusion), an ES256 header, expired.
  * A listener's message is dropped, the listener stays and still receives; an expired token
    does not close its connection.
Server C: ES256 (P-256) public key, auth required, default_role publisher.
  * A valid ES256 token -> 101 and publishes; another P-256 key, a DER signature, an RS256
    header, HS256 with the PEM -> 401.
"""
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402
import admission_support as a  # noqa: E402
import jwt_tokens as jt  # noqa: E402

AUD = "ringcast-it"
ISS = "https://issuer.test"
GOOD_ORIGIN = "https://app.example.com"


def bearer(tok):
    return ("Authorization", f"Bearer {tok}")


def subproto_header(tok):
    return ("Sec-WebSocket-Protocol", ", ".join(jt.subprotocols_for(tok)))


async def quiet_for(collectors, prefix, seconds):
    """No collector receives a message with `prefix` within `seconds`."""
    await asyncio.sleep(seconds)
    got = [(c.name, c.with_prefix(prefix)) for c in collectors if c.with_prefix(prefix)]
    h.check(not got, f"message {prefix!r} must reach no one, but: {got}")


async def server_a(keys):
    secret_path = keys.hmac_secret("a", nbytes=64, newline=True)
    keys.hmac_secret("a-other", nbytes=64)
    mport = h.free_port()
    srv = h.Server("adm-auth-a", overrides={
        "metrics_listen": f"127.0.0.1:{mport}",
        "allowed_origins": ["https://app.example.com", "https://*.example.com"],
        "allow_missing_origin": False,
        "auth": {"required": True, "default_role": "listener", "listener_send": "close", "close_on_expiry": True,
                 "jwt": {"hmac_secret_file": secret_path, "audience": AUD, "issuer": ISS, "leeway_s": 0}},
    }).start()
    port = srv.port
    sec = keys.secret("a")

    def tok(alg="HS256", secret=sec, **kw):
        c = jt.claims(aud=AUD, iss=ISS, **kw)
        return jt.sign_hs(secret, c, alg=alg)

    good = tok(sub="pub", publish=True)
    origin = ("Origin", GOOD_ORIGIN)

    # ---- Origin ---------------------------------------------------------------------------
    bad_origins = [None, "https://evil.test", "https://a.b.example.com", "https://example.com",
                   "http://app.example.com", "null", "https://app.example.com.evil.test"]
    for o in bad_origins:
        hdrs = [bearer(good)] + ([("Origin", o)] if o is not None else [])
        a.expect_refused(port, 403, f"Origin {o!r}", headers=hdrs)
    for o in [GOOD_ORIGIN, "https://chat.example.com", "https://APP.Example.com:443"]:
        a.expect_upgraded(port, f"Origin {o!r}", headers=[bearer(good), ("Origin", o)]).close()
    h.log(f"origin: {len(bad_origins)} refused with 403, 3 admitted")

    # ---- bad tokens -------------------------------------------------------------------------
    tampered = good.split(".")
    tampered[1] = jt.b64url(json.dumps(jt.claims(aud=AUD, iss=ISS, sub="pub", publish=True, ttl_s=99999)))
    tampered = ".".join(tampered)
    now = int(time.time())
    refusals = [  # (what, headers, path, expected auth_failures error label or None)
        ("no token", [], "/", "missing"),
        ("not a JWT", [bearer("garbage")], "/", "malformed"),
        ("signed with another secret", [bearer(tok(secret=keys.secret("a-other")))], "/", "bad_signature"),
        ("tampered claims", [bearer(tampered)], "/", "bad_signature"),
        ("expired", [bearer(tok(ttl_s=-10))], "/", "expired"),
        ("nbf in the future", [bearer(tok(nbf=now + 120))], "/", "not_yet_valid"),
        ("wrong aud", [bearer(jt.sign_hs(sec, jt.claims(aud="someone-else", iss=ISS)))], "/", "wrong_audience"),
        ("wrong iss", [bearer(jt.sign_hs(sec, jt.claims(aud=AUD, iss="https://other.test")))], "/", "wrong_issuer"),
        ("alg none", [bearer(jt.unsigned(jt.claims(aud=AUD, iss=ISS), "none"))], "/", "bad_algorithm"),
        ("alg None", [bearer(jt.unsigned(jt.claims(aud=AUD, iss=ISS), "None"))], "/", "bad_algorithm"),
        ("bad token in the query", [], "/?token=" + tok(secret=keys.secret("a-other")), "bad_signature"),
        ("bad token in the subprotocol", [subproto_header(tok(ttl_s=-10))], "/", "expired"),
        ("subprotocol entry not base64url", [("Sec-WebSocket-Protocol", "ringcast, base64url.bearer.ringcast.%%%")],
         "/", None),
    ]
    for what, hdrs, path, _ in refusals:
        a.expect_refused(port, 401, f"token: {what}", path=path, headers=[origin] + hdrs)

    # ---- good tokens from every source, every HMAC algorithm ---------------------------------
    for alg in ("HS256", "HS384", "HS512"):
        a.expect_upgraded(port, f"{alg} in Authorization", headers=[origin, bearer(tok(alg=alg))]).close()
    a.expect_upgraded(port, "scheme `bearer` in lower case",
                      headers=[origin, ("Authorization", f"bearer {good}")]).close()
    a.expect_upgraded(port, "token in the query", path="/?token=" + good, headers=[origin]).close()
    a.expect_upgraded(port, "token in the subprotocol", headers=[origin, subproto_header(good)],
                      subprotocol="ringcast").close()
    h.log("tokens: every refusal answered 401; Authorization (HS256/384/512), query and subprotocol admitted")

    # ---- roles (websockets clients) ---------------------------------------------------------
    p1 = await a.connect(srv.uri(), tok(sub="pub-1", publish=True), "header", origin=GOOD_ORIGIN)
    p2 = await a.connect(srv.uri(), tok(sub="pub-2", publish=True), "subprotocol", origin=GOOD_ORIGIN)
    h.check(p2.subprotocol == "ringcast", f"subprotocol answered {p2.subprotocol!r}, want 'ringcast'")
    l1 = await a.connect(srv.uri(), tok(sub="lis-1"), "header", origin=GOOD_ORIGIN)  # default role: listener
    l2 = await a.connect(srv.uri(), tok(sub="lis-2", publish=False), "query", origin="https://x.example.com")
    cols = [a.Collector(n, w) for n, w in (("p1", p1), ("p2", p2), ("l1", l1), ("l2", l2))]
    await asyncio.sleep(0.2)

    rows = {n: await a.connection_of(srv, h.ws_local_port(w)) for n, w in (("p1", p1), ("l1", l1), ("l2", l2))}
    for n, role, sub in (("p1", "publisher", "pub-1"), ("l1", "listener", "lis-1"), ("l2", "listener", "lis-2")):
        h.check(rows[n].get("role") == role and rows[n].get("subject") == sub,
                f"probes --connections for {n}: want role {role!r} subject {sub!r}, got {rows[n]}")
    h.log("probes --connections: role and subject of each connection as its token says")

    await p1.send("hello from p1")
    for c in cols[1:]:
        await c.wait_count("hello from p1", 1)
    h.check(not cols[0].with_prefix("hello"), "p1 got its own message back")
    await p2.send("hello from p2")
    for c in (cols[0], cols[2], cols[3]):
        await c.wait_count("hello from p2", 1)
    h.log("publishers' messages reached both publishers and both listeners")

    await l1.send("from listener l1")
    code, reason = await cols[2].wait_closed(3.0)
    h.check(code == 1008, f"listener l1 sent a message: closed with {code} {reason!r}, want 1008")
    await quiet_for(cols, "from listener", 0.5)
    h.check(all(c.closed is None for c in (cols[0], cols[1], cols[3])),
            f"only l1 may be closed: {[(c.name, c.closed) for c in cols]}")
    h.log(f"listener l1's message: closed {code} {reason!r}, delivered to no one")

    m = await a.scrape_until(mport, lambda m: m.total("ringcast_connections_by_role", role="publisher") == 2
                             and m.total("ringcast_connections_by_role", role="listener") == 1,
                             lambda m: f"connections_by_role publisher 2 listener 1 (have "
                                       f"{m.total('ringcast_connections_by_role', role='publisher')}/"
                                       f"{m.total('ringcast_connections_by_role', role='listener')})")

    # ---- token expiry -------------------------------------------------------------------------
    exp = int(time.time()) + 3
    e = await a.connect(srv.uri(), jt.sign_hs(sec, {"sub": "short", "aud": AUD, "iss": ISS, "exp": exp,
                                                    "ringcast": {"publish": True}}), "header", origin=GOOD_ORIGIN)
    ec = a.Collector("expiring", e)
    await e.send("before expiry")
    await cols[3].wait_count("before expiry", 1)
    await h.wait_for(lambda: ec.closed is not None, max(1.0, exp - time.time() + 2.5),
                     "the expiring token's connection to be closed")
    closed_wall = ec.closed_wall or 0.0
    h.check(ec.closed == (1008, "token expired"), f"expired token: closed with {ec.closed}, want (1008, 'token expired')")
    h.check(closed_wall >= exp - 0.05, f"closed {exp - closed_wall:.2f}s before its exp")
    h.log(f"token expiry: closed (1008, 'token expired') {closed_wall - exp:.2f}s after exp")

    # ---- metrics ------------------------------------------------------------------------------
    n_auth = len(refusals)
    m = await a.scrape_until(
        mport, lambda m: m.total("ringcast_token_expired_total") >= 1
        and m.total("ringcast_upgrades_rejected_total", reason="auth") >= n_auth,
        "token_expired and the auth refusals to be counted")
    m.require("ringcast_upgrades_rejected_total", "ringcast_auth_failures_total", "ringcast_rate_limited_total",
              "ringcast_listener_messages_refused_total", "ringcast_token_expired_total",
              "ringcast_connections_by_role")
    got = {r: m.total("ringcast_upgrades_rejected_total", reason=r)
           for r in ("origin", "auth", "max_connections", "max_connections_per_ip", "handshake_timeout", "bad_request")}
    h.check(got == {"origin": len(bad_origins), "auth": n_auth, "max_connections": 0, "max_connections_per_ip": 0,
                    "handshake_timeout": 0, "bad_request": 0},
            f"upgrades_rejected_total by reason {got}, want origin {len(bad_origins)} auth {n_auth}, others 0")
    want_err = {}
    for _, _, _, err in refusals:
        if err:
            want_err[err] = want_err.get(err, 0) + 1
    errs = {k: m.total("ringcast_auth_failures_total", error=k) for k in want_err}
    short = {k: (errs[k], n) for k, n in want_err.items() if errs[k] < n}
    h.check(not short, f"auth_failures_total by error (have, want at least): {short}; all {errs}")
    h.check(m.total("ringcast_auth_failures_total") <= n_auth, f"more auth failures than refusals: {m.total('ringcast_auth_failures_total')}")
    h.check(m.total("ringcast_listener_messages_refused_total") == 1,
            f"listener_messages_refused_total {m.total('ringcast_listener_messages_refused_total')}, want 1")
    h.check(m.total("ringcast_token_expired_total") == 1,
            f"token_expired_total {m.total('ringcast_token_expired_total')}, want 1")
    h.check(m.total("ringcast_rate_limited_total") == 0, "rate_limited_total moved without a rate limit")
    h.log(f"metrics: rejected {got}; auth failures {errs}")

    await h.close_all([p1, p2, l1, l2, e])
    srv.stop(check=True)


async def server_b(keys):
    pub = keys.rsa("b")
    keys.rsa("b-other")
    keys.ec("b-ec")
    srv = h.Server("adm-auth-b", overrides={
        "auth": {"required": False, "default_role": "publisher", "listener_send": "drop", "close_on_expiry": False,
                 "jwt": {"public_key_file": pub}},
    }).start()
    port = srv.port
    priv = keys.private("b")

    bad = [
        ("RS256 from another key", jt.sign_rs256(keys.private("b-other"), jt.claims())),
        ("HS256 MACed with the public key PEM", jt.sign_hs(keys.public_pem("b"), jt.claims())),
        ("ES256 header against an RSA key", jt.sign_es256(keys.private("b-ec"), jt.claims())),
        ("expired RS256", jt.sign_rs256(priv, jt.claims(ttl_s=-5))),
        ("alg none", jt.unsigned(jt.claims())),
    ]
    for what, t in bad:
        a.expect_refused(port, 401, f"auth not required, but a bad token ({what})", headers=[bearer(t)])

    anon = await a.connect(srv.uri())                      # no token: default role publisher
    rp = await a.connect(srv.uri(), jt.sign_rs256(priv, jt.claims(sub="rs-pub", publish=True)), "header")
    rl = await a.connect(srv.uri(), jt.sign_rs256(priv, jt.claims(sub="rs-lis", publish=False)), "subprotocol")
    h.check(rl.subprotocol == "ringcast", f"subprotocol answer {rl.subprotocol!r}")
    exp = int(time.time()) + 2
    rx = await a.connect(srv.uri(), jt.sign_rs256(priv, {"sub": "rs-exp", "exp": exp}), "query")
    cols = [a.Collector(n, w) for n, w in (("anon", anon), ("rp", rp), ("rl", rl), ("rx", rx))]
    await asyncio.sleep(0.2)

    await anon.send("anon says")
    for c in cols[1:]:
        await c.wait_count("anon says", 1)
    await rp.send("rp says")
    for c in (cols[0], cols[2], cols[3]):
        await c.wait_count("rp says", 1)
    h.log("RS256: no-token client and RS256 publisher reach everyone")

    await rl.send("listener drop 1")
    await rl.send("listener drop 2")
    await quiet_for(cols, "listener drop", 0.6)
    h.check(cols[2].closed is None, f"listener_send drop: the listener was closed {cols[2].closed}")
    await rp.send("rp again")
    await cols[2].wait_count("rp again", 1)
    h.log("listener_send drop: listener's messages dropped, it stays and still receives")

    await asyncio.sleep(max(0.0, exp - time.time()) + 2.0)
    h.check(cols[3].closed is None, f"close_on_expiry false: the expired token's connection was closed {cols[3].closed}")
    await anon.send("after exp")
    await cols[3].wait_count("after exp", 1)
    h.log("close_on_expiry false: connection kept 2 s past its token's exp")
    await h.close_all([anon, rp, rl, rx])
    srv.stop(check=True)


async def server_c(keys):
    pub = keys.ec("c")
    keys.ec("c-other")
    keys.rsa("c-rsa")
    srv = h.Server("adm-auth-c", overrides={
        "auth": {"required": True, "default_role": "publisher", "jwt": {"public_key_file": pub}},
    }).start()
    port = srv.port
    for what, t in [
        ("ES256 from another P-256 key", jt.sign_es256(keys.private("c-other"), jt.claims())),
        ("ES256 with a DER signature", jt.sign_es256(keys.private("c"), jt.claims(), der=True)),
        ("RS256 header against an EC key", jt.sign_rs256(keys.private("c-rsa"), jt.claims())),
        ("HS256 MACed with the public key PEM", jt.sign_hs(keys.public_pem("c"), jt.claims())),
        ("no token", None),
    ]:
        a.expect_refused(port, 401, f"ES256 server: {what}", headers=[bearer(t)] if t else [])
    e1 = await a.connect(srv.uri(), jt.sign_es256(keys.private("c"), jt.claims(sub="es-1")), "header")
    e2 = await a.connect(srv.uri(), jt.sign_es256(keys.private("c"), jt.claims(sub="es-2")), "subprotocol")
    c2 = a.Collector("e2", e2)
    await asyncio.sleep(0.2)
    await e1.send("es256 says")
    await c2.wait_count("es256 says", 1)
    h.log("ES256: valid tokens admitted (header, subprotocol), default role publisher delivers")
    await h.close_all([e1, e2])
    srv.stop(check=True)


async def main():
    h.import_websockets()
    tmp = a.tmpdir("adm-keys")
    try:
        keys = jt.Keys(tmp)
        await server_a(keys)
        await server_c(keys)
        await server_b(keys)
    finally:
        import shutil
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    h.run_test(main, timeout=90)
