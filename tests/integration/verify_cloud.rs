//! `--verify` (#16) of AWS access keys and GCP service-account keys against fakes on 127.0.0.1
//! (STS and Google's token endpoint cannot run here) that follow the documented exchanges:
//! - STS `POST /` `Action=GetCallerIdentity&Version=2011-06-15`, signed with Signature Version 4:
//!   the fake checks the signature itself, from the documented algorithm (not with the signer
//!   leakhound uses), and answers the caller as XML, or 403 `InvalidClientTokenId` for a key id it
//!   does not know and 403 `SignatureDoesNotMatch` for a wrong secret key; a temporary key id
//!   (`ASIA`) passes only with its session token in a signed `X-Amz-Security-Token` header;
//! - Google `POST /token` with a JWT-bearer assertion: the fake checks the RS256 signature with
//!   the service account's public key (`openssl dgst -verify`) and the claims, and answers an
//!   access token, or 400 `invalid_grant`.

use leakhound::rules::hex;
use sha2::{Digest, Sha256};

use crate::common::TestEnv;
use crate::fake_api::{FakeApi, Reply, Request};

/// Key ids: one STS knows, one it does not (`AKIA` + 16 base32).
const KEY_IDS: [&str; 2] =
    [concat!("AKIA", "AUHQSAHRTEDVXWB6"), concat!("AKIA", "ALZXZC4AQW5BUQYW")];
/// The known key id's secret key, and three that belong to nothing.
const SECRETS: [&str; 4] = [
    concat!("4foLX083kqzwgKsxDRId", "CfiFORP2atlaAe7R+06X"),
    concat!("JUd8pLCtVTLrDCoVNB0F", "xvYF8F6TtVODayvvSbTX"),
    concat!("+wUXsif/PA6d2IbsMNrV", "OBILIf7uYj1b/dwgFkSl"),
    concat!("q7Rm2XvT9pLk4Wn8Hb3J", "cF6dGs1Ya5Ze0UoPiN/m"),
];

/// Temporary credentials as STS issues them (key id, secret key, session token), made from
/// `seed`: an `ASIA` key id (16 base32 characters), 40 characters of base64, and a session token
/// of the `IQoJb3JpZ2luX2Vj` kind (320 more characters of base64). STS knows seeds 0 to 2.
fn temporary(seed: u8) -> (String, String, String) {
    const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let bytes = |label: &str, n: usize| -> Vec<u8> {
        (0u8..8)
            .flat_map(|block| {
                Sha256::new().chain_update([seed, block]).chain_update(label).finalize()
            })
            .take(n)
            .collect()
    };
    let id: String =
        bytes("id", 16).iter().map(|b| char::from(BASE32[usize::from(b % 32)])).collect();
    let base64 = leakhound::engine::decode::base64_encode;
    let token = format!("IQoJb3JpZ2luX2Vj{}", base64(&bytes("token", 240)));
    (format!("ASIA{id}"), base64(&bytes("secret", 30)), token)
}

/// The seeds of [`temporary`] credentials STS knows.
const KNOWN_TEMPORARY: std::ops::Range<u8> = 0..3;

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new().chain_update(pad(0x5c)).chain_update(inner).finalize().to_vec()
}

/// STS, checking Signature Version 4 as the AWS General Reference describes it.
fn sts(request: &Request, _: usize) -> Reply {
    let refuse = |code: &str| {
        Reply::Answer(
            "403 Forbidden",
            "Content-Type: text/xml\r\n".into(),
            format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>refused</Message></Error><RequestId>4c2a</RequestId></ErrorResponse>"
            ),
        )
    };
    let auth = request.header("authorization");
    let field = |name: &str| {
        auth.split([' ', ',']).find_map(|part| part.strip_prefix(name)).unwrap_or_default()
    };
    let credential: Vec<&str> = field("Credential=").split('/').collect();
    let [id, date, "us-east-1", "sts", "aws4_request"] = credential[..] else {
        return refuse("IncompleteSignature");
    };
    let signed = field("SignedHeaders=");
    // STS knows a temporary key id only with its session token, which the signature covers.
    let temporary = KNOWN_TEMPORARY.map(temporary).find(|(temporary, ..)| temporary == id);
    let secret = match &temporary {
        Some((_, secret, token))
            if request.header("x-amz-security-token") == token
                && signed.split(';').any(|name| name == "x-amz-security-token") =>
        {
            secret.as_str()
        }
        None if id == KEY_IDS[0] => SECRETS[0],
        _ => return refuse("InvalidClientTokenId"),
    };

    let headers: String = signed
        .split(';')
        .map(|name| format!("{name}:{}\n", request.header(name)))
        .collect::<Vec<_>>()
        .concat();
    let (method, path) = request
        .line
        .split_once(' ')
        .map_or(("", ""), |(m, rest)| (m, rest.split(' ').next().unwrap_or("")));
    let canonical = format!(
        "{method}\n{path}\n\n{headers}\n{signed}\n{}",
        hex(&Sha256::digest(request.body.as_bytes()))
    );
    let scope = format!("{date}/us-east-1/sts/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        request.header("x-amz-date"),
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut key = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    for part in ["us-east-1", "sts", "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    if hex(&hmac(&key, to_sign.as_bytes())) != field("Signature=") {
        return refuse("SignatureDoesNotMatch");
    }
    if request.body != "Action=GetCallerIdentity&Version=2011-06-15" {
        return refuse("InvalidAction");
    }
    let (arn, user_id) = if temporary.is_some() {
        ("arn:aws:sts::123456789012:assumed-role/deploy/ci-session", "AROASAMPLEROLEID:ci-session")
    } else {
        ("arn:aws:iam::123456789012:user/ci-deploy", "AIDASAMPLEUSERID")
    };
    Reply::Answer(
        "200 OK",
        "Content-Type: text/xml\r\n".into(),
        format!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetCallerIdentityResult>\n    <Arn>{arn}</Arn>\n    <UserId>{user_id}</UserId>\n    <Account>123456789012</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata><RequestId>01234567-89ab-cdef-0123-456789abcdef</RequestId></ResponseMetadata>\n</GetCallerIdentityResponse>\n"
        ),
    )
}

/// `dir . --verify --format json` in `env` with the endpoint override `var` pointing at `fake`:
/// the output and its JSON.
fn verify_against(
    env: &TestEnv,
    var: &str,
    fake: &FakeApi,
) -> (std::process::Output, serde_json::Value) {
    let out = env
        .cmd()
        .args(["dir", ".", "--verify", "--format", "json"])
        .env(var, fake.url())
        .output()
        .expect("run");
    let doc = serde_json::from_slice(&out.stdout).expect("json");
    (out, doc)
}

fn verification<'a>(doc: &'a serde_json::Value, path: &str, rule: &str) -> &'a serde_json::Value {
    let findings = doc["findings"].as_array().expect("findings");
    let f = findings.iter().find(|f| f["path"] == path && f["rule_id"] == rule);
    &f.unwrap_or_else(|| panic!("{path} {rule}: {doc}"))["verification"]
}

#[test]
fn aws_keys_are_checked_in_pairs_with_sts_get_caller_identity() {
    let fake = FakeApi::start(sts);
    let env = TestEnv::new();
    let pair = |id: &str, key: &str| {
        format!("[default]\naws_access_key_id = {id}\naws_secret_access_key = {key}\n")
    };
    env.file("live/credentials", pair(KEY_IDS[0], SECRETS[0]));
    env.file("wrong-key/credentials", pair(KEY_IDS[0], SECRETS[1]));
    env.file("unknown-id/credentials", pair(KEY_IDS[1], SECRETS[2]));
    env.file("alone/credentials", format!("aws_secret_access_key = {}\n", SECRETS[3]));
    let (out, doc) = verify_against(&env, "LEAKHOUND_VERIFY_AWS_URL", &fake);
    let identity = "arn:aws:iam::123456789012:user/ci-deploy (account 123456789012)";
    for rule in ["aws.access-key-id", "aws.secret-access-key"] {
        let v = verification(&doc, "live/credentials", rule);
        assert_eq!(
            (v["status"].as_str(), v["identity"].as_str()),
            (Some("verified"), Some(identity)),
            "{v}"
        );
    }
    for (path, code) in [
        ("wrong-key/credentials", "SignatureDoesNotMatch"),
        ("unknown-id/credentials", "InvalidClientTokenId"),
    ] {
        let v = verification(&doc, path, "aws.secret-access-key");
        assert_eq!(v["status"], "invalid", "{v}");
        assert!(
            v["detail"].as_str().is_some_and(|d| d.ends_with(&format!("HTTP 403 {code}"))),
            "{v}"
        );
    }
    let alone = verification(&doc, "alone/credentials", "aws.secret-access-key");
    assert_eq!(alone["status"], "unverified", "{alone}");
    assert!(
        alone["detail"]
            .as_str()
            .is_some_and(|d| d.contains("no access key id found in the same file"))
    );
    // One signed call per distinct secret that has its other half beside it.
    let asked = fake.requests();
    assert_eq!(asked.len(), 5, "{asked:?}");
    assert!(asked.iter().all(|r| r.line.starts_with("POST / ")), "{asked:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(SECRETS.iter().all(|s| !text.contains(s)), "secret keys stay redacted");
}

/// A temporary key is checked with the session token written beside it, under each name it goes
/// by (a credentials file, the environment, a request's header), sent signed as
/// `X-Amz-Security-Token`; without a token it is not sent at all.
#[test]
fn temporary_aws_keys_are_checked_with_their_session_token() {
    let fake = FakeApi::start(sts);
    let env = TestEnv::new();
    let [(id0, key0, token0), (id1, key1, token1), (id2, key2, token2), (id3, key3, _)] =
        [0, 1, 2, 3].map(temporary);
    env.file(
        "profile/credentials",
        format!(
            "[deploy]\naws_access_key_id = {id0}\naws_secret_access_key = {key0}\naws_session_token = {token0}\n"
        ),
    );
    env.file(
        "env/.env",
        format!(
            "AWS_ACCESS_KEY_ID={id1}\nAWS_SECRET_ACCESS_KEY={key1}\nAWS_SESSION_TOKEN={token1}\n"
        ),
    );
    env.file(
        "rest/sts.http",
        format!(
            "@aws_access_key_id = {id2}\n@aws_secret_access_key = {key2}\n\nPOST https://sts.amazonaws.com/\nX-Amz-Security-Token: {token2}\nContent-Type: application/x-www-form-urlencoded\n\nAction=GetCallerIdentity&Version=2011-06-15\n"
        ),
    );
    env.file("no-token/.env", format!("AWS_ACCESS_KEY_ID={id3}\nAWS_SECRET_ACCESS_KEY={key3}\n"));
    let (out, doc) = verify_against(&env, "LEAKHOUND_VERIFY_AWS_URL", &fake);
    let identity =
        "arn:aws:sts::123456789012:assumed-role/deploy/ci-session (account 123456789012)";
    for path in ["profile/credentials", "env/.env", "rest/sts.http"] {
        for rule in ["aws.access-key-id", "aws.secret-access-key"] {
            let v = verification(&doc, path, rule);
            assert_eq!(
                (v["status"].as_str(), v["identity"].as_str()),
                (Some("verified"), Some(identity)),
                "{path} {rule}: {v}"
            );
        }
    }
    let alone = verification(&doc, "no-token/.env", "aws.secret-access-key");
    assert_eq!(alone["status"], "unverified", "{alone}");
    assert!(alone["detail"].as_str().is_some_and(|d| d.contains("session token")), "{alone}");
    let asked = fake.requests();
    for (id, _, token) in KNOWN_TEMPORARY.map(temporary) {
        let with_id: Vec<_> =
            asked.iter().filter(|r| r.header("authorization").contains(&id)).collect();
        assert!(!with_id.is_empty(), "{id} was checked: {asked:?}");
        assert!(with_id.iter().all(|r| r.header("x-amz-security-token") == token), "{with_id:?}");
    }
    assert!(
        !asked.iter().any(|r| r.header("authorization").contains(&id3)),
        "a temporary key without its token is not sent: {asked:?}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let secrets = [&key0, &token0, &key1, &token1, &key2, &token2, &key3];
    assert!(secrets.iter().all(|secret| !text.contains(secret.as_str())), "redacted");
}

/// A service-account key file as Google writes it, for a new RSA key made by `openssl` in `dir`
/// (`NAME.pem`, PKCS #8), with `email` as its account; also writes `NAME.pub`.
fn service_account_key(dir: &std::path::Path, name: &str, email: Option<&str>) -> String {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl").current_dir(dir).args(args).output();
        assert!(out.expect("openssl runs").status.success(), "openssl {args:?}");
    };
    let (key, public) = (format!("{name}.pem"), format!("{name}.pub"));
    openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", &key]);
    openssl(&["pkey", "-in", &key, "-pubout", "-out", &public]);
    let pem = std::fs::read_to_string(dir.join(&key)).expect("key");
    // In Google's order (a JSON map would sort the fields): the key, then its account.
    let quoted = |v: &str| serde_json::to_string(v).expect("json");
    let email = email.map(|e| format!("  \"client_email\": {},\n", quoted(e))).unwrap_or_default();
    format!(
        "{{\n  \"type\": \"service_account\",\n  \"project_id\": \"acme-prod\",\n  \"private_key_id\": \"5f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b\",\n  \"private_key\": {},\n{email}  \"client_id\": \"104593256918273645012\",\n  \"token_uri\": \"https://oauth2.googleapis.com/token\"\n}}\n",
        quoted(&pem)
    )
}

/// Google's token endpoint for the JWT-bearer grant, trusting only `trusted.pub` in `dir`.
fn google_token(dir: std::path::PathBuf) -> impl Fn(&Request, usize) -> Reply {
    move |request, count| {
        let refuse = |why: &str| {
            Reply::json(
                "400 Bad Request",
                &format!(r#"{{"error":"invalid_grant","error_description":"{why}"}}"#),
            )
        };
        let form: std::collections::HashMap<&str, &str> =
            request.body.split('&').filter_map(|kv| kv.split_once('=')).collect();
        if !request.line.starts_with("POST /token ")
            || form.get("grant_type")
                != Some(&"urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
        {
            return Reply::json("400 Bad Request", r#"{"error":"unsupported_grant_type"}"#);
        }
        let assertion = form.get("assertion").copied().unwrap_or_default();
        let Some((input, signature)) = assertion.rsplit_once('.') else {
            return refuse("Invalid JWT");
        };
        let decode =
            |part: &str| leakhound::engine::decode::base64(part.as_bytes()).unwrap_or_default();
        let claims: serde_json::Value =
            serde_json::from_slice(&decode(input.split('.').nth(1).unwrap_or_default()))
                .unwrap_or_default();
        if claims["aud"] != "https://oauth2.googleapis.com/token"
            || claims["iss"] != "ci@acme-prod.iam.gserviceaccount.com"
            || !claims["scope"].as_str().is_some_and(|s| s.ends_with("read-only"))
        {
            return refuse("Invalid JWT claims");
        }
        let (input_file, sig_file) =
            (dir.join(format!("in{count}")), dir.join(format!("sig{count}")));
        std::fs::write(&input_file, input).expect("write");
        std::fs::write(&sig_file, decode(signature)).expect("write");
        let verified = std::process::Command::new("openssl")
            .arg("dgst")
            .args(["-sha256", "-verify"])
            .arg(dir.join("trusted.pub"))
            .arg("-signature")
            .args([&sig_file, &input_file])
            .output()
            .expect("openssl runs")
            .status
            .success();
        if !verified {
            return refuse("Invalid JWT Signature.");
        }
        Reply::json(
            "200 OK",
            r#"{"access_token":"ya29.c.fake-access-token","expires_in":3599,"token_type":"Bearer"}"#,
        )
    }
}

#[test]
fn gcp_service_account_keys_are_checked_by_a_signed_token_exchange() {
    let keys = tempfile::tempdir().expect("tempdir");
    let email = "ci@acme-prod.iam.gserviceaccount.com";
    let env = TestEnv::new();
    env.file("live.json", service_account_key(keys.path(), "trusted", Some(email)));
    env.file("deleted.json", service_account_key(keys.path(), "deleted", Some(email)));
    env.file("no-email.json", service_account_key(keys.path(), "other", None));
    let fake = FakeApi::start(google_token(keys.path().to_owned()));
    let (out, doc) = verify_against(&env, "LEAKHOUND_VERIFY_GCP_URL", &fake);
    let rule = "google.service-account-key";
    let identity = "service account ci@acme-prod.iam.gserviceaccount.com (project acme-prod, key 5f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b)";
    let live = verification(&doc, "live.json", rule);
    assert_eq!(
        (live["status"].as_str(), live["identity"].as_str()),
        (Some("verified"), Some(identity)),
        "{live}"
    );
    let deleted = verification(&doc, "deleted.json", rule);
    assert_eq!(deleted["status"], "invalid", "{deleted}");
    assert!(
        deleted["detail"].as_str().is_some_and(|d| d.ends_with("/token: invalid_grant")),
        "{deleted}"
    );
    let lone = verification(&doc, "no-email.json", rule);
    assert_eq!(lone["status"], "unverified", "{lone}");
    assert!(lone["detail"].as_str().is_some_and(|d| d.contains("client_email")), "{lone}");
    assert_eq!(fake.requests().len(), 2, "{:?}", fake.requests());
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("PRIVATE KEY-----\\n"),
        "keys stay redacted"
    );
}
