//! Container registry credentials (#16): a docker config `auths` entry (`docker.config-auth`,
//! base64 `user:password`, which the engine reveals to the password and the `user` capture;
//! `docker.config-password`, `username` and `password`;
//! `docker.registry-password`, a plain `user:password`) or a Harbor robot
//! account (`harbor.robot-account`), checked as `docker login` checks them, against the registry
//! written next to the credential (the entry's `auths` key, the `HOST` of `docker login HOST`),
//! from the distribution registry's API and token specifications
//! (<https://distribution.github.io/distribution/spec/api/#api-version-check>,
//! <https://distribution.github.io/distribution/spec/auth/token/>):
//! - `GET /v2/` without credentials; 200 means the registry asks for none, so the answer says
//!   nothing of the credential (unverified);
//! - a 401 with a `Basic` challenge: the same `GET` with the credentials: 200 verified, 401
//!   invalid;
//! - a 401 with a `Bearer` challenge: `GET realm?service=…&scope=…` with the credentials (Basic)
//!   at the token server it names: 401 invalid; else `GET /v2/` with the token it issues: 200
//!   verified.
//!
//! Both the registry and its token server are named only by the scanned data, so the host policy
//! applies to each ([`super::hosts`]). HTTPS, unless the registry is written `http://…` or listed
//! as `--verify-host=http://HOST[:PORT]` (which allows plain HTTP there); no redirect is followed.
//! Docker Hub's keys (`https://index.docker.io/v1/`, `docker.io`) are probed at its registry API
//! host, `registry-1.docker.io`.

use reqwest::{StatusCode, Url};

use super::hosts::{HostPolicy, Named};
use super::{Checked, Context, Credential, Outcome};
use crate::source::http::Challenge;

/// True for the rules this verifier checks.
pub fn handles(rule_id: &str) -> bool {
    matches!(
        rule_id,
        "docker.config-auth"
            | "docker.config-password"
            | "docker.registry-password"
            | "harbor.robot-account"
    )
}

/// Checks one registry credential.
pub async fn check(context: &Context, credential: &Credential) -> Checked {
    let (user, password) = user_and_password(credential)?;
    let host = credential
        .capture("host")
        .ok_or_else(|| Outcome::unverified("no registry is written next to it"))?;
    let url = version_check_url(&context.options.hosts, host)?;
    let (response, at) =
        super::ask(context, &url, Named::Data, context.client(&url).get(url.clone())).await?;
    if response.status().is_success() {
        return Err(Outcome::unverified(format!(
            "{at}: HTTP {} without credentials: the registry asks for none here",
            response.status().as_u16()
        )));
    }
    if response.status() != StatusCode::UNAUTHORIZED {
        super::judge_usable(&response, &at)?;
    }
    let challenge = response
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|v| v.to_str().ok())
        .map_or(Challenge::Other, Challenge::parse);
    let (request, how) = match challenge {
        Challenge::Bearer { realm, service, scope } => {
            let token =
                token(context, &realm, service.as_deref(), scope.as_deref(), &user, &password)
                    .await?;
            (
                context.client(&url).get(url.clone()).bearer_auth(token),
                "a token from its token server",
            )
        }
        // Basic, or no challenge: docker sends Basic credentials then.
        _ => {
            (context.client(&url).get(url.clone()).basic_auth(&user, Some(&password)), "Basic auth")
        }
    };
    let response = super::send(context, request, &at).await?;
    super::judge_status(&response, &at)?;
    Ok(Outcome::verified(user, format!("{at}: HTTP {} with {how}", response.status().as_u16())))
}

/// The user name and password of the credential: the `user` the rule found beside the secret,
/// or that the engine revealed with it (a docker config's `auth`, base64 of `user:password`).
fn user_and_password(credential: &Credential) -> Result<(String, String), Outcome> {
    let user = credential
        .capture("user")
        .ok_or_else(|| Outcome::unverified("no user name is written next to it"))?;
    if credential.rule_id == "docker.config-auth" {
        // Revealed from base64, so never URL-encoded: a `%` is part of the name.
        return Ok((user.to_owned(), credential.secret.clone()));
    }
    // A robot name written URL-encoded: `robot%24ci+builder`.
    Ok((super::database::unescape(user), credential.secret.clone()))
}

/// `https://HOST/v2/` for the registry written as `host` (a `host[:port]`, or a URL such as a
/// docker config's `https://index.docker.io/v1/` key); plain HTTP when written `http://` or
/// listed so with `--verify-host`.
fn version_check_url(hosts: &HostPolicy, host: &str) -> Result<Url, Outcome> {
    let written = host.trim();
    let lower = written.to_ascii_lowercase();
    let (plain, rest) = match (lower.strip_prefix("http://"), lower.strip_prefix("https://")) {
        (Some(rest), _) => (true, rest),
        (_, Some(rest)) => (false, rest),
        _ => (false, lower.as_str()),
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let authority = match authority {
        "docker.io" | "index.docker.io" | "registry.hub.docker.com" => "registry-1.docker.io",
        other => other,
    };
    let mut url = Url::parse(&format!("https://{authority}/v2/"))
        .map_err(|_| Outcome::unverified(format!("{written:?} is not a registry address")))?;
    if (plain || hosts.plain_http(&url)) && url.set_scheme("http").is_err() {
        return Err(Outcome::unverified(format!("{written:?} is not a registry address")));
    }
    Ok(url)
}

/// A token for the credential from the token server at `realm` (a host named by the registry's
/// answer, so by the scanned data): `Err` invalid when the server refuses the credentials.
async fn token(
    context: &Context,
    realm: &str,
    service: Option<&str>,
    scope: Option<&str>,
    user: &str,
    password: &str,
) -> Result<String, Outcome> {
    #[derive(serde::Deserialize)]
    struct Answer {
        token: Option<String>,
        access_token: Option<String>,
    }
    let url = Url::parse(realm).map_err(|_| {
        Outcome::unverified("the registry names a token server that is not a URL".to_owned())
    })?;
    let query: Vec<(&str, &str)> = [("service", service), ("scope", scope)]
        .into_iter()
        .filter_map(|(k, v)| Some((k, v?)))
        .collect();
    let request =
        context.client(&url).get(url.clone()).query(&query).basic_auth(user, Some(password));
    let (response, at) = super::ask(context, &url, Named::Data, request).await?;
    if response.status() == StatusCode::FORBIDDEN {
        return Err(Outcome::invalid(format!("token server {at}: HTTP 403")));
    }
    super::judge_status(&response, &at)
        .map_err(|o| Outcome { detail: format!("token server {}", o.detail), ..o })?;
    let answer: Answer = super::read_json(response, &at).await?;
    answer
        .token
        .or(answer.access_token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Outcome::unverified(format!("token server {at}: no token in its answer")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_probed_where_docker_would_log_in() {
        let none = HostPolicy::default();
        let at = |policy: &HostPolicy, host: &str| {
            version_check_url(policy, host).map(|u| u.to_string()).map_err(|o| o.detail)
        };
        assert_eq!(at(&none, "harbor.example.com"), Ok("https://harbor.example.com/v2/".into()));
        assert_eq!(
            at(&none, "https://index.docker.io/v1/"),
            Ok("https://registry-1.docker.io/v2/".into())
        );
        assert_eq!(at(&none, "http://10.0.0.5:5000"), Ok("http://10.0.0.5:5000/v2/".into()));
        let plain = HostPolicy::new(["http://127.0.0.1:5000", "127.0.0.1:5001"]);
        assert_eq!(at(&plain, "127.0.0.1:5000"), Ok("http://127.0.0.1:5000/v2/".into()));
        assert_eq!(at(&plain, "127.0.0.1:5001"), Ok("https://127.0.0.1:5001/v2/".into()));
        assert!(at(&none, "bad host").is_err());
    }

    #[test]
    fn robot_names_and_auth_entries_give_the_user() {
        let credential = |rule: &str, secret: &str, user: Option<&str>| Credential {
            rule_id: rule.into(),
            secret: secret.into(),
            captures: user.map(|u| ("user".to_owned(), u.to_owned())).into_iter().collect(),
        };
        let login = |c: &Credential| user_and_password(c).map_err(|o| o.detail);
        // The engine revealed `ci%bot:pa:ss` to the password and the user; the user is taken
        // as revealed, not URL-decoded.
        assert_eq!(
            login(&credential("docker.config-auth", "pa:ss", Some("ci%bot"))),
            Ok(("ci%bot".into(), "pa:ss".into()))
        );
        // An `auth` that did not reveal is reported as stored, with no user beside it.
        let stored = login(&credential("docker.config-auth", "bm90IGEgcGFpcg==", None));
        assert!(stored.is_err_and(|why| why.contains("no user name")));
        assert_eq!(
            login(&credential("harbor.robot-account", "s3cr3t", Some("robot%24ci+builder"))),
            Ok(("robot$ci+builder".into(), "s3cr3t".into()))
        );
        let no_user = login(&credential("docker.registry-password", "s3cr3t", None));
        assert!(no_user.is_err_and(|why| why.contains("no user name")));
    }
}
