//! Tokens whose service documents one read-only `GET` "who am I" call with the token in a header
//! (`Authorization: Bearer TOKEN` unless a row says otherwise), answering the account as JSON and
//! 401 for a token that is not valid: one table row each, written from the service's API
//! documentation.
//! - npm: `GET https://registry.npmjs.org/-/whoami` answers `{"username"}` (what `npm whoami`
//!   asks; <https://docs.npmjs.com/cli/commands/npm-whoami>).
//! - Hugging Face: `GET https://huggingface.co/api/whoami-v2` answers `{"type", "name", "auth":
//!   {"accessToken": {"displayName", "role"}}}` (<https://huggingface.co/docs/hub/api>).
//! - `OpenAI`, Groq and Mistral: `GET /v1/models` (Groq: `/openai/v1/models`), the list of models
//!   the key may use, `{"data": [...]}`; they document no account call
//!   (<https://platform.openai.com/docs/api-reference/models/list>,
//!   <https://console.groq.com/docs/api-reference#models-list>,
//!   <https://docs.mistral.ai/api/#tag/models>).
//! - Replicate: `GET https://api.replicate.com/v1/account`, `{"type", "username", "name"}`
//!   (<https://replicate.com/docs/reference/http#account.get>).
//! - `DigitalOcean`: `GET https://api.digitalocean.com/v2/account`, `{"account": {"email",
//!   "status"}}` (<https://docs.digitalocean.com/reference/api/digitalocean/#tag/Account>).
//! - Vercel: `GET https://api.vercel.com/v2/user`, `{"user": {"username", "email"}}`
//!   (<https://vercel.com/docs/rest-api/reference/endpoints/user/get-the-user>).
//! - Netlify: `GET https://api.netlify.com/api/v1/user`, `{"email", "full_name"}`
//!   (<https://open-api.netlify.com/#tag/user>).
//! - Doppler: `GET https://api.doppler.com/v3/me`, `{"name", "type", "workplace": {"name"}}`
//!   (<https://docs.doppler.com/reference/auth-me>).
//! - Stripe: `GET https://api.stripe.com/v1/account`, `{"id", "email"}`; a restricted key
//!   without the account permission gets 403 (unverified) (<https://docs.stripe.com/api/accounts/retrieve>).
//! - `SendGrid`: `GET https://api.sendgrid.com/v3/scopes`, `{"scopes": [...]}`
//!   (<https://www.twilio.com/docs/sendgrid/api-reference/api-key-permissions/retrieve-a-list-of-scopes-for-which-this-user-has-access>).
//! - Anthropic: `GET https://api.anthropic.com/v1/models` with `x-api-key` and
//!   `anthropic-version: 2023-06-01`, `{"data": [...]}` (<https://docs.anthropic.com/en/api/models-list>).
//! - Datadog: `GET /api/v1/validate` with `DD-API-KEY`, `{"valid": true}`, 403 for a key that is
//!   not valid there. A key belongs to one Datadog site and every other site rejects it, so the
//!   documented sites are asked in turn, US1 (`api.datadoghq.com`) first, until one accepts it
//!   (<https://docs.datadoghq.com/api/latest/authentication/#validate-api-key>).
//! - Discord: `GET https://discord.com/api/v10/users/@me` with `Authorization: Bot TOKEN`, the
//!   bot's user `{"id", "username", "bot"}`
//!   (<https://discord.com/developers/docs/resources/user#get-current-user>).
//! - Cloudflare API tokens: `GET https://api.cloudflare.com/client/v4/user/tokens/verify`,
//!   `{"result": {"id", "status", "expires_on"}}`; a `disabled` or `expired` status is a token
//!   that does not work (<https://developers.cloudflare.com/api/resources/user/subresources/tokens/methods/verify/>).
//!
//! Each row's environment variable replaces the documented host: for tests only.

use serde_json::Value;

use super::hosts::Named;
use super::{Checked, Context, Outcome};

/// How a row's credential travels.
#[derive(Clone, Copy)]
pub enum Auth {
    /// `Authorization: SCHEME TOKEN` (`Bearer`, Discord's `Bot`).
    Scheme(&'static str),
    /// The token alone in this header (`x-api-key`, `DD-API-KEY`).
    Header(&'static str),
}

/// One service.
pub struct Service {
    /// The rules whose secrets it checks.
    pub rules: &'static [&'static str],
    /// The documented API base.
    pub documented: &'static str,
    /// The "who am I" path under it.
    pub path: &'static str,
    /// The endpoint override for tests.
    pub env: &'static str,
    /// The identity in the answer, as the service names it.
    pub identity: fn(&Value) -> Option<String>,
    /// How the token is sent.
    pub auth: Auth,
    /// Other headers the call needs (an API version).
    pub headers: &'static [(&'static str, &'static str)],
    /// The statuses that mean the token was rejected.
    pub rejected: &'static [u16],
    /// Why a token the service answered for does not work (disabled, expired), if it says so.
    pub inactive: fn(&Value) -> Option<String>,
    /// Further documented bases (regional sites), asked in turn while each rejects the token:
    /// a key lives on one site and is rejected by the others.
    pub sites: &'static [&'static str],
}

/// The services, in the order [`service`] looks them up.
pub const SERVICES: &[Service] = &[
    Service {
        rules: &["npm.access-token"],
        documented: "https://registry.npmjs.org",
        path: "-/whoami",
        env: "LEAKHOUND_VERIFY_NPM_URL",
        identity: |v| v["username"].as_str().map(|u| format!("npm user {u}")),
        ..BEARER
    },
    Service {
        rules: &["huggingface.token", "huggingface.org-token"],
        documented: "https://huggingface.co",
        path: "api/whoami-v2",
        env: "LEAKHOUND_VERIFY_HUGGINGFACE_URL",
        identity: |v| {
            let name = v["name"].as_str()?;
            let kind = v["type"].as_str().unwrap_or("account");
            let token = &v["auth"]["accessToken"];
            Some(match (token["displayName"].as_str(), token["role"].as_str()) {
                (Some(token), Some(role)) => format!("{kind} {name} (token {token}, role {role})"),
                _ => format!("{kind} {name}"),
            })
        },
        ..BEARER
    },
    Service {
        rules: &["openai.api-key"],
        documented: "https://api.openai.com",
        path: "v1/models",
        env: "LEAKHOUND_VERIFY_OPENAI_URL",
        identity: |v| models("OpenAI", v),
        ..BEARER
    },
    Service {
        rules: &["groq.api-key"],
        documented: "https://api.groq.com",
        path: "openai/v1/models",
        env: "LEAKHOUND_VERIFY_GROQ_URL",
        identity: |v| models("Groq", v),
        ..BEARER
    },
    Service {
        rules: &["mistral.api-key"],
        documented: "https://api.mistral.ai",
        path: "v1/models",
        env: "LEAKHOUND_VERIFY_MISTRAL_URL",
        identity: |v| models("Mistral", v),
        ..BEARER
    },
    Service {
        rules: &["replicate.api-token"],
        documented: "https://api.replicate.com",
        path: "v1/account",
        env: "LEAKHOUND_VERIFY_REPLICATE_URL",
        identity: |v| {
            let user = v["username"].as_str()?;
            Some(format!("Replicate {} {user}", v["type"].as_str().unwrap_or("account")))
        },
        ..BEARER
    },
    Service {
        rules: &["digitalocean.personal-access-token", "digitalocean.oauth-token"],
        documented: "https://api.digitalocean.com",
        path: "v2/account",
        env: "LEAKHOUND_VERIFY_DIGITALOCEAN_URL",
        identity: |v| {
            let account = &v["account"];
            let email = account["email"].as_str()?;
            Some(format!(
                "DigitalOcean account {email} ({})",
                account["status"].as_str().unwrap_or("?")
            ))
        },
        ..BEARER
    },
    Service {
        rules: &["vercel.token"],
        documented: "https://api.vercel.com",
        path: "v2/user",
        env: "LEAKHOUND_VERIFY_VERCEL_URL",
        identity: |v| {
            let user = &v["user"];
            let name = user["username"].as_str()?;
            Some(format!("Vercel user {name} ({})", user["email"].as_str().unwrap_or("?")))
        },
        ..BEARER
    },
    Service {
        rules: &["netlify.token"],
        documented: "https://api.netlify.com",
        path: "api/v1/user",
        env: "LEAKHOUND_VERIFY_NETLIFY_URL",
        identity: |v| {
            let email = v["email"].as_str()?;
            Some(format!("Netlify user {email} ({})", v["full_name"].as_str().unwrap_or("?")))
        },
        ..BEARER
    },
    Service {
        rules: &["doppler.token"],
        documented: "https://api.doppler.com",
        path: "v3/me",
        env: "LEAKHOUND_VERIFY_DOPPLER_URL",
        identity: |v| {
            let workplace = v["workplace"]["name"].as_str()?;
            let kind = v["type"].as_str().unwrap_or("token");
            Some(format!("Doppler {kind} {} in {workplace}", v["name"].as_str().unwrap_or("?")))
        },
        ..BEARER
    },
    Service {
        rules: &["stripe.secret-key", "stripe.restricted-key", "stripe.test-secret-key"],
        documented: "https://api.stripe.com",
        path: "v1/account",
        env: "LEAKHOUND_VERIFY_STRIPE_URL",
        identity: |v| {
            let id = v["id"].as_str()?;
            Some(format!("Stripe account {id} ({})", v["email"].as_str().unwrap_or("?")))
        },
        ..BEARER
    },
    Service {
        rules: &["sendgrid.api-key"],
        documented: "https://api.sendgrid.com",
        path: "v3/scopes",
        env: "LEAKHOUND_VERIFY_SENDGRID_URL",
        identity: |v| {
            let scopes = v["scopes"].as_array()?;
            Some(format!("SendGrid API key ({} scopes)", scopes.len()))
        },
        ..BEARER
    },
    Service {
        rules: &["anthropic.api-key"],
        documented: "https://api.anthropic.com",
        path: "v1/models",
        env: "LEAKHOUND_VERIFY_ANTHROPIC_URL",
        identity: |v| models("Anthropic", v),
        auth: Auth::Header("x-api-key"),
        headers: &[("anthropic-version", "2023-06-01")],
        ..BEARER
    },
    Service {
        rules: &["datadog.api-key"],
        documented: "https://api.datadoghq.com",
        path: "api/v1/validate",
        env: "LEAKHOUND_VERIFY_DATADOG_URL",
        identity: |v| (v["valid"] == true).then(|| "Datadog API key".to_owned()),
        auth: Auth::Header("DD-API-KEY"),
        rejected: &[401, 403],
        sites: &[
            "https://api.us3.datadoghq.com",
            "https://api.us5.datadoghq.com",
            "https://api.datadoghq.eu",
            "https://api.ap1.datadoghq.com",
            "https://api.ap2.datadoghq.com",
            "https://api.uk1.datadoghq.com",
            "https://api.ddog-gov.com",
            "https://api.us2.ddog-gov.com",
        ],
        ..BEARER
    },
    Service {
        rules: &["discord.bot-token"],
        documented: "https://discord.com",
        path: "api/v10/users/@me",
        env: "LEAKHOUND_VERIFY_DISCORD_URL",
        identity: |v| {
            let name = v["username"].as_str()?;
            let kind = if v["bot"] == true { "bot" } else { "user" };
            Some(format!("Discord {kind} {name} (id {})", v["id"].as_str().unwrap_or("?")))
        },
        auth: Auth::Scheme("Bot"),
        ..BEARER
    },
    Service {
        rules: &["cloudflare.api-token"],
        documented: "https://api.cloudflare.com",
        path: "client/v4/user/tokens/verify",
        env: "LEAKHOUND_VERIFY_CLOUDFLARE_URL",
        identity: |v| {
            let token = &v["result"];
            let id = token["id"].as_str()?;
            let expires = token["expires_on"].as_str().unwrap_or("never");
            Some(format!("Cloudflare API token {id} (expires: {expires})"))
        },
        inactive: |v| {
            let status = v["result"]["status"].as_str()?;
            (status != "active").then(|| format!("the token is {status}"))
        },
        ..BEARER
    },
];

/// The defaults of a row: `Authorization: Bearer`, 401 means rejected, one documented host.
const BEARER: Service = Service {
    rules: &[],
    documented: "",
    path: "",
    env: "",
    identity: |_| None,
    auth: Auth::Scheme("Bearer"),
    headers: &[],
    rejected: &[401],
    inactive: |_| None,
    sites: &[],
};

/// A models list's answer: whose key it is is not said, only how much it may use.
fn models(provider: &str, answer: &Value) -> Option<String> {
    let models = answer["data"].as_array()?;
    Some(format!("{provider} API key ({} models available)", models.len()))
}

/// The index in [`SERVICES`] of the service that checks `rule_id`.
pub fn service(rule_id: &str) -> Option<usize> {
    SERVICES.iter().position(|s| s.rules.contains(&rule_id))
}

/// Checks `token` with `SERVICES[index]`: at its documented base, then at each further site
/// while the token is rejected (none with the test override, which stands for them all).
pub async fn check(context: &Context, index: usize, token: &str) -> Checked {
    let service = &SERVICES[index];
    let sites = if std::env::var_os(service.env).is_some() { &[][..] } else { service.sites };
    let mut rejected = Vec::new();
    for base in std::iter::once(service.documented).chain(sites.iter().copied()) {
        match check_at(context, service, base, token).await {
            Err(Rejected(at)) => rejected.push(at),
            Ok(outcome) => return Ok(outcome),
        }
    }
    Err(Outcome::invalid(rejected.join("; ")))
}

/// A rejection at one base: where, and the status.
struct Rejected(String);

/// One call at `base`: the outcome, or the rejection that sends the check to the next site.
async fn check_at(
    context: &Context,
    service: &Service,
    base: &str,
    token: &str,
) -> Result<Outcome, Rejected> {
    let ask = async {
        let url = super::endpoint(service.env, base, service.path)?;
        let mut request = match service.auth {
            Auth::Scheme(scheme) => context
                .client(&url)
                .get(url.clone())
                .header(reqwest::header::AUTHORIZATION, format!("{scheme} {token}")),
            Auth::Header(name) => context.client(&url).get(url.clone()).header(name, token),
        };
        for (name, value) in service.headers {
            request = request.header(*name, *value);
        }
        super::ask(context, &url, Named::Provider, request).await
    };
    let (response, at) = match ask.await {
        Ok(answer) => answer,
        Err(outcome) => return Ok(outcome),
    };
    let status = response.status().as_u16();
    if service.rejected.contains(&status) {
        return Err(Rejected(format!("{at}: HTTP {status}")));
    }
    Ok(read(service, response, &at).await.unwrap_or_else(|early| early))
}

/// What a usable answer says.
async fn read(service: &Service, response: reqwest::Response, at: &str) -> Checked {
    super::judge_usable(&response, at)?;
    let answer: Value = super::read_json(response, at).await?;
    let identity = (service.identity)(&answer)
        .ok_or_else(|| Outcome::unverified(format!("{at}: unexpected answer: no account named")))?;
    if let Some(why) = (service.inactive)(&answer) {
        // Still named: whose token it was helps whoever cleans up.
        return Ok(Outcome {
            identity: Some(identity),
            ..Outcome::invalid(format!("{at}: {why}"))
        });
    }
    Ok(Outcome::verified(identity, format!("{at}: HTTP 200")))
}
